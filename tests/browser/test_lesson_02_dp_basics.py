"""Lesson 02 in a real browser, as a workshop attendee does it (MEDPRIV_FAST=1).

Run All; move the ε slider of the counting query and see the two noisy-answer distributions and
the e^ε readout follow it; ask the database once more; then the budget lab: it arrives locked
(the notebook spends the whole budget), an instructor resets it, and pressing "Ask" drains the
bar until the dataset locks again, with the reason in words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]  # generous: never fail because a shared machine is slow

NOTEBOOK = "notebooks/02_differential_privacy_basics.ipynb"
EPS = ".medpriv-dp-counting-eps"
FIGURE = ".medpriv-dp-counting-figure"
ANSWER = ".medpriv-dp-counting-answer"
ASK = ".medpriv-dp-counting-ask"
BUDGET = ".medpriv-dp-budget"
BUDGET_ASK = ".medpriv-budget-ask"
BUDGET_RESET = ".medpriv-budget-reset"
BUDGET_STATUS = ".medpriv-budget-status"
BUDGET_MESSAGE = f"{BUDGET} .medpriv-message"
LOCK_WORDS = r"locked|spent; no further"


def test_lesson_02_epsilon_slider_and_budget_lock(lab):
    page = lab.page
    lab.run_lesson(NOTEBOOK, timeout_s=120)
    # MEDPRIV_DATA_DIR reached the kernel: with the 28 px file there, the real cohort is used.
    if lab.server.data_dir and (Path(lab.server.data_dir) / "pneumoniamnist.npz").is_file():
        assert "PneumoniaMNIST train split" in lab.output_text()
    else:
        assert "SYNTHETIC cohort" in lab.output_text()

    # --- the ε slider of the counting query (the notebook left it at ε = 0.20)
    eps_before = lab.slider_readout(EPS)
    figure_before = lab.plot_signature(FIGURE)
    assert f"ε = {eps_before}" in figure_before, "the figure title does not state the slider's ε"
    lab.press_slider(EPS, "ArrowRight", times=10)  # log scale, 0.01 decades per step
    lab.wait_text_changed(f"{EPS} .widget-readout", eps_before)
    eps_after = lab.slider_readout(EPS)
    assert float(eps_after) > float(eps_before), (eps_before, eps_after)
    # The distributions, the band and the e^ε readout are redrawn for the new ε.
    page.wait_for_function(
        "([sel, eps]) => (document.querySelector(sel)?.textContent || '').includes('e^' + eps)",
        arg=[FIGURE, eps_after], timeout=30_000)
    figure_after = lab.plot_signature(FIGURE)
    assert figure_after != figure_before
    assert f"ε = {eps_after}" in figure_after

    # --- one more question to the database: a new noisy answer is drawn
    answer_before = lab.text(ANSWER)
    assert "The database says" in answer_before
    lab.click(ASK)
    lab.wait_text_changed(ANSWER, answer_before)
    assert "The database says" in lab.text(ANSWER)
    lab.snap("lesson02_counting", ".medpriv-dp-counting")
    lab.assert_no_errors("after moving the ε slider and asking")

    # --- the budget: the notebook's five questions locked the dataset
    assert "LOCKED" in lab.text(BUDGET_STATUS)
    assert lab.is_disabled(BUDGET_ASK), "a locked dataset must not offer the Ask button"
    assert lab.text(BUDGET_MESSAGE), "no reason shown for the lock"

    # The instructor resets it; the learner asks until it locks again.
    lab.click(BUDGET_RESET)
    status = lab.wait_text(BUDGET_STATUS, r"Spent ε = 0\.00")
    assert "reset" in lab.text(BUDGET_MESSAGE).lower()
    presses = 0
    while not lab.is_disabled(BUDGET_ASK):
        assert presses < 10, "the budget never locked"
        lab.click(BUDGET_ASK)
        presses += 1
        status = lab.wait_text_changed(BUDGET_STATUS, status)
        if "LOCKED" not in status:
            assert "The database says" in lab.text(BUDGET_MESSAGE)
    assert presses >= 2, "the budget locked after a single question"
    assert "LOCKED" in status
    message = lab.wait_text(BUDGET_MESSAGE, LOCK_WORDS)
    assert "Traceback" not in message and "Something went wrong" not in message, message
    assert "Reset budget" in message, "the lock message does not point to the reset button"
    assert lab.progress_fraction(".medpriv-budget-bar") < 0.02, "the budget bar is not empty"
    lab.snap("lesson02_budget_locked", BUDGET)
    lab.assert_no_errors("after the budget locked")
