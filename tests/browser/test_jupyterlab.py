"""A real user's path: JupyterLab in headless Chromium runs 00_start_here, moves the gallery
slider, and the X-ray on screen changes.

Needs Debian Chromium and Python playwright (skips with a reason otherwise). About half a minute
on two cores: most of it is the kernel importing torch. Helpers: ``_lab.py``; fixtures:
``conftest.py``.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]  # generous: never fail because a shared machine is slow

NOTEBOOK = "notebooks/00_start_here.ipynb"
IMAGE = "img.medpriv-gallery-image"
SLIDER = ".medpriv-gallery-slider"

# Bytes of the image a blob: URL points at, so we compare pictures, not just addresses.
_FETCH_BYTES = """async (src) => {
    const buf = await (await fetch(src)).arrayBuffer();
    return Array.from(new Uint8Array(buf));
}"""


def test_gallery_slider_changes_the_xray(lab):
    page = lab.page
    lab.open(NOTEBOOK)
    lab.run_all(timeout_s=150)
    lab.assert_no_errors("after Run All")
    first = page.locator(IMAGE).first
    first.wait_for(state="visible", timeout=30_000)
    assert page.locator(IMAGE).count() >= 2, "expected a normal and a pneumonia image"

    page.wait_for_function(
        f"() => (document.querySelector('{IMAGE}')?.getAttribute('src') || '').length > 0")
    src_before = first.get_attribute("src")
    bytes_before = page.evaluate(_FETCH_BYTES, src_before)
    assert bytes_before[:4] == [0x89, 0x50, 0x4E, 0x47], "the gallery image is not a PNG"
    value_before = lab.slider_readout(SLIDER)

    # Move the slider one step: focus the noUiSlider handle and press the right arrow key.
    lab.press_slider(SLIDER, "ArrowRight")

    page.wait_for_function(
        f"(old) => document.querySelector('{IMAGE}').getAttribute('src') !== old",
        arg=src_before, timeout=30_000)
    src_after = first.get_attribute("src")
    assert src_after != src_before
    assert page.evaluate(_FETCH_BYTES, src_after) != bytes_before, (
        "the image address changed but the picture is the same")
    assert lab.slider_readout(SLIDER) != value_before, "the slider readout did not move"
    lab.assert_no_errors("after moving the slider")
