"""Defenses a client applies to its update before it leaves the hospital.

:class:`Defense` lists them as plain fields (all present, all checked on construction):

* ``clip_norm`` — per-example clipping: each X-ray's gradient is scaled to L2 norm ≤ C
  (None = no clipping). Clipping alone changes only the *length* of the gradient, so an attack
  that compares directions (cosine distance) is barely affected.
* ``noise_multiplier`` σ — Gaussian noise N(0, (σ·C)²) added to the *sum* of the clipped
  per-example gradients: exactly one DP-SGD step (Abadi et al. 2016). Needs ``clip_norm``.
  :func:`run_epsilon` says which ε a whole training run with this σ would have.
* ``topk_fraction`` — gradient pruning: only the largest-magnitude fraction of the update's
  entries is sent (1.0 = everything).
* ``local_steps`` / ``local_lr`` — FedAvg: the client takes several SGD steps on its batch and
  sends the change of the weights instead of one gradient.
* the batch size is simply how many X-rays the client puts in the update (see
  :func:`~medpriv_widgets.attacks.reconstruction.threat.client_update`).

The mathematics of one step lives in :func:`privatise_gradients` (pure function on tensors).
What one noisy update guarantees on its own is :func:`one_step_mu`; what a whole training run
with the same σ guarantees is :func:`run_epsilon`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..._validate import (check_choice, check_int, check_nonnegative, check_open_unit,
                          check_positive, check_real)
from ...errors import InvalidParameterError


@dataclass(frozen=True)
class Defense:
    """What the client does to its update. The default is no defense at all (plain FedSGD)."""

    clip_norm: float | None = None
    noise_multiplier: float = 0.0
    topk_fraction: float = 1.0
    local_steps: int = 1
    local_lr: float = 0.1

    def __post_init__(self) -> None:
        if self.clip_norm is not None:
            object.__setattr__(self, "clip_norm", check_positive(
                "clip_norm", self.clip_norm, hint="Use None for no clipping."))
        sigma = check_nonnegative("noise_multiplier", self.noise_multiplier,
                                  hint="σ = 0 means no noise.")
        if sigma > 0 and self.clip_norm is None:
            raise InvalidParameterError(
                f"`noise_multiplier` = {sigma} needs a `clip_norm`: DP noise is scaled to the "
                "clipping norm (σ·C). Set clip_norm (for example 1.0) or noise_multiplier = 0.")
        object.__setattr__(self, "noise_multiplier", sigma)
        object.__setattr__(self, "topk_fraction", check_real(
            "topk_fraction", self.topk_fraction, low=0.0, high=1.0, low_inclusive=False,
            hint="It is the fraction of gradient entries kept; 1.0 keeps all."))
        object.__setattr__(self, "local_steps", check_int("local_steps", self.local_steps,
                                                          low=1, high=100))
        object.__setattr__(self, "local_lr", check_positive("local_lr", self.local_lr))

    @property
    def is_none(self) -> bool:
        return (self.clip_norm is None and self.noise_multiplier == 0 and self.topk_fraction == 1
                and self.local_steps == 1)

    def describe(self) -> str:
        """One line for captions, e.g. 'clip C=1, noise σ=0.01'."""
        parts = []
        if self.clip_norm is not None:
            parts.append(f"clip C={self.clip_norm:g}")
        if self.noise_multiplier > 0:
            parts.append(f"noise σ={self.noise_multiplier:g}")
        if self.topk_fraction < 1:
            parts.append(f"top-{self.topk_fraction:.0%} pruning")
        if self.local_steps > 1:
            parts.append(f"FedAvg {self.local_steps} local steps")
        return ", ".join(parts) if parts else "no defense"


def clip_factor(grads: tuple[torch.Tensor, ...], clip_norm: float | None) -> float:
    """The factor min(1, C/‖g‖) that scales one example's gradient to L2 norm ≤ C (1 without C)."""
    if clip_norm is None:
        return 1.0
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).item()
    return min(1.0, clip_norm / (norm + 1e-12))


def clip_and_sum(per_example: Iterable[tuple[torch.Tensor, ...]], clip_norm: float | None
                 ) -> tuple[tuple[torch.Tensor, ...], int]:
    """Sum of per-example gradients, each scaled to L2 norm ≤ ``clip_norm`` (None: no clip).

    ``per_example`` may be a generator: one example's gradient is held at a time, so a batch of
    64 through a model with millions of parameters (the imprint module) needs no more memory
    than two gradients. Returns (sum, number of examples).
    """
    total: list[torch.Tensor] | None = None
    count = 0
    for grads in per_example:
        factor = clip_factor(grads, clip_norm)
        if total is None:
            total = [torch.zeros_like(g) for g in grads]
        for t, g in zip(total, grads):
            t.add_(g, alpha=factor)
        count += 1
    if total is None:
        raise InvalidParameterError("`per_example` must hold at least one example's gradient; "
                                    "got none.")
    return tuple(total), count


def add_gaussian_noise(summed: tuple[torch.Tensor, ...], *, noise_multiplier: float,
                       clip_norm: float | None, generator: torch.Generator
                       ) -> tuple[torch.Tensor, ...]:
    """Add N(0, (σ·C)²) to every entry (the Gaussian mechanism of DP-SGD).

    The noise is drawn on the CPU from ``generator`` and moved to each tensor's device, so the
    same seed gives the same noise on a GPU.
    """
    if noise_multiplier == 0:
        return summed
    std = noise_multiplier * float(clip_norm)
    return tuple(g + std * torch.randn(g.shape, generator=generator, dtype=g.dtype).to(g.device)
                 for g in summed)


def topk_prune(grads: tuple[torch.Tensor, ...], fraction: float) -> tuple[torch.Tensor, ...]:
    """Keep the ``fraction`` of entries of largest magnitude (over all tensors); zero the rest."""
    if fraction >= 1.0:
        return grads
    flat = torch.cat([g.reshape(-1) for g in grads])
    k = max(1, int(math.ceil(fraction * flat.numel())))
    threshold = flat.abs().kthvalue(flat.numel() - k + 1).values
    return tuple(torch.where(g.abs() >= threshold, g, torch.zeros_like(g)) for g in grads)


def privatise_gradients(per_example: Iterable[tuple[torch.Tensor, ...]], *,
                        clip_norm: float | None, noise_multiplier: float,
                        generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """One DP-SGD aggregation: clip each example, sum, add noise, divide by the batch size B."""
    summed, count = clip_and_sum(per_example, clip_norm)
    noisy = add_gaussian_noise(summed, noise_multiplier=noise_multiplier, clip_norm=clip_norm,
                               generator=generator)
    return tuple(g / count for g in noisy)


def run_epsilon(*, noise_multiplier: float, sample_rate: float = 0.01, steps: int = 1000,
                delta: float = 1e-5, accountant: str = "rdp") -> float:
    """ε of a *whole* DP-SGD training run with this σ (default: 1 % sampling, 1,000 steps, δ=1e-5).

    One attacked update is one step of such a run; this is the number a data-protection officer
    would see. Uses :func:`medpriv_widgets.privacy.accounting.dpsgd_epsilon`, by default with the
    RDP accountant: a valid upper bound, a little looser than PRV near σ ≈ 1, but it answers in
    milliseconds for every σ (PRV can take minutes for the tiny σ of this lab, and a slider
    calls this on every move). σ = 0 (no noise) gives ∞: no guarantee at all.

    Every argument is checked here and a bad one raises :class:`InvalidParameterError` (a δ
    outside (0, 1), a sampling rate outside (0, 1], zero steps, an unknown accountant): nothing
    is turned into ε = ∞ behind the caller's back. Tiny σ give huge but finite ε (σ = 1e-4:
    about 5.5·10¹⁰), which is what the accountant proves, so it is what is returned.
    """
    from ...privacy.accounting import ACCOUNTANTS, dpsgd_epsilon

    sigma = check_nonnegative("noise_multiplier", noise_multiplier, hint="σ = 0 means no noise.")
    q = check_real("sample_rate", sample_rate, low=0.0, high=1.0, low_inclusive=False,
                   hint="It is the share of the data in one step, e.g. 0.01.")
    steps = check_int("steps", steps, low=1, hint="Count the training steps, e.g. 1000.")
    delta = check_open_unit("delta", delta, hint="Choose δ well below 1/(number of patients), "
                                                 "e.g. 1e-5.")
    check_choice("accountant", accountant, ACCOUNTANTS)
    if sigma == 0:
        return math.inf
    return float(dpsgd_epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=delta,
                               accountant=accountant))


def one_step_mu(noise_multiplier: float) -> float:
    """μ of the Gaussian DP (Dong, Roth & Su 2022) of *one* released update: 1/σ.

    The clipped sum has sensitivity C (one X-ray added or removed moves it by at most C) and the
    noise has standard deviation σ·C, so the release is (C / σC) = 1/σ-GDP, whatever the batch,
    the model or the attack. ``inf`` for σ = 0 (no guarantee). This is what bounds an attack on
    one update, e.g. with :func:`medpriv_widgets.privacy.bounds.rero_bound` (``mu=``).
    """
    sigma = check_nonnegative("noise_multiplier", noise_multiplier, hint="σ = 0 means no noise.")
    return math.inf if sigma == 0 else 1.0 / sigma


def one_update_bound(*, noise_multiplier: float, kappa: float) -> float:
    """The most an attacker can succeed in rebuilding an X-ray from ONE noisy update, given its
    chance κ without it: Φ(Φ⁻¹(κ) + 1/σ) (ReRo under Gaussian DP, Kaissis et al. 2023, via
    :func:`medpriv_widgets.privacy.bounds.rero_bound`). 1.0 for σ = 0 (no guarantee)."""
    from ...privacy.bounds import rero_bound

    kappa = check_open_unit("kappa", kappa, hint="It is the attacker's chance without the update, "
                                       "e.g. 0.001.")
    mu = one_step_mu(noise_multiplier)
    return 1.0 if math.isinf(mu) else float(rero_bound(kappa=kappa, mu=mu))


__all__ = ["Defense", "one_step_mu", "one_update_bound", "privatise_gradients", "run_epsilon"]
