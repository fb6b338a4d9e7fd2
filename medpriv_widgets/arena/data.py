"""The X-rays of one scenario, loaded once and shared by every stage of a board.

:class:`ScenarioData` holds the population (members and non-members, cut by patient: the
membership experiment's :class:`~medpriv_widgets.experiments.membership.Population`), the
members as one training set, the official test split, and a fingerprint of all of it. Stages
receive it as a field that is not part of their cache key; the fingerprint is, so results on
synthetic phantoms and on real X-rays never share an entry.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError
from ..experiments.membership import ShadowModels, load_test
from .scenarios import Scenario

#: Metadata key of the members' training set: each image's position in the population.
POPULATION_INDEX = "arena_population_index"


@dataclass(frozen=True)
class ScenarioData:
    """Everything a scenario attacks; build it with :func:`scenario_data` (loads lazily, once).

    ``shadows``: the scenario's :class:`ShadowModels` stage (it owns the population).
    """

    scenario: Scenario
    shadows: ShadowModels

    @functools.cached_property
    def population(self):
        """The membership population (N X-rays, members / non-members by patient)."""
        from ..data import SyntheticDataWarning

        with warnings.catch_warnings():
            # synthetic data is said in every caption and figure title instead
            warnings.simplefilter("ignore", SyntheticDataWarning)
            return self.shadows.population

    @functools.cached_property
    def members(self):
        """The members as one ChestXrayData (the undefended target's training set); its
        metadata ``arena_population_index`` gives each image's position in the population."""
        pop = self.population
        data = pop.data.subset(pop.members)
        meta = dict(data.metadata)
        meta[POPULATION_INDEX] = np.asarray(pop.members)
        return dataclasses.replace(data, metadata=meta)

    @functools.cached_property
    def test(self):
        """The official test split (never trained on): utility."""
        from ..data import SyntheticDataWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntheticDataWarning)
            return load_test(self.scenario.membership)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Digest of the population, its member split and the test split."""
        pop = self.population
        h = hashlib.sha256()
        h.update(pop.data.fingerprint.encode())
        h.update(np.asarray(pop.members, dtype=np.int64).tobytes())
        h.update(self.test.fingerprint.encode())
        return h.hexdigest()[:16]

    @property
    def synthetic(self) -> bool:
        return bool(self.population.data.synthetic or self.test.synthetic)

    @property
    def caption(self) -> str:
        return self.population.data.caption

    @property
    def is_member(self) -> np.ndarray:
        """Bool (N,): who the undefended target trained on (scoring only)."""
        return self.population.is_member


def check_scenario_data(data) -> ScenarioData:
    """``data`` after checking it is a :class:`ScenarioData` (InvalidParameterError if not)."""
    if not isinstance(data, ScenarioData):
        raise InvalidParameterError(
            f"`data` must be a scenario's ScenarioData, made with "
            f"scenario_data(get_scenario(name)) (or a board's `.data`); got "
            f"{type(data).__name__}.")
    return data


def scenario_data(scenario: Scenario) -> ScenarioData:
    """The data of ``scenario`` (nothing is loaded until a field is read)."""
    if not isinstance(scenario, Scenario):
        raise InvalidParameterError(f"`scenario` must be a Scenario; got {type(scenario).__name__}.")
    return ScenarioData(scenario=scenario, shadows=ShadowModels(scenario.membership))


__all__ = ["POPULATION_INDEX", "ScenarioData", "check_scenario_data", "scenario_data"]
