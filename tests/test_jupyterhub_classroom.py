"""The classroom's shared privacy budget, on a real JupyterHub (deploy/jupyterhub_config.py).

Without a hub: several processes spend from one classroom ledger at once (never more than the
budget, nothing lost), one is killed in the middle of spending (nothing lost, the file still
verifies), and a learner cannot reset the class's budget.

With a hub (opt-in where configurable-http-proxy is missing; `make test` installs it): JupyterHub
on 127.0.0.1 with the workshop password and one local server per learner; three learners log
in, each runs lesson 02 in a kernel of their own server, then all three ask the classroom lab
questions at once until the budget locks; a second login of the same learner reaches the same
server; a kernel killed mid-spend loses nothing. Peak memory and CPU time of each learner's
kernel are printed (deploy/README.md quotes them).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest

from medpriv_widgets.classroom import (ClassroomLedger, classroom_ledger, open_classroom_ledger,
                                       reset_classroom_budget)
from medpriv_widgets.errors import InvalidParameterError

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "jupyterhub_config.py"
LESSON = REPO / "notebooks" / "02_differential_privacy_basics.ipynb"
USERS = ("amira", "ben", "chen")
BUDGET, PRICE = 5.0, 0.05      # the lesson's classroom lab: 100 questions in all


# --------------------------------------------------------------------------- without a hub
_SPENDER = textwrap.dedent("""
    import sys
    from medpriv_widgets.classroom import classroom_ledger
    from medpriv_widgets.errors import PrivacyBudgetError
    ledger = classroom_ledger(epsilon={budget}, path=sys.argv[1])
    ok = 0
    for i in range(int(sys.argv[2])):
        try:
            ledger.spend({price}, note="question " + str(i))
            ok += 1
            print("spent", flush=True)
        except PrivacyBudgetError:
            pass
    print("answered", ok, flush=True)
""")


def _spenders(path: Path, n_proc: int, each: int) -> list[subprocess.Popen]:
    code = _SPENDER.format(budget=BUDGET, price=PRICE)
    return [subprocess.Popen([sys.executable, "-c", code, str(path), str(each)],
                             stdout=subprocess.PIPE, text=True) for _ in range(n_proc)]


def test_concurrent_learners_never_overspend_and_lose_nothing(tmp_path):
    path = tmp_path / "classroom.sqlite"
    procs = _spenders(path, 3, 40)          # 120 questions asked, 100 affordable
    answered = 0
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0
        answered += int(re.search(r"answered (\d+)", out).group(1))
    ledger = open_classroom_ledger(path)
    assert answered == len(ledger.history) == round(BUDGET / PRICE)
    assert ledger.spent()[0] <= BUDGET * (1 + 1e-9)
    assert ledger.locked


def test_a_process_killed_mid_spend_loses_nothing(tmp_path):
    path = tmp_path / "classroom.sqlite"
    victim = _spenders(path, 1, 10_000)[0]
    confirmed = 0
    while confirmed < 5:                      # let it get going, then kill it mid-loop
        assert victim.stdout.readline().startswith("spent")
        confirmed += 1
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    ledger = open_classroom_ledger(path)      # verifies the whole hash chain
    n = len(ledger.history)
    assert n >= confirmed                     # every confirmed spend is there
    assert ledger.spent()[0] == pytest.approx(n * PRICE)
    survivor = _spenders(path, 1, 3)[0]      # the class carries on with the same budget
    out, _ = survivor.communicate(timeout=120)
    assert "answered 3" in out and len(open_classroom_ledger(path).history) == n + 3


def test_learners_cannot_reset_the_class_budget_but_an_instructor_can(tmp_path, monkeypatch):
    path = tmp_path / "room" / "classroom.sqlite"
    monkeypatch.setenv("MEDPRIV_CLASSROOM_LEDGER", str(path))
    ledger = classroom_ledger(epsilon=1.0)
    assert isinstance(ledger, ClassroomLedger) and ledger.path == path
    ledger.spend(1.0, note="everything")
    assert ledger.locked
    with pytest.raises(InvalidParameterError, match="Only an instructor"):
        ledger.reset(confirm=True)
    assert classroom_ledger(epsilon=99.0).budget == (1.0, 1e-5)   # the stored budget rules
    reset_classroom_budget()
    again = classroom_ledger()
    assert not again.locked and again.remaining()[0] == 1.0
    monkeypatch.delenv("MEDPRIV_CLASSROOM_LEDGER")
    assert classroom_ledger() is None                 # a laptop: the lab makes its own budget


# --------------------------------------------------------------------------- on a hub
def _chp() -> str | None:
    for candidate in (os.environ.get("MEDPRIV_CHP"),
                      str(REPO / ".venv" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"),
                      shutil.which("configurable-http-proxy")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def api(self, path: str, *, method: str = "GET", body=None, token: str | None = None,
            timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"token {token or self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None


def _login(base: str, user: str, password: str):
    """Log in through the hub's login form (xsrf included), as a browser does; the opener."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/hub/login", timeout=30).read().decode()
    xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": xsrf}).encode()
    try:
        opener.open(base + "/hub/login", data=form, timeout=60).read()
    except urllib.error.HTTPError as err:   # the hub answers a wrong password with 403 and words
        page = err.read().decode(errors="replace")
        raise AssertionError(f"{user} was not logged in: " + (
            "the hub said 'Invalid username or password'" if "Invalid" in page else page[:200]))
    assert any(c.name.startswith("jupyterhub-session") or c.name == "jupyterhub-hub-login"
               for c in jar), f"{user} was not logged in"
    return opener


class Kernel:
    """A kernel of a learner's server, driven over its websocket through the hub's proxy."""

    def __init__(self, hub: Hub, user: str, token: str) -> None:
        from tornado import httpclient, websocket
        from tornado.ioloop import IOLoop

        self.loop = IOLoop()
        self.user, self.token, self.hub = user, token, hub
        info = hub.api(f"/user/{user}/api/kernels", method="POST", body={"name": "python3"},
                       token=token, timeout=120)
        self.id = info["id"]
        url = hub.base.replace("http", "ws") + f"/user/{user}/api/kernels/{self.id}/channels"
        request = httpclient.HTTPRequest(url, headers={"Authorization": f"token {token}"},
                                         connect_timeout=60, request_timeout=60)
        self.ws = self.loop.run_sync(lambda: websocket.websocket_connect(request), timeout=120)
        self.pid = int(self.run("import os; print(os.getpid())").strip())

    def send(self, code: str) -> str:
        msg_id = uuid.uuid4().hex
        self.ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": self.user, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        return msg_id

    def wait(self, msg_id: str, *, timeout: float = 600) -> str:
        """Output of request ``msg_id``, once both its reply (shell) and the kernel's 'idle'
        (iopub, after the last output) have arrived: the two channels are not ordered."""
        out, deadline = [], time.monotonic() + timeout
        replied = idle = False
        while not (replied and idle):
            left = deadline - time.monotonic()
            assert left > 0, f"{self.user}: no reply within {timeout} s"
            raw = self.loop.run_sync(self.ws.read_message, timeout=left)
            assert raw is not None, f"{self.user}: the kernel's websocket closed"
            if isinstance(raw, bytes):  # a binary frame: widget buffers, not ours to read
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                raise AssertionError(f"{self.user}: {content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        return "".join(out)

    def run(self, code: str, *, timeout: float = 600) -> str:
        return self.wait(self.send(code), timeout=timeout)

    def usage(self) -> dict:
        """Peak resident memory (MB) and CPU seconds of this kernel process so far."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return {"peak_rss_mb": round(peak, 1), "cpu_seconds": round(cpu, 1)}


@pytest.fixture
def hub(tmp_path):
    pytest.importorskip("jupyterhub", reason="JupyterHub is not installed (requirements-dev.txt)")
    chp = _chp()
    if chp is None:
        pytest.skip("configurable-http-proxy (npm) is not installed: `make test` installs it into "
                    ".venv/chp, or `npm install -g configurable-http-proxy@5.3.0`; set MEDPRIV_CHP "
                    "to its path.")
    port, token = _port(), secrets.token_hex(16)
    config = tmp_path / "test_config.py"
    config.write_text(textwrap.dedent(f"""
        c = get_config()
        load_subconfig({str(CONFIG)!r})
        # the test's own admin token (a service), to start servers and make learners' tokens
        c.JupyterHub.services = [{{"name": "classroom-test", "api_token": {token!r}}}]
        c.JupyterHub.load_roles = [{{"name": "classroom-test", "services": ["classroom-test"],
            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"]}}]
        c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp_path / 'homes' / '{username}')!r}
    """))
    env = dict(os.environ, MEDPRIV_HUB_DIR=str(tmp_path / "state"), MEDPRIV_HUB_PORT=str(port),
               MEDPRIV_HUB_API_PORT=str(_port()), MEDPRIV_PROXY_API_PORT=str(_port()),
               MEDPRIV_CLASSROOM_DIR=str(tmp_path / "classroom"), MEDPRIV_CHP=chp,
               MEDPRIV_WORKSHOP_PASSWORD="test-password", MEDPRIV_FAST="1",
               MEDPRIV_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    log = open(tmp_path / "hub.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    h = Hub(base, token)
    h.ledger = tmp_path / "classroom" / "classroom-budget.sqlite"
    h.log = tmp_path / "hub.log"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "jupyterhub exited:\n" + h.log.read_text()[-4000:]
            try:
                h.api("/hub/api/", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert time.monotonic() < deadline, "hub not up:\n" + h.log.read_text()[-4000:]
                time.sleep(0.5)
        yield h
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _start(hub: Hub, user: str) -> str:
    """Start ``user``'s server through the hub (logging in already started it: then this only
    waits for it); a token for it."""
    if "" not in hub.api(f"/hub/api/users/{user}")["servers"]:
        try:
            hub.api(f"/hub/api/users/{user}/server", method="POST", timeout=120)
        except urllib.error.HTTPError as err:
            if err.code != 400:  # 400: already starting, from the login
                raise
    deadline = time.monotonic() + 180
    while not hub.api(f"/hub/api/users/{user}")["servers"].get("", {}).get("ready"):
        assert time.monotonic() < deadline, f"{user}'s server did not start:\n" + \
            hub.log.read_text()[-4000:]
        time.sleep(1)
    return hub.api(f"/hub/api/users/{user}/tokens", method="POST",
                   body={"note": "classroom test", "expires_in": 3600})["token"]


def _lesson_code() -> list[str]:
    nb = nbformat.read(LESSON, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"
            and "medpriv-exercises" not in c.metadata.get("tags", [])]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_three_learners_on_a_hub_share_one_budget(hub):
    # --- three learners log in with the workshop password; a wrong password is refused
    for user in USERS:
        _login(hub.base, user, "test-password")
    with pytest.raises(AssertionError, match="was not logged in"):
        _login(hub.base, "mallory", "wrong")
    tokens = {u: _start(hub, u) for u in USERS}
    kernels = {u: Kernel(hub, u, tokens[u]) for u in USERS}

    # --- each runs lesson 02 (FAST) in their own kernel: the classroom lab opens the shared file
    for code in _lesson_code():
        ids = {u: k.send(code) for u, k in kernels.items()}
        for u, k in kernels.items():
            k.wait(ids[u])
    notes = {u: k.run("print(classroom_note(shared)); print(shared.path)") for u, k in kernels.items()}
    assert all("CLASSROOM's budget" in n and str(hub.ledger) in n for n in notes.values())
    usage = {u: k.usage() for u, k in kernels.items()}
    print("\nper-seat kernel after lesson 02 (FAST):", json.dumps(usage))

    # --- all three ask at once, more than the budget pays for: it locks at exactly 100
    ask = ("ok = sum(classroom.ask(query_epsilon=%r) is not None for _ in range(45)); print(ok)"
           % PRICE)
    ids = {u: k.send(ask) for u, k in kernels.items()}
    answered = sum(int(kernels[u].wait(ids[u]).strip()) for u in USERS)
    ledger = open_classroom_ledger(hub.ledger)
    assert answered == len(ledger.history) == round(BUDGET / PRICE)
    assert ledger.locked and ledger.spent()[0] <= BUDGET * (1 + 1e-9)
    said = kernels["ben"].run("print(classroom.status.value); print(classroom.messages.text if "
                              "hasattr(classroom.messages, 'text') else '')")
    assert "LOCKED" in said

    # --- a second login of the same learner reaches the same server, nothing restarted
    started = hub.api("/hub/api/users/amira")["servers"][""]["started"]
    second = _login(hub.base, "amira", "test-password")
    page = second.open(hub.base + "/hub/spawn", timeout=120)
    assert "/user/amira/" in page.geturl()
    assert hub.api("/hub/api/users/amira")["servers"][""]["started"] == started
    # the instructor gives the budget back; a kernel killed mid-spend loses nothing
    reset_classroom_budget(path=hub.ledger)
    victim = kernels["chen"]
    victim.send("import time\nfor i in range(100000):\n    classroom.ask(query_epsilon=0.001)\n")
    deadline = time.monotonic() + 120
    while len(open_classroom_ledger(hub.ledger).history) < 5:
        assert time.monotonic() < deadline, "the victim never spent"
        time.sleep(0.2)
    os.kill(victim.pid, signal.SIGKILL)
    after = open_classroom_ledger(hub.ledger)            # the whole chain still verifies
    n = len(after.history)
    assert after.spent()[0] == pytest.approx(n * 0.001)
    assert kernels["amira"].run("print(classroom.ask(query_epsilon=0.5) is not None)").strip() == "True"
    assert len(open_classroom_ledger(hub.ledger).history) == n + 1
    print("per-seat kernel after the questions:",
          json.dumps({u: kernels[u].usage() for u in ("amira", "ben")}))
