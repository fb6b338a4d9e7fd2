"""Lesson 02 in a real browser, as a workshop attendee does it (MEDPRIV_FAST=1).

Run All; the counting query's ε slider at its ends (0.05 and 10): the figure's words and axis
follow (no "overlap" where the answers separate, curves not flattened), nothing cut; the
survey's slider shows the class the lesson printed, and at the smallest ε the estimate stays in
0–100 %; the reader's budget lab starts whole, an oversized question is refused and the rest of
the budget is still usable, the last question locks the dataset, with the reason in words.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _layout import move_slider_to_end, overflow, raw_output, title_cut

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]  # generous: never fail because a shared machine is slow

NOTEBOOK = "notebooks/02_differential_privacy_basics.ipynb"
COUNTING = ".medpriv-dp-counting"
EPS = ".medpriv-dp-counting-eps"
FIGURE = ".medpriv-dp-counting-figure"
ANSWER = ".medpriv-dp-counting-answer"
ASK = ".medpriv-dp-counting-ask"
SURVEY = ".medpriv-dp-survey"
BUDGET = ".medpriv-dp-budget"
BUDGET_ASK = f"{BUDGET} .medpriv-budget-ask"
BUDGET_RESET = f"{BUDGET} .medpriv-budget-reset"
BUDGET_STATUS = f"{BUDGET} .medpriv-budget-status"
BUDGET_MESSAGE = f"{BUDGET} .medpriv-message"
QUERY = f"{BUDGET} .medpriv-budget-query"


def _title_epsilon(figure_text: str) -> float:
    m = re.search(r"ε = ([0-9.]+):", figure_text)
    assert m, f"the figure title does not state ε: {figure_text[:300]!r}"
    return float(m.group(1))


def _y_ticks(lab, selector: str) -> list[float]:
    ticks = lab.page.evaluate(
        "(sel) => [...document.querySelectorAll(sel + ' .ytick text')].map(e => e.textContent)",
        selector)
    return [float(t.replace(",", "").replace("−", "-")) for t in ticks if t.strip()]


def test_lesson_02_epsilon_extremes_survey_and_budget(lab):
    page = lab.page
    lab.run_lesson(NOTEBOOK, timeout_s=240)
    output = lab.output_text()
    if lab.server.data_dir and (Path(lab.server.data_dir) / "pneumoniamnist.npz").is_file():
        assert "PneumoniaMNIST train split" in output
    else:
        assert "SYNTHETIC cohort" in output
    assert not raw_output(output), raw_output(output)

    # --- the counting query at the notebook's ε (0.2), then at both ends of the slider
    figure = lab.plot_signature(FIGURE)
    assert abs(_title_epsilon(figure) - float(lab.slider_readout(EPS))) < 0.006
    assert "overlap a lot" in figure
    for end, words in (("max", "hardly overlap"), ("min", "overlap a lot")):
        before = lab.plot_signature(FIGURE)
        readout = move_slider_to_end(lab, EPS, end=end)
        assert float(readout) == pytest.approx(10.0 if end == "max" else 0.05, rel=0.02)
        figure = lab.wait_plot_changed(FIGURE, before, timeout_s=60)
        page.wait_for_function("([sel, w]) => (document.querySelector(sel)?.textContent || '')"
                               ".includes(w)", arg=[FIGURE, words], timeout=60_000)
        assert abs(_title_epsilon(lab.plot_signature(FIGURE)) - float(readout)) < 0.006
        # The y axis follows the two curves: at ε = 10 their peak is 1/(2·0.1) = 5, never the
        # band's 100,000 that flattened them.
        top = max(_y_ticks(lab, FIGURE))
        assert (top < 10) if end == "max" else (top < 0.05), (end, top)
        assert not overflow(page, COUNTING), overflow(page, COUNTING)
        assert not title_cut(page, FIGURE), title_cut(page, FIGURE)
        lab.snap(f"lesson02_counting_{end}", COUNTING)

    answer_before = lab.text(ANSWER)
    lab.click(ASK)
    assert "The database says" in lab.wait_text_changed(ANSWER, answer_before)
    lab.assert_no_errors("after moving the ε slider to both ends and asking")

    # --- the survey shows the class the lesson printed (1,000 students), slider included
    assert lab.slider_readout(f"{SURVEY}-n") == "1000"
    assert "1,000 students" in lab.plot_signature(f"{SURVEY}-figure")
    move_slider_to_end(lab, f"{SURVEY}-eps", end="min")
    summary = lab.text(f"{SURVEY}-summary")
    lab.click(f"{SURVEY}-run")
    summary = lab.wait_text_changed(f"{SURVEY}-summary", summary, timeout_s=60)
    assert "mostly coin flips" in summary, summary
    ticks = page.evaluate("(sel) => [...document.querySelectorAll(sel + ' .xtick text')]"
                          ".map(e => e.textContent)", f"{SURVEY}-figure")
    assert ticks and all(t.endswith("%") and 0 <= float(t[:-1]) <= 100 for t in ticks), ticks
    assert not overflow(page, SURVEY), overflow(page, SURVEY)
    lab.snap("lesson02_survey_min", SURVEY)

    # --- the reader's budget: whole at the start, whatever the cells above spent
    status = lab.text(BUDGET_STATUS)
    assert "LOCKED" not in status and "ε = 1 left" in status, status
    assert not lab.is_disabled(BUDGET_ASK) and lab.slider_readout(QUERY) == "0.25"
    presses = 0
    while not lab.is_disabled(BUDGET_ASK):  # 4 questions of 0.25 spend the budget of 1
        assert presses < 10, "the budget never locked"
        lab.click(BUDGET_ASK)
        presses += 1
        status = lab.wait_text_changed(BUDGET_STATUS, status, timeout_s=60)
        if "LOCKED" not in status:
            assert "The database says" in lab.text(BUDGET_MESSAGE)
    assert presses == 4 and "LOCKED" in status
    message = lab.text(BUDGET_MESSAGE)
    assert "used the last of the budget" in message and "Reset budget" in message, message
    assert lab.progress_fraction(f"{BUDGET} .medpriv-budget-bar") < 0.02
    lab.snap("lesson02_budget_locked", BUDGET)

    # The instructor resets it; an oversized question (3.16 > 1) is refused and locks nothing.
    lab.click(BUDGET_RESET)
    status = lab.wait_text(BUDGET_STATUS, r"Spent ε = 0 of 1")
    assert "reset" in lab.text(BUDGET_MESSAGE).lower()
    assert float(move_slider_to_end(lab, QUERY, end="max")) > 1.0
    lab.click(BUDGET_ASK)
    message = lab.wait_text(BUDGET_MESSAGE, r"stays open", timeout_s=60)
    assert "or less to use it" in message, message
    assert "LOCKED" not in lab.text(BUDGET_STATUS) and "ε = 1 left" in lab.text(BUDGET_STATUS)
    assert not lab.is_disabled(BUDGET_ASK)
    assert not overflow(page, BUDGET), overflow(page, BUDGET)
    lab.snap("lesson02_budget_refused", BUDGET)
    assert not raw_output(lab.output_text()), raw_output(lab.output_text())
    lab.assert_no_errors("after the budget locked, was reset and refused an oversized question")
