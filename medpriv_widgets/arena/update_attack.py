"""The reconstruction attack on one shared update, under each defence, as a cached stage.

The threat model of lesson 04: in the first round of federated training the server (honest
but curious) sends an untrained LeNet, a hospital computes its update on its X-rays and applies
the defence's protection to it (:meth:`~.defences.Defence.update`: DP noise at the σ the
defence's ε needs, clipping, top-k pruning, a larger batch, local FedAvg steps), and the server
runs Inverting Gradients (cosine distance + total variation, starting from the mean X-ray of
public X-rays, here the test split) on what it received. The attacked X-rays are members; those
whose patient has another X-ray in the population come first, so that re-identification
(:mod:`.reidentification`) can be judged. The truth only scores the result.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from .._validate import check_int
from ..errors import InvalidParameterError
from ..experiments.stage import Stage
from ..progress import Progress
from .data import ScenarioData, check_scenario_data, scenario_data
from .defences import Defence
from .scenarios import Scenario


@dataclass(frozen=True)
class UpdateAttackResult:
    """Reconstructions from one update per group of attacked X-rays.

    ``index`` (B,): population positions of the attacked X-rays; ``truth`` and
    ``reconstruction`` (B, 1, S, S) uint8; ``psnr``, ``ssim`` (B,): each true X-ray against its
    matched reconstruction; ``update_batch``: X-rays per update; ``defense``: the update's
    protection in words; ``seconds``: the attacks' wall time.
    """

    index: np.ndarray
    truth: np.ndarray
    reconstruction: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    update_batch: int
    defense: str
    seconds: float


def attacked_members(data: ScenarioData, n: int) -> np.ndarray:
    """Population positions of ``n`` members to attack: members whose patient has another
    X-ray in the population first, in a seeded order."""
    data = check_scenario_data(data)
    n = check_int("n", n, low=1, hint="Give how many members to attack, e.g. 8.")
    pop = data.population
    ids = np.asarray(pop.patient_ids)
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    members = np.asarray(pop.members)
    rng = np.random.default_rng([data.scenario.seed, 1204])
    order = members[rng.permutation(len(members))]
    with_twin = order[counts[inverse[order]] > 1]
    rest = order[counts[inverse[order]] <= 1]
    chosen = np.concatenate([with_twin, rest])[:n]
    if len(chosen) < n:
        raise InvalidParameterError(f"The scenario has {len(members)} members; it cannot attack "
                                    f"{n}. Lower `reconstruction_images`.")
    return chosen


def _uint8(images: torch.Tensor) -> np.ndarray:
    return (images.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)


@dataclass(frozen=True)
class UpdateAttack(Stage):
    """Invert the defended update of ``scenario.reconstruction_images`` member X-rays.
    Result: :class:`UpdateAttackResult`."""

    scenario: Scenario
    defence: Defence
    data: Any = field(default=None, compare=False, repr=False, metadata={"key": False})

    namespace: ClassVar[str] = "arena"

    def __post_init__(self) -> None:
        if not isinstance(self.defence, Defence):
            raise InvalidParameterError(
                f"`defence` must be a Defence; got {type(self.defence).__name__}.")
        if self.data is None:
            object.__setattr__(self, "data", scenario_data(self.scenario))

    @property
    def title(self) -> str:
        return f"reconstruction from one update ({self.defence.title})"

    def key(self) -> dict:
        return {"stage": "UpdateAttack", "scenario": self.scenario.key(),
                "defence": self.defence.key(), "data": self.data.fingerprint}

    def estimate_seconds(self) -> float:
        # Inverting Gradients on LeNet, ~0.035 s per iteration for one 64 px X-ray on one
        # loaded CPU thread (experiments.reconstruction), growing with pixels and batch.
        per = 0.035 * (self.scenario.size / 64) ** 2 * self.scenario.reconstruction_images
        batch = getattr(self.defence, "update_batch", 1)
        return 2.0 + self.scenario.reconstruction_iterations * per * max(1, batch // 2)

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        from ..attacks.reconstruction import score_images
        from ..experiments.reconstruction import attack_records

        sc, data = self.scenario, self.data
        defense, batch = self.defence.update(data, cache=cache)
        index = attacked_members(data, max(sc.reconstruction_images, batch))
        if batch > 1:  # whole updates of `batch` X-rays
            index = index[:batch * max(1, len(index) // batch)]
        pop = data.population.data
        truth = pop.images[torch.as_tensor(index)]
        labels = pop.labels[torch.as_tensor(index)]
        groups = [slice(i, i + batch) for i in range(0, len(index), batch)]
        t0 = time.perf_counter()
        recon = []
        total = float(len(groups))
        for g, part in enumerate(groups):
            last = None
            for last in attack_records(images=truth[part], labels=labels[part], arch="lenet",
                                       state="untrained", server="honest", defense=defense,
                                       attack="inverting_gradients",
                                       iterations=sc.reconstruction_iterations,
                                       seed=sc.seed + g, public_images=data.test.images,
                                       informed=True, frame_every=max(1, sc.reconstruction_iterations),
                                       cache=cache, stop=stop, device=device):
                if last.stopped:
                    yield Progress(self.title, g, total, "stopped; nothing was cached.",
                                   stopped=True)
                    return
                yield Progress(self.title, g + last.fraction * 0.999, total,
                               f"update {g + 1} of {len(groups)}: {last.message}")
            # the truth scores the guess (matched within its update), never steers it
            guess = last.partial.image
            s = score_images(guess, truth[part])
            recon.append((guess[list(s.match)], s.psnr, s.ssim))
        rec = torch.cat([r for r, _, _ in recon])
        result = UpdateAttackResult(
            index=np.asarray(index), truth=_uint8(truth), reconstruction=_uint8(rec),
            psnr=np.concatenate([p for _, p, _ in recon]),
            ssim=np.concatenate([q for _, _, q in recon]), update_batch=batch,
            defense=defense.describe(), seconds=time.perf_counter() - t0)
        yield Progress(self.title, total, total,
                       f"mean PSNR {np.mean(result.psnr):.1f} dB over {len(index)} X-rays.",
                       partial=result)


__all__ = ["UpdateAttack", "UpdateAttackResult", "attacked_members"]
