"""A real user's path: JupyterLab in headless Chromium runs 00_start_here, moves the gallery
slider, and the X-ray on screen changes.

Needs Debian Chromium and Python playwright (skips with a reason otherwise). About a minute on
two cores: most of it is the kernel importing torch.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

NOTEBOOK = "notebooks/00_start_here.ipynb"
IMAGE = "img.medpriv-gallery-image"
SLIDER = ".medpriv-gallery-slider"
IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"

KERNEL_READY = """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
    .some(e => /^(?!No Kernel).+ \\| Idle$/.test(e.textContent.trim()))"""
# A code cell's prompt shows [*] while queued or running and [n] once done.
STARTED = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""

# Bytes of the image a blob: URL points at, so we compare pictures, not just addresses.
_FETCH_BYTES = """async (src) => {
    const buf = await (await fetch(src)).arrayBuffer();
    return Array.from(new Uint8Array(buf));
}"""


def _run_all_cells(page) -> None:
    """Run → Run All Cells, through the menu bar as a user would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def _error_outputs(page) -> list[str]:
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    return [t for t in texts if "Traceback" in t or re.search(r"^\w*Error\b", t, re.M)]


def test_gallery_slider_changes_the_xray(browser_page, lab_server, tmp_path):
    # browser_page first: without Chromium the test skips before a server is started.
    page = browser_page
    try:
        page.goto(lab_server.url(f"lab/tree/{NOTEBOOK}"))
        # The kernel starts by itself (overrides.json: autoStartDefaultKernel) and goes idle.
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
        # The execution indicator says 'idle' even before a kernel exists, so also wait for
        # the status bar to name a connected, idle kernel; Run All before that does nothing.
        page.wait_for_function(KERNEL_READY, timeout=90_000)
        page.wait_for_selector(IDLE, timeout=90_000)

        _run_all_cells(page)
        page.wait_for_function(STARTED, timeout=30_000)

        # The gallery appears once its cell has run; then wait for the whole notebook to finish.
        first = page.locator(IMAGE).first
        first.wait_for(state="visible", timeout=120_000)
        page.wait_for_function(
            """() => [...document.querySelectorAll('.jp-InputArea-prompt')]
                        .every(p => !p.textContent.includes('*'))""", timeout=120_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        assert not _error_outputs(page), f"a cell raised an error: {_error_outputs(page)}"
        assert page.locator(IMAGE).count() >= 2, "expected a normal and a pneumonia image"

        page.wait_for_function(
            f"() => (document.querySelector('{IMAGE}')?.getAttribute('src') || '').length > 0")
        src_before = first.get_attribute("src")
        bytes_before = page.evaluate(_FETCH_BYTES, src_before)
        assert bytes_before[:4] == [0x89, 0x50, 0x4E, 0x47], "the gallery image is not a PNG"
        readout = page.locator(f"{SLIDER} .widget-readout").first
        value_before = readout.inner_text().strip()

        # Move the slider one step: focus the noUiSlider handle and press the right arrow key.
        handle = page.locator(f"{SLIDER} .noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        page.keyboard.press("ArrowRight")

        page.wait_for_function(
            f"(old) => document.querySelector('{IMAGE}').getAttribute('src') !== old",
            arg=src_before, timeout=30_000)
        src_after = first.get_attribute("src")
        assert src_after != src_before
        assert page.evaluate(_FETCH_BYTES, src_after) != bytes_before, (
            "the image address changed but the picture is the same")
        assert readout.inner_text().strip() != value_before, "the slider readout did not move"
        assert not _error_outputs(page)
    except BaseException:
        shot = tmp_path / "jupyterlab_failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failing page: {shot}")
        except Exception as exc:  # the page may be gone; the original error matters more
            print(f"could not save a screenshot: {exc}")
        print("jupyter lab log (tail):\n" + lab_server.log_tail())
        raise
