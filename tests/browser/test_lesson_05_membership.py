"""Lesson 05 in a real browser, as a workshop attendee does it (MEDPRIV_FAST=1: the 'fast'
profile, pre-computed by the notebook itself into the session's temporary cache).

Run All; the lab opens on the non-private model; pick the most private model (the smallest ε)
with the "Model" buttons; the ROC figure, the DP bound drawn over it, the table of numbers and
the sentences change to that model, and nothing on the page is a traceback.
"""

from __future__ import annotations

import re

import pytest
from _layout import overflow, raw_output, stretched_images, title_cut

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]  # generous: never fail because a shared machine is slow

NOTEBOOK = "notebooks/05_membership_inference.ipynb"
LAB = ".medpriv-membership"
EPS = ".medpriv-membership-eps"
ROC = ".medpriv-membership-roc"
SUMMARY = ".medpriv-membership-summary"
GALLERY = ".medpriv-membership-gallery"
MESSAGE = f"{LAB} .medpriv-message"


def test_lesson_05_epsilon_changes_the_attack_picture(lab):
    page = lab.page
    lab.run_lesson(NOTEBOOK, timeout_s=240)
    assert "settings profile: fast" in lab.output_text(), "MEDPRIV_FAST did not reach the kernel"
    # The pre-computation went to the session's temporary MEDPRIV_CACHE_DIR, not a user cache.
    assert lab.server.cache_dir and any(p.is_file() for p in lab.server.cache_dir.rglob("*")), (
        "the kernel did not write its cache into the temporary MEDPRIV_CACHE_DIR")

    # The lab opens on the non-private model, answered from the cache: no 'compute first'.
    buttons = page.locator(f"{EPS} button")
    labels = [" ".join(t.split()) for t in buttons.all_text_contents()]
    assert len(labels) >= 2 and "not private" in labels[-1], labels
    assert lab.text(MESSAGE) == "", f"the lab asks for computation: {lab.text(MESSAGE)}"
    roc_before = lab.plot_signature(ROC)
    summary_before = lab.text(SUMMARY)
    assert "not private" in roc_before
    assert "DP bound of this training run" not in roc_before, "a bound drawn for ε = ∞"
    assert "%" in summary_before and "members found" in summary_before
    assert page.locator(f"{GALLERY} img").count() > 0, "no X-rays of exposed patients shown"

    # Pick the most private model.
    eps_label = labels[0]
    eps_value = re.search(r"ε = ([0-9.]+)", eps_label).group(1)
    buttons.first.click()
    roc_after = lab.wait_plot_changed(ROC, roc_before, timeout_s=90)
    summary_after = lab.wait_text_changed(SUMMARY, summary_before)
    assert f"ε = {eps_value} model" in roc_after, "the ROC title does not name the chosen ε"
    assert "DP bound of this training run" in roc_after, "the DP bound is not drawn"
    lab.assert_legend_named(ROC)
    # The table now has a bound column with numbers, and the sentences speak of ε.
    assert summary_after != summary_before
    assert re.search(r"ε\s*=\s*" + re.escape(eps_value), summary_after), summary_after
    assert lab.text(MESSAGE) == "", lab.text(MESSAGE)
    lab.snap("lesson05_private", LAB)
    lab.assert_no_errors("after choosing another ε")

    # --- layout at both ends of the ε choice (the most private, then not private)
    for end in ("most private", "not private"):
        if end == "not private":
            before = lab.plot_signature(ROC)
            buttons.last.click()
            lab.wait_plot_changed(ROC, before, timeout_s=90)
        assert not overflow(page, LAB), (end, overflow(page, LAB))
        assert not title_cut(page, LAB), (end, title_cut(page, LAB))
        assert not raw_output(lab.text(LAB)), (end, raw_output(lab.text(LAB)))
        assert not stretched_images(page, GALLERY), (end, stretched_images(page, GALLERY))
    lab.assert_no_errors("at both ends of the ε choice")
