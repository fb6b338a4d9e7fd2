"""Shared fixtures: every test gets its own empty cache and download folders."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent

# Property tests draw the same examples on every run (CI must not fail by chance: a random draw
# once found a forged ledger note of the right type that the test wrongly expected refused).
# HYPOTHESIS_PROFILE=explore draws new examples, to look for defects on purpose.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def shared_data_path() -> Path | None:
    """``MEDPRIV_DATA_DIR`` if set, else ``../shared/data`` beside the repo; None when absent."""
    env = os.environ.get("MEDPRIV_DATA_DIR")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (candidate / "pneumoniamnist.npz").is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data_dir() -> Path | None:
    """:func:`shared_data_path` for fixtures of any scope (None when the files are absent)."""
    return shared_data_path()


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """No test reads or writes the user's real caches."""
    monkeypatch.setenv("MEDPRIV_CACHE_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("MEDPRIV_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    monkeypatch.setenv("MEDPRIV_OFFLINE", "1")  # tests that download serve files on 127.0.0.1
    monkeypatch.delenv("MEDPRIV_DEVICE", raising=False)


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    """Path of the shared chest X-ray folder, set as MEDPRIV_DATA_DIR; skips when absent."""
    path = shared_data_path()
    if path is None:
        pytest.skip("../shared/data (the chest X-ray test files) is not present on this machine; "
                    "CI has it. Set MEDPRIV_DATA_DIR to run these tests.")
    monkeypatch.setenv("MEDPRIV_DATA_DIR", str(path))
    return path


@pytest.fixture
def no_data_dir(monkeypatch):
    """No MEDPRIV_DATA_DIR: forces the synthetic fallback when offline."""
    monkeypatch.delenv("MEDPRIV_DATA_DIR", raising=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output readable
        pass


@pytest.fixture
def file_server(tmp_path):
    """Serve ``tmp_path/served`` over real HTTP on 127.0.0.1; yields (folder, base_url)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def pool():
    """160 synthetic training X-rays at 28 px: a small, fast training pool (no data folder)."""
    from medpriv_widgets.data import make_phantoms

    return make_phantoms(n=160, size=28, seed=3)


@pytest.fixture(scope="module")
def test_set():
    """40 synthetic test X-rays at 28 px, patient IDs disjoint from ``pool``."""
    from medpriv_widgets.data import make_phantoms

    return make_phantoms(n=40, size=28, seed=4, split="test", id_start=10_000)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests with one torch thread (tiny convolutions run faster that way)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fast_cache(shared_data, tmp_path_factory, monkeypatch) -> str:
    """A cache holding the 'fast' profile's dashboard stages, built once per test session and
    shared by the membership, profile and dashboard tests; set as MEDPRIV_CACHE_DIR (where the
    widgets' default store looks). Returns the folder."""
    import warnings

    from medpriv_widgets.cache import ResultStore
    from medpriv_widgets.experiments import last_record, run_stages
    from medpriv_widgets.experiments.profiles import profile_stages

    root = tmp_path_factory.getbasetemp() / "medpriv-fast-profile"
    done = root / "complete"
    if not done.exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stages = profile_stages("fast", parts=("membership", "equal_epsilon", "reconstruction"))
            assert last_record(run_stages(stages, cache=ResultStore(root))).finished
        done.write_text("ok")
    monkeypatch.setenv("MEDPRIV_CACHE_DIR", str(root))
    return str(root)
