"""Reconstruction sentences: bounds rounded up, no float dumps, conclusions that follow the
numbers they are given."""

from __future__ import annotations

import re

import pytest

from medpriv_widgets.attacks.reconstruction import one_update_bound
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.explain import (clipping_comparison_statement, format_sigma, format_sigmas,
                                     one_update_statement, run_epsilon_text)
from medpriv_widgets.privacy.bounds import rero_bound


def test_noise_levels_and_epsilons_read_as_numbers_for_people():
    assert format_sigmas([0.0, 6.073259630579806, 1e-4]) == "0, 6.07, 0.0001"
    assert format_sigma(1e-5) == "1e-5"
    assert run_epsilon_text(float("inf")) == "∞ (no guarantee)"
    assert run_epsilon_text(5.5e10) == "more than 100 (no meaningful guarantee)"
    assert run_epsilon_text(2.1013652716430564) == "2.2"  # an upper bound is rounded up
    with pytest.raises(InvalidParameterError):
        format_sigma(-1.0)


@pytest.mark.parametrize("sigma", [0.3, 0.5, 1.0, 2.0, 4.0])
def test_one_update_bound_is_gaussian_dp_rero_and_never_understated(sigma):
    bound = one_update_bound(noise_multiplier=sigma, kappa=0.001)
    assert bound == pytest.approx(rero_bound(kappa=0.001, mu=1.0 / sigma))
    st = one_update_statement(sigma=sigma, kappa=0.001, bound=bound)
    assert st.numbers["reconstructed"] >= 1000 * bound - 1e-9
    assert f"at most {st.numbers['reconstructed']:,} in 1,000" in st.text
    assert not re.search(r"\d\.\d{5,}", st.text)


def test_a_vacuous_bound_says_so_without_a_float_dump():
    st = one_update_statement(sigma=0.1, kappa=0.001,
                              bound=one_update_bound(noise_multiplier=0.1, kappa=0.001))
    assert "does not rule reconstruction out" in st.text and "99.99" not in st.text
    assert one_update_bound(noise_multiplier=0.0, kappa=0.001) == 1.0


@pytest.mark.parametrize("dlg_plain,dlg_clipped,expected", [
    ((26.0, "recognisable"), (5.6, "not recognisable"), "DLG rebuilt the X-ray from the plain"),
    ((21.9, "not recognisable"), (6.2, "not recognisable"), "did not get a recognisable X-ray"),
    ((26.0, "recognisable"), (27.0, "recognisable"), "with and without clipping"),
])
def test_the_clipping_conclusion_follows_its_numbers(dlg_plain, dlg_clipped, expected):
    st = clipping_comparison_statement(dlg_plain=dlg_plain, dlg_clipped=dlg_clipped,
                                       ig_plain=(35.0, "recognisable"),
                                       ig_clipped=(35.3, "recognisable"))
    assert expected in st.text and f"{dlg_plain[0]:.1f} dB" in st.text
    assert "even from the clipped update (35.3 dB, recognisable)" in st.text
