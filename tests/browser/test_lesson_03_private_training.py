"""Lesson 03 in a real browser, as a workshop attendee does it (MEDPRIV_FAST=1: 28 px, 600
children, 2 epochs, so a training run takes seconds).

Run All (under MEDPRIV_FAST the notebook trains the non-private model and ε = 8 itself); move the ε slider and read the clipping and
noise it implies; press Train and watch the progress until a test AUC appears beside the
non-private one; start another run, press Stop, and check the lab says it stopped and still
trains when asked again.
"""

from __future__ import annotations

import re

import pytest
from _layout import move_slider_to_end, overflow, raw_output, title_cut

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]  # generous: never fail because a shared machine is slow

NOTEBOOK = "notebooks/03_private_training.ipynb"
LAB = ".medpriv-private-training"
SLIDER = ".medpriv-eps-slider"
IMPLIED = ".medpriv-training-implied"
TRAIN = ".medpriv-training-train"
STOP = ".medpriv-training-stop"
STATUS = ".medpriv-training-status"
TABLE = ".medpriv-training-table"
PROGRESS = ".medpriv-training-progress"
MESSAGE = f"{LAB} .medpriv-message"
FINISHED = r"done in|stopped in|answered from the cache"


def _sigma(implied: str) -> float:
    match = re.search(r"noise multiplier σ = ([0-9.]+)", implied)
    assert match, f"the ε readout does not state σ: {implied!r}"
    return float(match.group(1))


def _aucs(table: str) -> list[float]:
    # Table cells run together in textContent; AUCs are printed with three decimals.
    match = re.search(r"Test AUC\s*((?:[01]\.\d{3}\s*)+)", table)
    assert match, f"no test AUC in the results table: {table!r}"
    return [float(x) for x in re.findall(r"[01]\.\d{3}", match.group(1))]


def _move_to_uncached(lab, key: str, before: str) -> str:
    """Press ``key`` on the slider and wait until the readout and the σ/C line follow."""
    lab.press_slider(SLIDER, key)
    readout = lab.wait_text_changed(f"{SLIDER} .widget-readout", before)
    lab.wait_text(IMPLIED, rf"ε = {re.escape(readout)} ")
    return readout


def test_lesson_03_epsilon_train_and_stop(lab):
    lab.run_lesson(NOTEBOOK, timeout_s=180)
    output = lab.output_text()
    from medpriv_widgets.training import fast_config

    fast = fast_config()  # what the notebook shows when the kernel got MEDPRIV_FAST=1
    from medpriv_widgets.explain.numbers import format_count

    # The lab says what it trains on (no TrainConfig printout): the FAST size and count.
    setting = f"{fast.size} × {fast.size} px chest X-rays: {format_count(fast.n_train)} for training"
    assert setting in output, "the notebook did not pick the MEDPRIV_FAST settings"
    assert re.search(r"DP-SGD\s+\(ε = [0-9.]+\)\s+test AUC 0\.\d+", output), output[-2000:]

    # --- the ε slider: the σ/C readout follows it (larger ε, less noise)
    eps_before = lab.slider_readout(SLIDER)
    assert eps_before == "8"
    implied_before = lab.text(IMPLIED)
    assert "clipped to length C =" in implied_before
    eps_after = _move_to_uncached(lab, "ArrowRight", eps_before)
    assert eps_after == "16"
    implied_after = lab.text(IMPLIED)
    assert _sigma(implied_after) < _sigma(implied_before), (implied_before, implied_after)
    # The table still shows the ε = 8 model; the status says this ε has none yet.
    lab.wait_text(STATUS, r"No model for ε = 16 yet: press Train")
    lab.assert_no_errors("after moving the ε slider")

    # --- Train: progress while it runs, then a test AUC beside the non-private model
    lab.watch(STATUS)
    lab.click(TRAIN)
    status = lab.wait_seen(STATUS, FINISHED, timeout_s=120)
    assert status.startswith("done in"), status
    assert any(re.match(r"epoch \d+/\d+ · ε spent", s) for s in lab.seen(STATUS)), (
        f"no progress shown during training: {lab.seen(STATUS)}")
    full = lab.progress_fraction(PROGRESS)
    assert full > 0.95, f"the progress bar is not full after the run ({full:.0%})"
    table = lab.text(TABLE)
    assert re.search(r"This model \(ε = 1[0-9](\.\d+)?\)", table), table
    assert "Not private" in table
    aucs = _aucs(table)
    assert len(aucs) == 2 and all(0.0 <= a <= 1.0 for a in aucs), table
    assert not lab.is_disabled(TRAIN)

    # --- Stop: a new run (ε = 4, not cached) stopped at once says so and the lab keeps working
    eps_stop = _move_to_uncached(lab, "ArrowLeft", eps_after)       # 8 (cached)
    eps_stop = _move_to_uncached(lab, "ArrowLeft", eps_stop)        # 4
    lab.watch(STATUS)
    lab.click(TRAIN)
    lab.click(STOP, timeout_s=20)  # enabled while the run lasts
    status = lab.wait_seen(STATUS, FINISHED, timeout_s=60)
    assert status.startswith("stopped in"), f"{status!r} (seen: {lab.seen(STATUS)})"
    assert "stopping after this batch" in " ".join(lab.seen(STATUS))
    assert "stopped early" in lab.text(TABLE), "the table does not say the model is unfinished"
    assert lab.progress_fraction(PROGRESS) < 0.99, "a stopped run shows a full progress bar"
    assert not lab.is_disabled(TRAIN) and lab.is_disabled(STOP)
    assert not re.search(r"Something went wrong|Traceback", lab.text(MESSAGE))
    lab.snap("lesson03_stopped", LAB)

    stopped_table = lab.text(TABLE)
    lab.watch(STATUS)
    lab.click(TRAIN)
    status = lab.wait_seen(STATUS, FINISHED, timeout_s=120)
    assert status.startswith("done in"), status
    # the status and the table are separate widgets: wait for the table to follow
    table = lab.wait_text_changed(TABLE, stopped_table)
    assert "stopped early" not in table
    assert re.search(rf"This model \(ε = ({eps_stop}|[34])(\.\d+)?\)", table), table
    assert len(_aucs(table)) == 2
    lab.snap("lesson03_trained", LAB)
    lab.assert_no_errors("after training and stopping")

    # --- layout at both ends of the ε slider: nothing cut, nothing raw
    for end in ("min", "max"):
        implied = lab.text(IMPLIED)
        move_slider_to_end(lab, SLIDER, end=end)
        lab.wait_text_changed(IMPLIED, implied)
        assert not overflow(lab.page, LAB), (end, overflow(lab.page, LAB))
        assert not title_cut(lab.page, LAB), (end, title_cut(lab.page, LAB))
        assert not raw_output(lab.text(LAB)), (end, raw_output(lab.text(LAB)))
    lab.assert_no_errors("at the ends of the ε slider")
