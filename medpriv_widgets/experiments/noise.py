"""The noise a training-lab ε needs, solved once and cached: what the ε slider reads first.

The private-training lab shows, for the ε under its slider, the noise multiplier σ that DP-SGD
will use (:func:`~medpriv_widgets.training.plan_privacy`). Solving σ from ε is a root search over
the PRV accountant: 5–30 s on two CPU cores per ε. ``plan_privacy(cache=…)`` keeps each solved σ
in the cache namespace :data:`~medpriv_widgets.training.loop.SIGMA_NAMESPACE`, so the second move
to an ε is instant. :class:`NoiseForEpsilon` makes the *first* move instant too: ``medpriv
precompute`` (and Binder's ``postBuild``) run one per grid ε, which fills that namespace with the
very keys the lab looks up, without training a model.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..errors import InvalidParameterError
from ..progress import Progress
from ..training import TrainConfig, prepare_data, resolve_data
from .stage import Stage

# Measured: one σ solve took 20-27 s on two cores at load 10 (q = 0.01, 1,000 steps); about half
# that on a quiet machine. Non-private configs need no solve.
_SECONDS_PER_SOLVE = 15.0


@dataclass(frozen=True)
class NoiseForEpsilon(Stage):
    """The privacy plan (σ, q, steps, δ) of ``config`` (a target ε, or ∞), on its own data.

    Result: :class:`~medpriv_widgets.training.loop.PrivacyPlan`. Running it also stores σ where
    ``plan_privacy`` and the private-training lab look for it (same ``cache``).
    """

    config: TrainConfig

    namespace: ClassVar[str] = "training-noise"

    def __post_init__(self) -> None:
        if not isinstance(self.config, TrainConfig):
            raise InvalidParameterError(
                f"`config` must be a TrainConfig; got {type(self.config).__name__}.")

    @property
    def title(self) -> str:
        eps = self.config.target_epsilon
        what = f"ε = {eps:g}" if math.isfinite(eps) else "not private"
        return f"noise for {what} ({self.config.size} px)"

    @functools.cached_property
    def _n_train(self) -> tuple[int, str]:
        # q depends on how many images the training split holds: the lab's own data decide it.
        data, _test = resolve_data(self.config)
        return len(prepare_data(self.config, data)[0]), data.fingerprint

    def key(self) -> dict:
        n_train, fingerprint = self._n_train
        return {"stage": "NoiseForEpsilon", "config": self.config.effective().to_dict(),
                "n_train": n_train, "data": fingerprint}

    def estimate_seconds(self) -> float:
        return _SECONDS_PER_SOLVE if self.config.private else 0.1

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        from ..training import plan_privacy

        n_train, _ = self._n_train
        plan = plan_privacy(self.config, n_train, cache=cache)
        yield Progress(self.title, 1, 1, f"{self.title}: σ = {plan.noise_multiplier:.3f}.",
                       partial=plan)


def noise_grid(*, base: TrainConfig, epsilons) -> list[NoiseForEpsilon]:
    """One :class:`NoiseForEpsilon` per ε of the lab's slider (∞ included: it costs nothing)."""
    if not isinstance(base, TrainConfig):
        raise InvalidParameterError(f"`base` must be a TrainConfig; got {type(base).__name__}.")
    return [NoiseForEpsilon(base.with_(target_epsilon=float(e), noise_multiplier=None))
            for e in epsilons]


__all__ = ["NoiseForEpsilon", "noise_grid"]
