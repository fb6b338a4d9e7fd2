"""Each membership dashboard, started from an empty cache, computes what is missing through its
own button: progress moves, Stop stops (nothing half-done is cached), and then results show."""

from __future__ import annotations

import math
import threading
import warnings

import pytest

from medpriv_widgets.cache import ResultStore
from medpriv_widgets.experiments import profiles

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_profile(no_data_dir, monkeypatch):
    """The 'fast' profile shrunk to seconds, on synthetic phantoms (no data folder)."""
    fast = profiles.PROFILES["fast"]
    tiny = profiles.Profile(
        name="fast", membership=fast.membership.with_(n_population=48, shadow_epochs=6),
        epsilons=(8.0, math.inf), equal_epsilon=8.0,
        equal_settings=(("small batches", 4, 1), ("large batches", 16, 2)), train_seeds=(),
        reconstruction_iterations=3)
    monkeypatch.setitem(profiles.PROFILES, "fast", tiny)
    warnings.simplefilter("ignore")
    return tiny


def _stop_after_first_progress(widget, progress) -> None:
    """Press Compute, wait for the bar to move, press Stop, wait for the job to end."""
    moved = threading.Event()
    progress.observe(lambda ch: ch["new"] > 0 and moved.set(), names="value")
    widget.compute_button.click()
    assert moved.wait(120), "the progress bar never moved"
    widget.stop_button.click()
    widget.job.join(120)
    assert not widget.job.running


def test_membership_lab_from_an_empty_cache(tiny_profile, tmp_path):
    from medpriv_widgets.widgets.membership import MembershipLab

    store = ResultStore(tmp_path / "cache")
    lab = MembershipLab(profile="fast", epsilon=8.0, cache=store)
    assert lab.result is None and not lab.compute_button.disabled
    _stop_after_first_progress(lab, lab.progress)
    assert lab.result is None and not lab.compute_button.disabled   # stopped: nothing shown
    assert not lab.shadows.is_done(store)                            # nor cached half-done
    lab.compute(wait=True)                                          # the button's own work
    assert lab.result is not None and lab.result.epsilon == 8.0
    assert lab.compute_button.disabled and lab.message.value == ""
    assert len(lab.figure.data[3].x) > 2 and lab.gallery.children


def test_risk_utility_dashboard_from_an_empty_cache(tiny_profile, tmp_path):
    from medpriv_widgets.widgets.tradeoff import RiskUtilityDashboard

    store = ResultStore(tmp_path / "cache")
    dash = RiskUtilityDashboard(profile="fast", epsilon=8.0, cache=store)
    assert not dash.compute_button.disabled
    assert "Not computed yet" in dash.message.value and "on this machine" in dash.message.value
    _stop_after_first_progress(dash, dash.progress)
    assert "Stopped" in dash.message.value and not dash.compute_button.disabled
    dash.compute(wait=True)
    assert dash.compute_button.disabled and dash.message.value == ""
    assert "Utility" in dash.cards.value and "PSNR" in dash.cards.value
    assert len(dash.figure.data[0].y) == len(dash.epsilons)
    assert "not computed" not in dash.equal_table.value
