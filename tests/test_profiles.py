"""Profiles: `medpriv precompute --profile fast` builds the dashboards' caches; a second run is
instant; the stage list is what the CLI, the dashboards and these tests all iterate."""

from __future__ import annotations

import math
import time
import warnings

import pytest

from medpriv_widgets.cache import ResultStore
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.experiments import StageUpdate, run_stages
from medpriv_widgets.experiments.membership import (MEMBERSHIP, DPTarget, ShadowModels,
                                                    membership_result)
from medpriv_widgets.experiments.membership.reconstruction import TargetReconstruction
from medpriv_widgets.experiments.profiles import (PROFILES, Profile, check_epsilon,
                                                  membership_settings, profile_stages)

PARTS = ("membership", "equal_epsilon", "reconstruction")


@pytest.mark.slow
def test_fast_profile_builds_everything_and_second_call_is_instant(fast_cache):
    store = ResultStore(fast_cache)
    profile, settings = PROFILES["fast"], membership_settings("fast")
    assert ShadowModels(settings).is_done(store)
    for eps in profile.epsilons:
        assert math.isinf(eps) or DPTarget(settings, eps).is_done(store)
        membership_result(settings, epsilon=eps, cache=store)     # answers from the cache
    for _label, bs, ep in profile.equal_settings:
        assert DPTarget(settings, profile.equal_epsilon, bs, ep).is_done(store)
    for eps in profile.epsilons:
        sweep = TargetReconstruction(settings, eps, profile.reconstruction_iterations).load(store)
        assert sweep is not None and len(sweep.sigmas) == 1
        if math.isinf(eps):
            assert sweep.sigmas == [0.0]
        else:  # the noise of that DP target's own run
            target = membership_result(settings, epsilon=eps, cache=store)
            assert sweep.sigmas[0] == pytest.approx(target.noise_multiplier, rel=1e-9)
    stages = profile_stages("fast", parts=PARTS)
    assert all(s.seconds_left(store) == 0 for s in stages)
    t0 = time.perf_counter()
    records = list(run_stages(stages, cache=store))
    elapsed = time.perf_counter() - t0
    assert records[-1].finished and len(records[-1].partial) == len(stages)
    finished = [r for r in records[:-1] if r.partial.finished]
    assert len(finished) == len(stages)
    assert all("cache" in r.message for r in finished)
    assert elapsed < 20  # generous: the point is "nothing is trained again", not speed


@pytest.mark.slow
def test_equal_epsilon_settings_differ_in_accounting(fast_cache):
    store = ResultStore(fast_cache)
    p, settings = PROFILES["fast"], membership_settings("fast")
    a, b = [membership_result(settings, epsilon=p.equal_epsilon, dp_batch_size=bs, dp_epochs=ep,
                              cache=store) for _l, bs, ep in p.equal_settings]
    assert a.epsilon == b.epsilon
    assert a.sample_rate != b.sample_rate and a.steps != b.steps
    assert a.noise_multiplier != b.noise_multiplier
    assert not math.isclose(a.bound_at(0.01), b.bound_at(0.01), rel_tol=1e-3)


def test_the_workshop_profile_prepares_everything_the_binder_lessons_read():
    # instructors run `medpriv precompute --profile workshop`; outside fast mode the lessons
    # read the binder profile
    workshop = {repr(s.key()) for s in profile_stages("workshop") if not hasattr(s, "config")}
    binder = [s for s in profile_stages("binder") if not hasattr(s, "config")]
    assert binder and all(repr(s.key()) in workshop for s in binder)


def test_the_workshop_profile_trains_the_network_lesson_01_reads(no_data_dir):
    # lesson 01 (FAST off) builds its lab from these settings on the same X-rays: the stage
    # precompute caches must have the very key the lab looks up
    import json
    from pathlib import Path

    from medpriv_widgets.attacks.reidentification import ReidSettings, ReidTraining

    (stage,) = profile_stages("workshop", parts=("reidentification",))
    assert stage.settings == PROFILES["workshop"].reid == ReidSettings(size=64, epochs=8)
    lab_stage = ReidTraining.for_data(stage.settings,
                                      ReidTraining(settings=stage.settings).load_data())
    assert lab_stage.key() == stage.key()
    nb = Path(__file__).resolve().parents[1] / "notebooks" / "01_anonymization_is_not_enough.ipynb"
    code = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"])
    assert "else ReidSettings(size=64, epochs=8)" in code
    assert profile_stages("binder", parts=("reidentification",)) == []


def test_unknown_profile_part_and_off_grid_epsilon_rejected():
    with pytest.raises(InvalidParameterError, match="profile"):
        profile_stages("huge")
    with pytest.raises(InvalidParameterError, match="parts"):
        profile_stages("fast", parts=("everything",))
    # an ε that is not on the grid never becomes another setting (∞ least of all)
    with pytest.raises(InvalidParameterError, match="one of the 'fast' profile's values"):
        check_epsilon(PROFILES["fast"], 3.0)
    assert check_epsilon(PROFILES["fast"], math.inf) == math.inf


def test_benchmark_measures_the_workshop_membership_setting():
    from medpriv_widgets.bench import mia

    workshop = PROFILES["workshop"].membership
    assert mia.settings(quick=False) == workshop == MEMBERSHIP
    assert PROFILES["binder"].membership == workshop   # what notebooks 05 and 07 show
    quick = mia.settings(quick=True)
    assert quick.n_shadows < workshop.n_shadows
    assert quick.n_population < workshop.n_population


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_dp_settings_fit_the_members(profile):
    # Members are half the population: an expected DP batch larger than that would mean q = 1.
    s = PROFILES[profile]
    members = s.membership.n_population // 2
    assert s.membership.dp_batch_size < members
    assert all(bs < members for _label, bs, _ep in s.equal_settings)


def test_a_profile_refuses_an_equal_epsilon_batch_as_large_as_the_members():
    with pytest.raises(InvalidParameterError, match="below the 60 members"):
        Profile(name="x", membership=PROFILES["fast"].membership, epsilons=(1.0,),
                equal_epsilon=1.0, equal_settings=(("too big", 60, 1),), train_seeds=(),
                reconstruction_iterations=1)


@pytest.mark.slow
def test_progress_inside_a_piece_reaches_the_bar(no_data_dir, tmp_path):
    # pieces take minutes in the workshop profile: the bar must move inside each one
    settings = membership_settings("fast").with_(n_population=40, shadow_epochs=4)
    stages = [ShadowModels(settings), DPTarget(settings, 8.0, 8, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = list(run_stages(stages, cache=ResultStore(tmp_path)))
    assert all(isinstance(r.partial, StageUpdate) for r in records[:-1])
    inside = [r for r in records[:-1] if not r.partial.finished]
    assert {r.partial.index for r in inside} == {0, 1}      # progress within both pieces
    fractions = [r.fraction for r in records]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(r.stage.startswith("DP target") and "epoch" in r.message for r in inside)


def test_precompute_cli_prints_the_plan_then_runs(no_data_dir, tmp_path, monkeypatch, capsys):
    from medpriv_widgets.cli import main
    from medpriv_widgets.experiments import profiles

    small = PROFILES["fast"].membership.with_(n_population=40, shadow_epochs=2)
    monkeypatch.setitem(PROFILES, "fast", Profile(
        name="fast", membership=small, epsilons=(math.inf,), equal_epsilon=8.0,
        equal_settings=(), train_seeds=(), reconstruction_iterations=2))
    monkeypatch.setenv("MEDPRIV_CACHE_DIR", str(tmp_path / "c"))
    assert main(["precompute", "--profile", "fast", "--parts", "membership"]) == 0
    out = capsys.readouterr().out
    assert "1 of 1 pieces to compute" in out and "1 of 1 pieces ready" in out
    assert main(["precompute", "--profile", "fast", "--parts", "membership"]) == 0
    assert "0 of 1 pieces to compute" in capsys.readouterr().out
    assert profiles.get_profile("fast").membership == small
