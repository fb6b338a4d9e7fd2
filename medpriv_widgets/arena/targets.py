"""A defended target as a stage: one defence trained on one scenario's members, cached.

::

    data = scenario_data(get_scenario("pneumonia-28"))
    stage = DefendedTarget(data.scenario, get_defence("dpsgd-eps8"), data=data)
    model = stage.result(cache=store)          # a DefendedModel; trained once
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import InvalidParameterError
from ..experiments.stage import Stage
from ..progress import Progress
from .data import ScenarioData, scenario_data
from .defences import Defence
from .scenarios import Scenario


@dataclass(frozen=True)
class DefendedTarget(Stage):
    """Train (or read) ``defence`` on ``scenario``. Result: :class:`~.defences.DefendedModel`.

    ``data``: the scenario's :class:`~.data.ScenarioData` (shared by a board's stages so the
    X-rays load once; None loads it); its fingerprint is in the key.
    """

    scenario: Scenario
    defence: Defence
    data: Any = field(default=None, compare=False, repr=False, metadata={"key": False})

    namespace: ClassVar[str] = "arena"

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, Scenario):
            raise InvalidParameterError(
                f"`scenario` must be a Scenario; got {type(self.scenario).__name__}.")
        if not isinstance(self.defence, Defence):
            raise InvalidParameterError(
                f"`defence` must be a Defence; got {type(self.defence).__name__}.")
        if self.data is None:
            object.__setattr__(self, "data", scenario_data(self.scenario))
        elif not isinstance(self.data, ScenarioData) or self.data.scenario != self.scenario:
            raise InvalidParameterError("`data` must be the ScenarioData of this scenario.")

    @property
    def title(self) -> str:
        return f"{self.defence.title} ({self.scenario.name})"

    def key(self) -> dict:
        return {"stage": "DefendedTarget", "scenario": self.scenario.key(),
                "defence": self.defence.key(), "data": self.data.fingerprint}

    def estimate_seconds(self) -> float:
        return float(self.defence.estimate_seconds(self.data))

    def seconds_left(self, cache) -> float:
        """0 when cached; else what is left of the defence's own stages (a DP target or the
        shadow models computed for a lesson count 0)."""
        if self.is_done(cache):
            return 0.0
        return float(self.defence.seconds_left(self.data, cache))

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        yield from self.defence.train(self.data, cache=cache, stop=stop, device=device)


__all__ = ["DefendedTarget"]
