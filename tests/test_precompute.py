"""`medpriv precompute --profile fast` builds the dashboards' caches; a second call is instant."""

from __future__ import annotations

import math
import time
import warnings

import pytest

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.precompute import (PROFILES, membership_experiment, plan,
                                        reconstruction_for_profile, run_precompute)

PARTS = ("membership", "equal_epsilon", "reconstruction")


@pytest.mark.slow
def test_fast_profile_builds_everything_and_second_call_is_instant(fast_cache, capsys):
    exp = membership_experiment("fast")
    settings = PROFILES["fast"]
    assert exp.has_bank()
    for eps in settings["epsilons"]:
        assert exp.has_target(epsilon=eps)
        exp.result(epsilon=eps)                       # answers from the cache
    for _label, bs, ep in settings["equal_settings"]:
        assert exp.has_target(epsilon=settings["equal_epsilon"], dp_batch_size=bs, dp_epochs=ep)
    sweep = reconstruction_for_profile("fast", compute=False)
    assert sweep is not None and len(sweep.sigmas) == len(settings["epsilons"])
    assert all(job.seconds == 0 for job in plan("fast", parts=PARTS))
    t0 = time.perf_counter()
    messages = run_precompute(profile="fast", parts=PARTS, progress=True)
    elapsed = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert "0 of" in out and "pieces to compute" in out        # the up-front estimate
    assert all("read from the cache" in m or "reconstruction" in m for m in messages)
    assert elapsed < 20  # generous: the point is "nothing is trained again", not speed


@pytest.mark.slow
def test_equal_epsilon_settings_differ_in_accounting(fast_cache):
    exp = membership_experiment("fast")
    s = PROFILES["fast"]
    a, b = [exp.result(epsilon=s["equal_epsilon"], dp_batch_size=bs, dp_epochs=ep)
            for _l, bs, ep in s["equal_settings"]]
    assert a.epsilon == b.epsilon
    assert a.sample_rate != b.sample_rate and a.steps != b.steps
    assert a.noise_multiplier != b.noise_multiplier
    assert not math.isclose(a.bound_at(0.01), b.bound_at(0.01), rel_tol=1e-3)


def test_unknown_profile_and_part_rejected():
    with pytest.raises(InvalidParameterError, match="profile"):
        run_precompute(profile="huge")
    with pytest.raises(InvalidParameterError, match="parts"):
        run_precompute(profile="fast", parts=("everything",))


def test_benchmark_measures_the_workshop_membership_setting():
    from medpriv_widgets.bench import mia
    from medpriv_widgets.precompute import MEMBERSHIP

    workshop = PROFILES["workshop"]["membership"]
    assert mia.settings(quick=False) == workshop == MEMBERSHIP
    assert PROFILES["binder"]["membership"] == workshop   # what notebooks 05 and 07 show
    quick = mia.settings(quick=True)
    assert quick["n_shadows"] < workshop["n_shadows"]
    assert quick["n_population"] < workshop["n_population"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_dp_settings_fit_the_members(profile):
    # Members are half the population: an expected DP batch larger than that would mean q = 1.
    s = PROFILES[profile]
    members = s["membership"]["n_population"] // 2
    assert s["membership"]["dp_batch_size"] < members
    assert all(bs < members for _label, bs, _ep in s["equal_settings"])


@pytest.mark.slow
def test_progress_inside_a_piece_reaches_the_bar(fast_cache):
    # pieces take minutes in the workshop profile: the bar's note must move in between
    from medpriv_widgets.precompute import _run_jobs

    notes: list[str] = []
    finished = list(_run_jobs("fast", ("membership", "equal_epsilon"), 0, None, note=notes.append))
    assert finished and len(notes) >= len(finished)
    assert any(n.startswith("equal ε") and n.endswith("%") for n in notes)
