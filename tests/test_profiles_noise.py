"""The profiles' `sigma` part: σ for every ε of the private-training lab, solved before anyone
moves the slider, stored under the keys the lab itself looks up."""

from __future__ import annotations

import math

import pytest

from medpriv_widgets.cache import ResultStore
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.experiments import last_record, run_stages
from medpriv_widgets.experiments.noise import NoiseForEpsilon, noise_grid
from medpriv_widgets.experiments.profiles import PARTS, PROFILES, profile_stages
from medpriv_widgets.training import DEFAULT_EPSILONS, TrainConfig, fast_config


def test_binder_and_workshop_profiles_solve_sigma_for_every_slider_epsilon():
    for name in ("binder", "workshop"):
        stages = profile_stages(name, parts=("sigma",))
        seeds = PROFILES[name].train_seeds
        assert len(stages) == len(DEFAULT_EPSILONS) * len(seeds)
        assert all(isinstance(s, NoiseForEpsilon) for s in stages)
        assert {s.config.target_epsilon for s in stages} == set(DEFAULT_EPSILONS)
        assert {s.config.size for s in stages} == {64}   # what lesson 03 shows outside FAST
    assert PARTS[0] == "sigma"   # cheap, and what the first slider move needs: first
    # the binder profile's σ stages are among the workshop's (workshop prepares binder)
    workshop = {repr(s.key()) for s in profile_stages("workshop", parts=("sigma",))}
    assert all(repr(s.key()) in workshop for s in profile_stages("binder", parts=("sigma",)))


def test_solved_sigma_answers_the_lab_without_solving_again(monkeypatch, tmp_path):
    from medpriv_widgets.training import loop
    from medpriv_widgets.widgets.private_training import PrivateTrainingLab

    store = ResultStore(tmp_path / "cache")
    config = fast_config()
    stages = noise_grid(base=config, epsilons=(8.0, math.inf))
    assert last_record(run_stages(stages, cache=store)).finished
    plan = stages[0].load(store)
    assert plan.private and 0 < plan.noise_multiplier < 10

    def no_more_solving(**_kwargs):
        raise AssertionError("σ was solved again although it was pre-computed")

    monkeypatch.setattr(loop, "noise_multiplier_for_epsilon", no_more_solving)
    lab = PrivateTrainingLab(config=config, epsilon=8.0, cache=store)
    text = lab.describe(8.0)
    assert f"σ = {plan.noise_multiplier:.3f}" in text
    # a second run of the part reads everything from the cache
    records = list(run_stages(stages, cache=store))
    assert all("cache" in r.message for r in records[:-1] if r.partial.finished)


def test_noise_stage_takes_a_train_config_only():
    with pytest.raises(InvalidParameterError, match="TrainConfig"):
        NoiseForEpsilon({"size": 64})
    with pytest.raises(InvalidParameterError, match="TrainConfig"):
        noise_grid(base=None, epsilons=(1.0,))
    assert NoiseForEpsilon(TrainConfig()).estimate_seconds() < 1   # ∞: nothing to solve
