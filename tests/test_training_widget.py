"""PrivateTrainingLab: trains through the core, shows results, errors in place."""

from __future__ import annotations

import math

import pytest

from medpriv_widgets.data import make_phantoms
from medpriv_widgets.training import TrainConfig
from medpriv_widgets.widgets.private_training import PrivateTrainingLab


@pytest.fixture
def lab():
    cfg = TrainConfig(size=28, epochs=1, batch_size=32, width=8, lr=3e-3, accountant="rdp")
    return PrivateTrainingLab(config=cfg, epsilons=(2.0, math.inf), epsilon=math.inf,
                              data=make_phantoms(n=160, size=28, seed=1),
                              test_data=make_phantoms(n=60, size=28, seed=2, id_start=5000))


def test_run_fills_curves_and_table_then_answers_from_cache(lab):
    assert "Not private" in lab.implied.value
    lab.run(wait=True)
    assert lab.result is not None and not lab.result.private
    assert len(lab.figure.data[0].x) == 1 and "Test AUC" in lab.table.value
    assert "SYNTHETIC" in lab.table.value
    first = lab.result
    lab.result = None
    lab.slider.value = math.inf
    lab._on_slider(None)  # what a slider move does, synchronously
    assert lab.result is not None and lab.result.test_metrics == first.test_metrics


def test_private_run_shows_sigma_and_reference(lab):
    lab.slider.value = 2.0
    lab._on_slider(None)
    assert "σ" in lab.implied.value and "C = 1" in lab.implied.value
    lab.run(epsilon=2.0, wait=True)
    assert lab.result.private and lab.result.epsilon <= 2.0 * 1.001
    assert lab.reference is not None and not lab.reference.private
    assert "Not private" in lab.table.value


def test_bad_input_shown_in_place(lab):
    lab.run(epsilon=3.0, wait=True)  # not a slider value
    assert "epsilon" in lab.messages.value
    lab.run(wait=True)  # still usable
    assert lab.result is not None
