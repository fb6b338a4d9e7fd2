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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..._validate import check_int, check_nonnegative, check_positive, check_real
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


def clip_and_sum(per_example: list[tuple[torch.Tensor, ...]], clip_norm: float | None
                 ) -> tuple[torch.Tensor, ...]:
    """Sum of per-example gradients, each scaled to L2 norm ≤ ``clip_norm`` (None: no clip)."""
    total = [torch.zeros_like(g) for g in per_example[0]]
    for grads in per_example:
        factor = 1.0
        if clip_norm is not None:
            norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).item()
            factor = min(1.0, clip_norm / (norm + 1e-12))
        for t, g in zip(total, grads):
            t.add_(g, alpha=factor)
    return tuple(total)


def add_gaussian_noise(summed: tuple[torch.Tensor, ...], *, noise_multiplier: float,
                       clip_norm: float | None, generator: torch.Generator
                       ) -> tuple[torch.Tensor, ...]:
    """Add N(0, (σ·C)²) to every entry (the Gaussian mechanism of DP-SGD)."""
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


def privatise_gradients(per_example: list[tuple[torch.Tensor, ...]], *, clip_norm: float | None,
                        noise_multiplier: float, generator: torch.Generator
                        ) -> tuple[torch.Tensor, ...]:
    """One DP-SGD aggregation: clip each example, sum, add noise, divide by the batch size B."""
    summed = clip_and_sum(per_example, clip_norm)
    noisy = add_gaussian_noise(summed, noise_multiplier=noise_multiplier, clip_norm=clip_norm,
                               generator=generator)
    return tuple(g / len(per_example) for g in noisy)


def run_epsilon(*, noise_multiplier: float, sample_rate: float = 0.01, steps: int = 1000,
                delta: float = 1e-5, accountant: str = "rdp") -> float:
    """ε of a *whole* DP-SGD training run with this σ (default: 1 % sampling, 1,000 steps, δ=1e-5).

    One attacked update is one step of such a run; this is the number a data-protection officer
    would see. Uses :func:`medpriv_widgets.privacy.accounting.dpsgd_epsilon`, by default with the
    RDP accountant: a valid upper bound, a little looser than PRV near σ ≈ 1, but it answers in
    milliseconds for every σ (PRV can take minutes for the tiny σ of this lab, and a slider
    calls this on every move). σ = 0 gives ∞; so may a σ the accountant cannot bound.
    """
    sigma = check_nonnegative("noise_multiplier", noise_multiplier)
    if sigma == 0:
        return math.inf
    import warnings

    from ...privacy.accounting import dpsgd_epsilon  # lazy: written by the DP-core issue
    try:
        with warnings.catch_warnings():
            # For tiny σ the PRV accountant gives up and the accountant falls back to RDP with a
            # warning; the (looser, still valid) number is what we want to show here.
            warnings.simplefilter("ignore", RuntimeWarning)
            eps = float(dpsgd_epsilon(noise_multiplier=sigma, sample_rate=sample_rate,
                                      steps=steps, delta=delta, accountant=accountant))
    except (ValueError, OverflowError, RuntimeError, FloatingPointError):
        return math.inf  # the accountant refuses tiny σ: the guarantee is void
    return eps if math.isfinite(eps) else math.inf
