"""Lesson 07 in a real browser, as a workshop attendee does it (MEDPRIV_FAST=1: the 'fast'
profile, pre-computed by the notebook itself into the session's temporary cache; when lesson 05
ran first in the same session its shadow models are reused, as in a workshop).

Run All; the dashboard opens on the most private ε; move the ε slider one step; the cards
(utility, membership risk, reconstruction risk), the figure's selected point, the reconstruction
caption and the plain-language sentences follow it, and nothing on the page is a traceback.
"""

from __future__ import annotations

import re

import pytest
from _layout import move_slider_to_end, overflow, raw_output, title_cut

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]  # generous: never fail because a shared machine is slow

NOTEBOOK = "notebooks/07_risk_utility_tradeoff.ipynb"
DASH = ".medpriv-tradeoff"
SLIDER = ".medpriv-tradeoff-eps"
CARDS = ".medpriv-tradeoff-cards"
SENTENCES = ".medpriv-tradeoff-sentences"
FIGURE = ".medpriv-tradeoff-figure"
EQUAL_FIGURE = ".medpriv-tradeoff-equal-figure"
RECON = ".medpriv-tradeoff-recon"
MESSAGE = f"{DASH} .medpriv-message"


def _auc(cards: str) -> float:
    match = re.search(r"AUC ([01]\.\d\d)", cards)
    assert match, f"no AUC on the utility card: {cards!r}"
    return float(match.group(1))


def test_lesson_07_epsilon_slider_moves_the_whole_dashboard(lab):
    lab.run_lesson(NOTEBOOK, timeout_s=240)
    assert "settings profile: fast" in lab.output_text(), "MEDPRIV_FAST did not reach the kernel"

    # Everything was pre-computed by the notebook: no 'not computed yet' anywhere.
    assert lab.text(MESSAGE) == "", f"the dashboard asks for computation: {lab.text(MESSAGE)}"
    eps_before = lab.slider_readout(SLIDER)
    assert re.fullmatch(r"ε = [0-9.]+", eps_before), eps_before
    cards_before, sentences_before = lab.text(CARDS), lab.text(SENTENCES)
    recon_before = lab.text(RECON)
    figure_before = lab.plot_signature(FIGURE)
    assert "Membership risk" in cards_before and "Reconstruction risk" in cards_before
    assert "PSNR" in recon_before, f"no reconstruction shown: {recon_before!r}"
    assert eps_before in sentences_before, "the sentences do not name the chosen ε"
    lab.assert_legend_named(FIGURE)
    lab.assert_legend_named(EQUAL_FIGURE)
    assert len(lab.legend(EQUAL_FIGURE)) == 4, lab.legend(EQUAL_FIGURE)
    lab.snap("lesson07_before", DASH)

    # One step to the right: a larger ε (less privacy).
    lab.press_slider(SLIDER, "ArrowRight")
    eps_after = lab.wait_text_changed(f"{SLIDER} .widget-readout", eps_before)
    cards_after = lab.wait_text_changed(CARDS, cards_before)
    sentences_after = lab.wait_text_changed(SENTENCES, sentences_before)
    figure_after = lab.wait_plot_changed(FIGURE, figure_before)
    assert eps_after != eps_before and figure_after != figure_before
    assert "Utility" in cards_after and 0.0 <= _auc(cards_after) <= 1.0, cards_after
    assert re.search(re.escape(eps_after.replace("not private (ε = ∞)", "not private")),
                     sentences_after), (eps_after, sentences_after)
    assert "Measured on this model" in sentences_after
    assert "PSNR" in lab.text(RECON)
    assert lab.text(MESSAGE) == "", lab.text(MESSAGE)
    lab.assert_legend_named(FIGURE)
    lab.snap("lesson07_after", DASH)
    lab.assert_no_errors("after moving the ε slider")

    # --- layout at both ends of the ε slider: nothing cut, nothing raw
    for end in ("min", "max"):
        before = lab.plot_signature(FIGURE)
        readout = move_slider_to_end(lab, SLIDER, end=end)
        if readout != eps_after:
            lab.wait_plot_changed(FIGURE, before)
        assert not overflow(lab.page, DASH), (end, overflow(lab.page, DASH))
        assert not title_cut(lab.page, DASH), (end, title_cut(lab.page, DASH))
        assert not raw_output(lab.text(DASH)), (end, raw_output(lab.text(DASH)))
        assert lab.text(MESSAGE) == "", (end, lab.text(MESSAGE))
        eps_after = readout
    lab.assert_no_errors("at the ends of the ε slider")
