"""The reconstruction attack on one member's X-ray, at the noise of each DP target of a grid.

The risk–utility dashboard shows, for each ε, what a membership attacker finds *and* what a
gradient-inversion attacker rebuilds from one update of the same training run: the same σ the
DP target's DP-SGD used (read from its privacy plan, solved once and cached), applied to one
step on one member's X-ray (:class:`~medpriv_widgets.experiments.reconstruction.ReconstructionSweep`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..._validate import check_int, check_positive
from ...progress import Progress
from ..speed import probe_seconds
from ..stage import Stage
from .settings import MembershipSettings
from .stages import DPTarget, ShadowModels


@dataclass(frozen=True)
class TargetReconstruction(Stage):
    """Reconstruct the population's first member from one DP-SGD step at the σ of the DP target
    at ``epsilon`` (∞: σ = 0, the non-private model's update). One stage per ε, so a profile
    whose ε grid contains another's also contains its reconstructions.

    Result: the sweep's ``SweepResult`` with one row (``sigmas == [σ]``).
    """

    settings: MembershipSettings
    epsilon: float
    iterations: int = 150
    namespace: ClassVar[str] = "membership"

    def __post_init__(self) -> None:
        check_positive("epsilon", self.epsilon, allow_inf=True,
                       hint="Use float('inf') for the non-private model's update.")
        check_int("iterations", self.iterations, low=1)

    @property
    def title(self) -> str:
        what = "no noise" if math.isinf(self.epsilon) else f"the noise of ε = {self.epsilon:g}"
        return f"reconstruction at {what}"

    def member_index(self) -> int:
        """Position of the attacked member in the training split (it is in every DP target's
        training set, so the attack shows what that run's updates leak about it)."""
        pop = ShadowModels(self.settings).population
        return int(pop.index[pop.members[0]])

    def sweep(self, *, cache) -> Stage:
        """The reconstruction stage at this ε's σ (solving σ once, cached in ``cache``)."""
        from ..reconstruction import ReconstructionSweep

        sigma = (0.0 if math.isinf(self.epsilon) else
                 DPTarget(self.settings, self.epsilon).training.plan(cache=cache).noise_multiplier)
        return ReconstructionSweep(size=self.settings.size, split="train",
                                   index=self.member_index(), sigmas=(float(sigma),),
                                   iterations=self.iterations, seed=self.settings.seed)

    @functools.cached_property
    def _data_key(self) -> str:
        return ShadowModels(self.settings).population.data.fingerprint

    def key(self) -> dict:
        return {**super().key(), "data": self._data_key}

    def estimate_seconds(self) -> float:
        # Probe units (..speed), timed with the probe (2 shared cores, load 7–8): 20 iterations
        # at 28 px about 70 units, 150 iterations about 220 (the σ of the target already cached).
        units = 45.0 + 1.2 * self.iterations * (self.settings.size / 28) ** 2
        return units * probe_seconds()

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        for rec in self.sweep(cache=cache).run(cache=cache, stop=stop, device=device):
            yield rec.with_(stage=self.title)


__all__ = ["TargetReconstruction"]
