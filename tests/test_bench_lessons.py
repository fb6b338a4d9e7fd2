"""`medpriv bench lessons`: found by the CLI, runs a notebook in a fresh kernel with the
environment it is given (FAST off, an empty cache), and reports time, kernel memory and errors."""

from __future__ import annotations

import nbformat
import pytest

from medpriv_widgets.bench import BENCHMARKS
from medpriv_widgets.bench import lessons


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_discovered_with_its_first_docstring_line():
    assert BENCHMARKS["lessons"].startswith("every lesson's Run All (FAST off)")


def test_quick_runs_the_quick_lessons_and_every_lesson_exists():
    names = {p.stem for p in lessons.notebooks_dir().glob("*.ipynb")}
    assert set(lessons.QUICK_LESSONS) <= names


def test_a_notebook_runs_in_a_fresh_kernel_with_the_given_environment(tmp_path):
    nb = _notebook(tmp_path / "probe.ipynb",
                   "import os\nassert 'MEDPRIV_FAST' not in os.environ\n"
                   "assert os.environ['MEDPRIV_CACHE_DIR'].endswith('empty-cache')",
                   "x = bytearray(50 * 2**20)")  # 50 MB: the kernel's peak must show it
    env = {"MEDPRIV_CACHE_DIR": str(tmp_path / "empty-cache"), "PATH": "/usr/bin:/bin"}
    import os

    env = dict(os.environ, **env)
    env.pop("MEDPRIV_FAST", None)
    out = lessons.run_notebook(nb, env=env, timeout_s=300)
    assert out["error"] is None, out
    assert out["seconds"] > 0 and out["kernel_peak_rss_mb"] > 50


def test_a_failing_cell_is_reported_not_raised(tmp_path):
    import os

    nb = _notebook(tmp_path / "broken.ipynb", "raise ValueError('lesson broke')")
    out = lessons.run_notebook(nb, env=dict(os.environ), timeout_s=300)
    assert out["error"] and "lesson broke" in out["error"]


@pytest.mark.slow
def test_quick_benchmark_result_shape(monkeypatch, tmp_path):
    """The JSON a run returns (lessons stubbed: the real ones take minutes)."""
    monkeypatch.setattr(lessons, "lesson_times", lambda names, progress=True: {
        n: {"cold_s": 10.0, "warm_s": 5.0, "kernel_peak_rss_mb": 300.0, "within_target": True,
            "error": None} for n in names})
    res = lessons.run(quick=True, progress=False)
    assert set(res["lessons"]) == set(lessons.QUICK_LESSONS) and res["all_within_target"]
    for key in ("device", "torch_threads", "load_average_1min", "peak_rss_mb", "target_s"):
        assert key in res
    import json

    json.dumps(res)  # serialisable
