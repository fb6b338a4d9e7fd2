"""Fixtures for the real-browser tests: a JupyterLab server on 127.0.0.1 and headless Chromium.

Debian's Chromium (``/usr/bin/chromium``, installed by ``make test`` when possible) is driven by
Python playwright; ``playwright install`` is never needed. Everything skips with a reason when a
piece is missing. The server runs in its own process group on a temporary root folder holding a
copy of the notebooks, so JupyterLab's autosave can never write outputs into the repository.

One server and one Chromium serve all tests of this folder (starting them costs ~10 s) and stop
after its last test; each test gets a fresh browser context and its own JupyterLab workspace
through the ``lab`` fixture (a :class:`_lab.LabSession`), and its kernels are shut down
afterwards. Kernels get
``MEDPRIV_FAST=1``, ``MEDPRIV_OFFLINE=1``, ``MEDPRIV_DATA_DIR`` (when the shared data exist) and a
temporary ``MEDPRIV_CACHE_DIR`` shared by these tests (lessons 05 and 07 read the same
cached experiment, as they would in a workshop). On failure, a screenshot and the server log go
to the test's temporary folder, and also to ``$MEDPRIV_BROWSER_ARTIFACTS`` when set (for CI).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from _lab import LabSession

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# From notes/ECOSYSTEM.md: what headless Chromium needs in a container without GPU or sandbox.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
SERVER_START_TIMEOUT_S = 90


def _chromium_path() -> str | None:
    env = os.environ.get("MEDPRIV_CHROMIUM")
    for candidate in ([env] if env else []) + list(CHROMIUM_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shared_data_dir() -> str | None:
    env = os.environ.get("MEDPRIV_DATA_DIR")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if candidate.is_dir():
            return str(candidate)
    return None


class LabServer:
    """A running ``jupyter lab``: ``url(path)`` gives an authenticated address."""

    def __init__(self, *, root: Path, port: int, token: str, log_path: Path,
                 proc: subprocess.Popen) -> None:
        self.root, self.port, self.token, self.log_path, self.proc = (
            root, port, token, log_path, proc)
        self.base = f"http://127.0.0.1:{port}"
        self.data_dir: str | None = None      # MEDPRIV_DATA_DIR given to the kernels, if any
        self.cache_dir: Path | None = None    # MEDPRIV_CACHE_DIR given to the kernels

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def api(self, path: str, *, method: str = "GET", timeout: float = 5.0):
        req = urllib.request.Request(f"{self.base}/api/{path.lstrip('/')}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return "(no server log)"


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = _chromium_path()
    if path is None:
        pytest.skip("Debian Chromium is not installed (/usr/bin/chromium missing): the "
                    "real-browser test needs it. `make test` installs it when run as root with "
                    "apt; otherwise run `apt-get install -y chromium`.")
    return path


# Server and browser are shared by the tests of this folder only: they are started by the first
# test that needs them and stopped right after the folder's last test (pytest_runtest_teardown
# below), so the unit tests and notebooks that run after them find no Chromium, no server and no
# playwright event loop. (pytest has no directory scope for folders without __init__.py.)
_SHARED: dict = {}
_STACK = contextlib.ExitStack()


def _close_shared() -> None:
    _SHARED.clear()
    _STACK.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield  # the test's own fixtures (kernels, evidence) are torn down first
    if nextitem is None or HERE not in Path(nextitem.path).resolve().parents:
        _close_shared()


def pytest_sessionfinish(session, exitstatus):
    _close_shared()  # interrupted runs too


@pytest.fixture
def lab_server(tmp_path_factory) -> LabServer:
    """JupyterLab on 127.0.0.1 at a free port with a fixed token, shared by this folder's tests."""
    if "server" not in _SHARED:
        pytest.importorskip("jupyterlab", reason="JupyterLab is not installed in this environment")
        _SHARED["server"] = _STACK.enter_context(
            _running_lab_server(tmp_path_factory.mktemp("jupyterlab")))
    server = _SHARED["server"]
    if server.proc.poll() is not None:
        pytest.fail(f"jupyter lab has exited (code {server.proc.returncode}):\n"
                    f"{server.log_tail()}")
    return server


@contextlib.contextmanager
def _running_lab_server(tmp_path: Path):
    """Start ``jupyter lab``, wait until it answers, yield a :class:`LabServer`; always stop it."""
    root = tmp_path / "root"
    shutil.copytree(REPO / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update({
        "MEDPRIV_FAST": "1",
        "MEDPRIV_OFFLINE": "1",
        "MEDPRIV_CACHE_DIR": str(tmp_path / "cache"),
        "MEDPRIV_DOWNLOAD_DIR": str(tmp_path / "downloads"),
        # Ignore the machine's own Jupyter configuration; settings come from jupyterlab_settings/.
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter_config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter_runtime"),
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2"),
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("MEDPRIV_DATA_DIR", None)  # set below only when the folder exists
    data_dir = _shared_data_dir()
    if data_dir is not None:
        env["MEDPRIV_DATA_DIR"] = data_dir  # otherwise the gallery shows synthetic phantoms
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabServerApp.app_settings_dir={REPO / 'jupyterlab_settings'}",
        f"--LabApp.user_settings_dir={tmp_path / 'lab_user_settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'lab_workspaces'}",
        "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root; the server refuses otherwise
    log_path = tmp_path / "jupyter_lab.log"
    log = open(log_path, "wb")
    # Own process group: teardown can signal the server and everything it started at once.
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = LabServer(root=root, port=port, token=token, log_path=log_path, proc=proc)
    server.data_dir, server.cache_dir = data_dir, tmp_path / "cache"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {proc.returncode} before serving:\n"
                            f"{server.log_tail()}")
            try:
                server.api("status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer within {SERVER_START_TIMEOUT_S} s:\n"
                                f"{server.log_tail()}")
                time.sleep(0.3)
        yield server
    finally:
        _shutdown(server)
        log.close()


def _stop_kernels(server: LabServer) -> None:
    """Ask the server to shut down every kernel (best effort)."""
    if server.proc.poll() is not None:
        return
    # Kernels run in their own sessions (jupyter_client), so ask the server to stop them.
    try:
        for kernel in server.api("kernels") or []:
            server.api(f"kernels/{kernel['id']}", method="DELETE", timeout=10)
    except Exception:  # best effort; SIGTERM below also shuts kernels down
        pass


def _shutdown(server: LabServer) -> None:
    """Stop kernels, then the server; escalate to SIGKILL of the process group if needed."""
    proc = server.proc
    if proc.poll() is None:
        _stop_kernels(server)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything left in the group
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture
def _browser(chromium_executable):
    """One headless Chromium (playwright sync API), shared by this folder's tests."""
    if "browser" not in _SHARED:
        sync_api = pytest.importorskip(
            "playwright.sync_api",
            reason="Python playwright is not installed (requirements-dev.txt)")
        pw = _STACK.enter_context(sync_api.sync_playwright())
        browser = pw.chromium.launch(executable_path=chromium_executable, headless=True,
                                     args=CHROMIUM_FLAGS)
        _STACK.callback(browser.close)
        _SHARED["browser"] = browser
    return _SHARED["browser"]


@pytest.fixture
def browser_page(_browser):
    """A fresh page in a fresh browser context (no cookies or storage from other tests)."""
    context = _browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
    finally:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def lab(request, browser_page, lab_server, tmp_path):
    """A :class:`_lab.LabSession`: the learner's page on the session's JupyterLab.

    ``browser_page`` comes first, so without Chromium the test skips before a server starts.
    On failure: screenshot + server log (paths printed); afterwards the test's kernels stop.
    """
    workspace = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-").lower()[:60]
    session = LabSession(page=browser_page, server=lab_server, workspace=workspace,
                         artifacts=tmp_path / "browser")
    try:
        yield session
    finally:
        failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False)
                     for w in ("setup", "call"))
        if failed:
            saved = session.save_evidence(workspace)
            extra = os.environ.get("MEDPRIV_BROWSER_ARTIFACTS")
            if extra:
                Path(extra).mkdir(parents=True, exist_ok=True)
                for path in saved:
                    shutil.copy(path, Path(extra) / path.name)
            print("evidence of the failure: " + ", ".join(map(str, saved)))
            print("jupyter lab log (tail):\n" + lab_server.log_tail())
        _stop_kernels(lab_server)  # the next test starts on a quiet machine
