"""Randomized response with generated surveys (issue 15, items 7-8).

- The spread of repeated surveys of one class is √(p(1−p)/n)/(2p−1), what the lab draws and
  titles (not the larger standard error from the answers).
- Any ε, however small, gives a finite estimate or a sentence, never a division by zero.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.privacy import mechanisms as M

PROPS = settings(database=None, deadline=None, max_examples=60)


@PROPS
@given(st.integers(20, 5000), st.floats(0.05, 8.0), st.floats(0.0, 1.0), st.integers(0, 2**32))
def test_repeated_surveys_spread_as_stated(n, eps, frac, seed):
    p = M.randomized_response_probability(epsilon=eps)
    assume(n * p * (1 - p) >= 5)  # enough flips per survey for a sample std to settle
    s = M.randomized_response_survey(n=n, true_fraction=frac, epsilon=eps, n_repeats=3000,
                                     seed=seed)
    # The std of 3,000 draws of a roughly normal count is within ±10 % of the truth with
    # probability > 0.9999.
    assert np.std(s.repeated_estimates) == pytest.approx(s.repeat_spread, rel=0.1)
    p = s.truth_probability
    assert s.repeat_spread == pytest.approx(math.sqrt(p * (1 - p) / n) / (2 * p - 1), rel=1e-9)


@PROPS
@given(st.floats(min_value=0.0, max_value=1e3), st.lists(st.booleans(), min_size=1, max_size=50))
def test_any_epsilon_gives_a_finite_estimate_or_a_sentence(eps, answers):
    try:
        est, se = M.randomized_response_estimate(np.array(answers), epsilon=eps)
    except InvalidParameterError as exc:
        assert "epsilon" in str(exc) and str(exc).endswith(".")
        assert eps < 1e-300
        return
    assert math.isfinite(est) and math.isfinite(se) and se >= 0
