"""MembershipLab and RiskUtilityDashboard: answer from the cache, say what is missing, never crash."""

from __future__ import annotations

import math

import pytest


pytestmark = pytest.mark.slow


def test_membership_lab_draws_cached_results(fast_cache):  # noqa: F811
    from medpriv_widgets.widgets.membership import MembershipLab

    lab = MembershipLab(profile="fast")
    assert lab.result is not None and lab.compute_button.disabled
    roc, bound = lab.figure.data[3], lab.figure.data[2]
    assert len(roc.x) > 2 and not bound.visible                # not private: no bound drawn
    assert lab.figure.layout.xaxis.type == "log" and lab.figure.layout.yaxis.type == "log"
    assert len(lab.gallery.children) == len(lab.result.vulnerable) > 0
    eps = min(lab.epsilons)
    lab.eps_picker.value = eps
    assert lab.result.epsilon == eps and lab.figure.data[2].visible
    assert "at most" in lab.summary.value                      # the explain sentence
    # The measured curve's 95 % range: drawn, named, around the curve; every trace keeps a name.
    band = lab.figure.data[4]
    assert band.name == "measured curve, 95 % range" and band.visible and band.fill == "toself"
    assert len(band.x) == 2 * len(lab.figure.data[3].x)
    assert all(t.name and not t.name.startswith("trace") for t in lab.figure.data)
    if lab.figure_note.value:                                  # only when above the bound
        assert f"{lab.result.n_members} patients" in lab.figure_note.value
    lab.attack_picker.value = "loss"
    assert lab.figure.data[3].name.startswith("Loss threshold")


def test_membership_lab_says_what_must_be_computed(fast_cache, tmp_path):  # noqa: F811
    from medpriv_widgets.cache import ResultStore
    from medpriv_widgets.widgets.membership import MembershipLab

    lab = MembershipLab(profile="fast", cache=ResultStore(tmp_path / "empty"))
    assert lab.result is None and not lab.compute_button.disabled
    assert "Not computed yet" in lab.message.value and "Compute" in lab.message.value
    assert "on this machine" in lab.message.value               # an estimate, up front
    assert "medpriv precompute --profile fast" in lab.message.value


def test_dashboards_refuse_an_epsilon_off_their_grid(fast_cache):  # noqa: F811
    from medpriv_widgets.errors import InvalidParameterError
    from medpriv_widgets.widgets.membership import MembershipLab
    from medpriv_widgets.widgets.tradeoff import RiskUtilityDashboard

    for make in (MembershipLab, RiskUtilityDashboard):
        with pytest.raises(InvalidParameterError, match="one of the 'fast' profile's values"):
            make(profile="fast", epsilon=3.0)
    dash = RiskUtilityDashboard(profile="fast")
    with pytest.raises(InvalidParameterError, match="epsilon"):
        dash.run(epsilon=5.0)


def test_risk_utility_dashboard_follows_the_slider(fast_cache):  # noqa: F811
    from medpriv_widgets.widgets.tradeoff import RiskUtilityDashboard

    dash = RiskUtilityDashboard(profile="fast", kappa=0.01)
    assert dash.compute_button.disabled and dash.message.value == ""
    assert "Utility" in dash.cards.value and dash.original.value
    assert len(dash.figure.data[0].y) == len(dash.epsilons)
    dash.slider.value = min(dash.epsilons)
    assert "PSNR" in dash.cards.value and "at most" in dash.sentences.value
    assert "not computed" not in dash.equal_table.value and len(dash.equal_figure.data[0].x) > 1
    # Two shaded ranges, kept out of the legend (one entry per curve), and error bars.
    shades = dash.equal_figure.data[4:]
    assert len(shades) == 2 and all(t.showlegend is False and len(t.x) > 2 for t in shades)
    err = dash.figure.data[2].error_y
    assert len(err.array) == len(err.arrayminus) == len(dash.figure.data[2].y)
    assert all(a >= 0 for a in err.array) and all(a >= 0 for a in err.arrayminus)
    dash.slider.value = math.inf
    assert "No formal privacy protection" in dash.sentences.value


def test_dashboard_rejects_bad_kappa(fast_cache):  # noqa: F811
    from medpriv_widgets.errors import InvalidParameterError
    from medpriv_widgets.widgets.tradeoff import RiskUtilityDashboard

    with pytest.raises(InvalidParameterError, match="kappa"):
        RiskUtilityDashboard(profile="fast", kappa=1.0)
