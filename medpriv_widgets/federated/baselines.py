"""What the federation is compared with: centralised training on the union, and each site alone.

Both go through the project's one training path, the cached
:class:`~medpriv_widgets.experiments.TrainModel` stage, on the same hospitals' X-rays and the same
test split. The recipe is the project's (:data:`~medpriv_widgets.training.config.NONPRIVATE_RECIPE`
or, when the hospitals train with DP-SGD, :data:`~medpriv_widgets.training.config.PRIVATE_RECIPE`
at the same σ and clipping norm), with the expected batch capped at half a small site's images.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..experiments import TrainModel
from ..training import TrainConfig
from .hospitals import Hospital, union
from .settings import FederationSettings

#: Name of the centralised baseline among :func:`baseline_stages`' keys.
CENTRALISED = "centralised"


def baseline_config(settings: FederationSettings, n_images: int, *, epochs: int | None = None
                    ) -> TrainConfig:
    """The TrainConfig of a baseline on ``n_images`` training X-rays (5 % held out by patient)."""
    base = TrainConfig(size=settings.size, seed=settings.seed, width=settings.width,
                       noise_multiplier=settings.noise_multiplier,
                       max_grad_norm=settings.max_grad_norm, delta=settings.delta,
                       accountant=settings.accountant, epochs=epochs)
    recipe_batch = base.effective().batch_size
    return base.with_(batch_size=max(1, min(recipe_batch, int(n_images * 0.95) // 2)))


def baseline_stages(settings: FederationSettings, hospitals: Sequence[Hospital], test_data, *,
                    epochs: int | None = None) -> dict[str, TrainModel]:
    """{'centralised': stage on the union, site name: stage on that site alone, …}.

    ``epochs``: passes over each baseline's data (None: the recipe's)."""
    pooled = union(hospitals)
    stages = {CENTRALISED: TrainModel(baseline_config(settings, len(pooled), epochs=epochs),
                                      data=pooled, test_data=test_data)}
    for h in hospitals:
        stages[h.name] = TrainModel(baseline_config(settings, h.n_images, epochs=epochs),
                                    data=h.data, test_data=test_data)
    return stages


__all__ = ["CENTRALISED", "baseline_config", "baseline_stages"]
