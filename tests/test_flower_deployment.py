"""Flower's deployment engine runs lesson 06's hospitals and server: a SuperLink and three
SuperNodes on 127.0.0.1 (no simulation engine), ``flwr run`` of the app in
``medpriv_widgets/federated/flower_app``, and the global model's result written by the ServerApp.

Skipped, with the reason, when Flower (``medpriv_widgets[flower]``, pinned in
requirements-dev.txt) is not installed. Everything binds to 127.0.0.1 on free ports; every
process started here is stopped by its own id.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

flwr = pytest.importorskip("flwr", reason="Flower is not installed: pip install "
                                          "'medpriv_widgets[flower]' (CI installs it from "
                                          "requirements-dev.txt)")

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"`{name}` (installed with flwr) is not on PATH")
        return found
    return str(path)


@pytest.fixture
def deployment(tmp_path):
    """A SuperLink and three SuperNodes (partition-id 0, 1, 2) on 127.0.0.1."""
    home = tmp_path / "flwr-home"
    home.mkdir()
    # Flower 1.41 serves its Control, Fleet and Runtime APIs over HTTP on one port
    port = _free_port()
    (home / "config.toml").write_text(
        '[superlink]\ndefault = "local-deployment"\n\n'
        f'[superlink.local-deployment]\naddress = "127.0.0.1:{port}"\ninsecure = true\n')
    env = dict(os.environ, FLWR_HOME=str(home), MEDPRIV_OFFLINE="1", OMP_NUM_THREADS="1",
               FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
               MEDPRIV_CACHE_DIR=str(tmp_path / "cache"), PYTHONUNBUFFERED="1",
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    procs, logs = [], []

    def start(name: str, args: list[str]) -> None:
        log = open(tmp_path / f"{name}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))

    start("superlink", [_tool("flower-superlink"), "--insecure",
                        "--disable-runtime-dependency-installation",
                        "--host", "127.0.0.1", "--port", str(port),
                        "--database", str(tmp_path / "state.db")])
    for k in range(3):
        start(f"supernode-{k}", [_tool("flower-supernode"), "--insecure",
                                 "--superlink", f"127.0.0.1:{port}",
                                 "--host", "127.0.0.1", "--port", str(_free_port()),
                                 "--node-config", f"partition-id={k}"])
    try:
        yield env, tmp_path
    finally:
        for p in procs:  # our own processes (and what they started), by their group id
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        for log in logs:
            log.close()


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in sorted(folder.glob("*.log")))


def test_three_hospitals_train_through_flowers_deployment_engine(deployment):
    from medpriv_widgets.federated.flower import app_dir

    env, folder = deployment
    result = folder / "result.json"
    cmd = [_tool("flwr"), "run", str(app_dir()), "local-deployment", "--run-config",
           f'num-server-rounds=2 local-steps=3 data="synthetic" num-sites=3 '
           f'result-path="{result}"']
    deadline = time.monotonic() + 60
    while True:  # the SuperLink takes a few seconds to listen
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if out.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert out.returncode == 0, f"flwr run failed:\n{out.stdout}\n{out.stderr}\n{_logs(folder)}"
    deadline = time.monotonic() + 400
    while not result.exists() and time.monotonic() < deadline:
        time.sleep(2)
    assert result.exists(), f"the ServerApp wrote no result:\n{_logs(folder)}"
    report = json.loads(result.read_text())
    assert report["rounds"] == 2 and report["sites"] == 3
    assert [h.get("hospitals") for h in report["history"]] == [3, 3], report["history"]
    assert 0.0 <= report["test_metrics"]["auc"] <= 1.0
