"""Lesson 02 widgets: they draw what the core computes and show bad input in place."""

from __future__ import annotations

import numpy as np
import pytest

from medpriv_widgets.privacy import mechanisms as M
from medpriv_widgets.privacy.ledger import PrivacyLedger
from medpriv_widgets.widgets.dp_basics import (BudgetLab, CountingQueryLab,
                                               RandomizedResponseLab, cohort_labels)

LABELS = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0] * 5)


def test_counting_lab_draws_core_distributions_and_answers():
    lab = CountingQueryLab(labels=LABELS, epsilon=1.0, seed=3)
    assert lab.target_index == 1 and lab.counts == {"D": 25, "D′": 24}
    nd = M.neighbour_distributions(value_d=25, value_d_prime=24, epsilon=1.0)
    np.testing.assert_allclose(lab.fig.data[2].y, nd.density_d)
    np.testing.assert_allclose(lab.fig.data[3].y, nd.density_d_prime)
    assert "2.72" in lab.fig.layout.annotations[0].text  # e^1 made visible
    a = lab.ask()
    assert a == CountingQueryLab(labels=LABELS, epsilon=1.0, seed=3).ask()  # seeded
    assert lab.fig.data[4].x == (a, a)
    lab.set_dataset("D′")
    lab.set_epsilon(0.1)
    assert lab.eps_slider.value == pytest.approx(0.1)
    assert "1.11" in lab.fig.layout.annotations[0].text
    assert lab.ask() is not None and len(lab.answers) == 2


def test_counting_lab_shows_bad_epsilon_in_place():
    lab = CountingQueryLab(labels=LABELS, epsilon=1.0, seed=0)
    lab.set_epsilon(-1.0)
    assert "epsilon" in lab.messages.value and lab.epsilon == 1.0
    lab.set_epsilon(float("nan"))
    assert "NaN" in lab.messages.value
    lab.set_epsilon(2.0)  # and it keeps working
    assert lab.messages.value == "" and lab.distributions.epsilon == pytest.approx(2.0)


def test_survey_lab_estimate_and_spread():
    lab = RandomizedResponseLab(n=200, true_fraction=0.3, epsilon=1.0, n_repeats=300, seed=1)
    s = lab.run()
    assert s.answers.size == 200 and len(lab.fig.data[0].x) == 300
    assert "± " in lab.summary.value and "truth 30%" in lab.summary.value
    assert lab.run(epsilon=0.0) is None and "epsilon" in lab.messages.value
    assert lab.run(epsilon=3.0).std_error < s.std_error


def test_budget_lab_drains_then_locks_then_instructor_resets(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.json", epsilon=1.0, delta=1e-5, dataset="cohort",
                           institution="classroom")
    lab = BudgetLab(ledger=ledger, query_epsilon=0.3, labels=LABELS, seed=0)
    assert lab.bar.value == 1.0
    answers = [lab.ask() for _ in range(3)]
    assert all(a is not None for a in answers)
    assert lab.bar.value == pytest.approx(0.1)
    assert lab.ask() is None  # 4 × 0.3 > 1: refused, dataset locked
    assert "locked" in lab.messages.value and ledger.locked
    assert lab.ask_button.disabled
    assert lab.ask() is None
    assert "is locked: no further questions or training" in lab.messages.value
    lab.reset()  # from code, without confirm: refused, shown in place
    assert "instructor" in lab.messages.value and ledger.locked
    lab.reset(confirm=True)
    assert not ledger.locked and lab.bar.value == 1.0 and not lab.ask_button.disabled
    assert lab.ask(query_epsilon=-1) is None and "epsilon" in lab.messages.value


def test_budget_lab_default_ledger_is_private_to_the_lab():
    a, b = BudgetLab(labels=LABELS), BudgetLab(labels=LABELS)
    assert a.ledger.path != b.ledger.path


def test_cohort_labels_from_shared_data(shared_data):
    labels, caption, synthetic = cohort_labels()
    assert labels.ndim == 1 and set(np.unique(labels)) <= {0, 1}
    assert not synthetic and "train" in caption
