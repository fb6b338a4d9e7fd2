"""Code-free mode: lesson 02 as a Voila dashboard in a real browser (MEDPRIV_FAST=1).

`medpriv serve` copies the lessons without their exercise cells and serves them with Voila; the
page shows text, figures and working widgets and no code. Here: the dashboard renders, no code
and no exercise is on the page, the counting lab's ε slider redraws its figure, and the
classroom budget lab answers a question.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from _lab import LabSession
from conftest import _free_port, _shared_data_dir

from medpriv_widgets.serve import prepare, voila_command

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

LESSON = "02_differential_privacy_basics.ipynb"
EPS = ".medpriv-dp-counting-eps"
FIGURE = ".medpriv-dp-counting-figure"


class VoilaServer:
    def __init__(self, base: str, log_path: Path) -> None:
        self.base, self.log_path = base, log_path
        self.data_dir = None

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def log_tail(self, n_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return "(no voila log)"


@pytest.fixture
def voila(tmp_path, chromium_executable):
    folder = tmp_path / "dashboards"
    prepare(folder)
    port = _free_port()
    env = dict(os.environ, MEDPRIV_FAST="1", MEDPRIV_OFFLINE="1",
               MEDPRIV_CACHE_DIR=str(tmp_path / "cache"),
               MEDPRIV_LEDGER_DIR=str(tmp_path / "ledgers"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter_config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter_runtime"), OMP_NUM_THREADS="1")
    env.pop("MEDPRIV_CLASSROOM_LEDGER", None)
    data = _shared_data_dir()
    if data:
        env["MEDPRIV_DATA_DIR"] = data
    log_path = tmp_path / "voila.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(voila_command(folder, port=port), cwd=folder, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    server = VoilaServer(f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "voila exited:\n" + server.log_tail()
            try:
                urllib.request.urlopen(server.base + "/", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert time.monotonic() < deadline, "voila did not answer:\n" + server.log_tail()
                time.sleep(0.3)
        yield server
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_lesson_02_as_a_code_free_dashboard(voila, browser_page, tmp_path):
    page = browser_page
    lab = LabSession(page=page, server=voila, workspace="voila", artifacts=tmp_path / "browser")
    try:
        page.goto(voila.url(f"voila/render/{LESSON}"), timeout=120_000)
        # Voila runs the whole lesson before it shows the widgets: generous on a busy machine.
        lab.widget(".medpriv-dp-budget").wait_for(state="visible", timeout=600_000)
        text = page.locator("body").inner_text()
        assert "Differential privacy" in text and "Learning objectives" in text
        # code-free: no code cell input, no Python on the page, no exercise
        assert page.locator(".jp-InputArea-editor, .CodeMirror, .cm-editor").count() == 0
        assert "from medpriv_widgets" not in text and "import " not in text
        assert "Exercise 02-" not in text and "answer_02_" not in text
        assert "The classroom's budget" in text and "yours alone" in text
        lab.assert_no_errors("after the dashboard rendered")

        # the controls work: the ε slider moves, the database answers again
        eps_before = lab.slider_readout(EPS)
        lab.press_slider(EPS, "ArrowRight", times=10)
        lab.wait_text_changed(f"{EPS} .widget-readout", eps_before)
        assert float(lab.slider_readout(EPS)) > float(eps_before)
        answer = lab.text(".medpriv-dp-counting-answer")
        lab.click(".medpriv-dp-counting-ask")
        lab.wait_text_changed(".medpriv-dp-counting-answer", answer)
        assert "The database says" in lab.text(".medpriv-dp-counting-answer")

        # the classroom budget lab (the second budget lab on the page) answers a question
        status = page.locator(".medpriv-budget-status").nth(1)
        said = " ".join(status.text_content().split())
        page.locator(".medpriv-budget-ask").nth(1).click()
        page.wait_for_function(
            "([old]) => { const e = document.querySelectorAll('.medpriv-budget-status')[1];"
            " return !!e && e.textContent.replace(/\\s+/g, ' ').trim() !== old; }",
            arg=[said], timeout=60_000)
        message = " ".join(page.locator(".medpriv-dp-budget").nth(1).text_content().split())
        assert re.search(r"The database says", message), message
        lab.assert_no_errors("after using the widgets")
    except Exception:
        lab.save_evidence("voila-lesson-02")
        print("voila log:\n" + voila.log_tail())
        raise


def test_lesson_02_figure_redraws_in_voila(voila, browser_page, tmp_path):
    page = browser_page
    lab = LabSession(page=page, server=voila, workspace="voila", artifacts=tmp_path / "browser")
    page.goto(voila.url(f"voila/render/{LESSON}"), timeout=120_000)
    lab.widget(".medpriv-dp-budget").wait_for(state="visible", timeout=600_000)
    page.wait_for_function(
        f"() => !!document.querySelector({FIGURE!r} + ' .scatterlayer path')", timeout=60_000)
    before = lab.plot_signature(FIGURE)
    lab.press_slider(EPS, "ArrowRight", times=10)
    lab.wait_plot_changed(FIGURE, before)
