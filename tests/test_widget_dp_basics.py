"""Lesson 02 widgets: they draw what the core computes and show bad input in place."""

from __future__ import annotations

import numpy as np
import pytest

from medpriv_widgets.privacy import mechanisms as M
from medpriv_widgets.privacy.ledger import PrivacyLedger
from medpriv_widgets.widgets.dp_basics import (BudgetLab, CountingQueryLab,
                                               RandomizedResponseLab, cohort_labels, fresh_ledger)

LABELS = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0] * 5)


def test_counting_lab_draws_core_distributions_and_answers():
    lab = CountingQueryLab(labels=LABELS, epsilon=1.0, seed=3)
    assert lab.target_index == 1 and lab.counts == {"D": 25, "D′": 24}
    nd = M.neighbour_distributions(value_d=25, value_d_prime=24, epsilon=1.0)
    np.testing.assert_allclose(lab.fig.data[2].y, nd.density_d)
    np.testing.assert_allclose(lab.fig.data[3].y, nd.density_d_prime)
    assert "e<sup>ε</sup> = 2.8" in lab.fig.layout.annotations[0].text  # e^1, rounded up
    a = lab.ask()
    assert a == CountingQueryLab(labels=LABELS, epsilon=1.0, seed=3).ask()  # seeded
    assert lab.fig.data[4].x == (a, a)
    lab.set_dataset("D′")
    lab.set_epsilon(0.1)
    assert lab.eps_slider.value == pytest.approx(0.1)
    assert "= 1.2<br>" in lab.fig.layout.annotations[0].text  # e^0.1 = 1.105, rounded up
    assert lab.ask() is not None and len(lab.answers) == 2


def test_counting_lab_shows_bad_epsilon_in_place():
    lab = CountingQueryLab(labels=LABELS, epsilon=1.0, seed=0)
    lab.set_epsilon(-1.0)
    assert "epsilon" in lab.messages.value and lab.epsilon == 1.0
    lab.set_epsilon(float("nan"))
    assert "NaN" in lab.messages.value
    lab.set_epsilon(2.0)  # and it keeps working
    assert lab.messages.value == "" and lab.distributions.epsilon == pytest.approx(2.0)


@pytest.mark.parametrize("epsilon, verdict", [(0.05, "overlap a lot"), (1.0, "overlap a lot"),
                                               (2.0, "only in part"), (10.0, "hardly overlap")])
def test_counting_lab_words_and_axis_follow_epsilon(epsilon, verdict):
    """At ε = 10 the curves are far apart: the title must not say they overlap, and the y axis
    follows the curves (the band's top, e^10 × the curve, would flatten them)."""
    lab = CountingQueryLab(labels=LABELS, epsilon=epsilon, seed=0)
    nd = lab.distributions
    assert verdict in lab.fig.layout.title.text
    top = max(nd.density_d.max(), nd.density_d_prime.max())
    assert lab.fig.layout.yaxis.range[1] == pytest.approx(1.15 * top)
    assert max(lab.fig.data[0].y) <= lab.fig.layout.yaxis.range[1] + 1e-12
    assert "e^" not in lab.fig.layout.title.text + lab.fig.layout.annotations[0].text


def test_survey_lab_controls_show_the_survey_on_screen():
    lab = RandomizedResponseLab(n=30, true_fraction=0.3, epsilon=1.0, n_repeats=300, seed=1)
    lab.run(n=1000)
    assert lab.n_slider.value == 1000 and lab.survey.answers.size == 1000
    assert "1,000 students" in lab.fig.layout.title.text
    # Tiny ε: the estimate is mostly noise; shown inside 0–100 % with an axis that stays there.
    s = lab.run(epsilon=0.11, n=30)
    assert lab.eps_slider.value == pytest.approx(0.11) and lab.n_slider.value == 30
    assert tuple(lab.fig.layout.xaxis.range) == (-0.02, 1.02)
    assert 0.0 <= min(lab.fig.data[0].x) and max(lab.fig.data[0].x) <= 1.0
    assert "mostly coin flips" in lab.summary.value
    assert 0.0 <= lab.statement.numbers["shown"] <= 1.0
    if not 0.0 <= s.estimate <= 1.0:
        assert "a share cannot be outside" in lab.summary.value
    # A bad value changes nothing.
    assert lab.run(n=0) is None and lab.n_slider.value == 30 and "`n`" in lab.messages.value


def test_survey_lab_estimate_and_spread():
    lab = RandomizedResponseLab(n=200, true_fraction=0.3, epsilon=1.0, n_repeats=300, seed=1)
    s = lab.run()
    assert s.answers.size == 200 and len(lab.fig.data[0].x) == 300
    assert "percentage points" in lab.summary.value and "truth 30%" in lab.summary.value
    assert lab.run(epsilon=0.0) is None and "epsilon" in lab.messages.value
    assert lab.run(epsilon=3.0).std_error < s.std_error


def test_budget_lab_drains_then_locks_then_instructor_resets(tmp_path):
    ledger = PrivacyLedger(tmp_path / "l.json", epsilon=1.0, delta=1e-5, dataset="cohort",
                           institution="classroom")
    lab = BudgetLab(ledger=ledger, query_epsilon=0.3, labels=LABELS, seed=0)
    assert lab.bar.value == 1.0 and "ε = 1 left" in lab.status.value
    answers = [lab.ask() for _ in range(3)]
    assert all(a is not None for a in answers)
    assert lab.bar.value == pytest.approx(0.1)
    # An oversized question is refused; the 0.1 left stays usable, and the lab says how.
    assert lab.ask() is None
    assert "stays open" in lab.messages.value and "to 0.1 or less" in lab.messages.value
    assert not ledger.locked and not lab.ask_button.disabled
    assert lab.bar.value == pytest.approx(0.1) and "ε = 0.1 left" in lab.status.value
    # The question that uses the budget up is answered, and locks the dataset.
    assert lab.ask(query_epsilon=0.1) is not None
    assert ledger.locked and lab.ask_button.disabled and lab.bar.value == 0.0
    assert "used the last of the budget" in lab.messages.value and "LOCKED" in lab.status.value
    assert lab.ask() is None
    assert "is locked: no further questions or training" in lab.messages.value
    assert "Reset budget" in lab.messages.value
    lab.reset()  # from code, without confirm: refused, shown in place
    assert "instructor" in lab.messages.value and ledger.locked
    lab.reset(confirm=True)
    assert not ledger.locked and lab.bar.value == 1.0 and not lab.ask_button.disabled
    assert lab.ask(query_epsilon=-1) is None and "epsilon" in lab.messages.value


def test_budget_lab_starts_whole_whatever_other_ledgers_spent():
    steward = fresh_ledger(epsilon=1.0, institution="demo hospital")
    steward.spend(1.0, note="all of it")
    assert steward.locked
    lab = BudgetLab(labels=LABELS)
    assert lab.ledger.path != steward.path and not lab.ledger.locked
    assert lab.bar.value == 1.0 and not lab.ask_button.disabled and lab.messages.value == ""


def test_budget_lab_default_ledger_is_private_to_the_lab():
    a, b = BudgetLab(labels=LABELS), BudgetLab(labels=LABELS)
    assert a.ledger.path != b.ledger.path


def test_cohort_labels_from_shared_data(shared_data):
    labels, caption, synthetic = cohort_labels()
    assert labels.ndim == 1 and set(np.unique(labels)) <= {0, 1}
    assert not synthetic and "train" in caption
