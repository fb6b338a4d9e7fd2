"""Label inference from the last layer's gradient (no optimisation needed).

For cross-entropy, the gradient of the last layer's bias for one example is softmax(z) − onehot(y):
every entry is positive except the true class, which is negative (iDLG, Zhao et al. 2020). For a
batch of B, the bias gradient is the batch mean, g_c = p̄_c − n_c / B, where n_c counts the
examples of class c and p̄_c is the mean predicted probability. The attacker estimates p̄ by
running the model on the update's own reconstruction so far, or (before that) on random
inputs, and solves for the counts (Geng et al. 2021; Wainakh et al. 2022).
"""

from __future__ import annotations

import torch
from torch import nn

from ..._validate import check_int
from ...errors import InvalidParameterError
from .threat import SharedUpdate


def _last_layer_bias_grad(model: nn.Module, update: SharedUpdate) -> torch.Tensor:
    params = list(model.parameters())
    if len(update.gradient) != len(params):
        raise InvalidParameterError(
            f"The update holds {len(update.gradient)} tensors but the model has {len(params)} "
            "parameters: the update was not computed for this model.")
    last = params[-1]
    if last.ndim != 1:
        raise InvalidParameterError("Label inference needs a last layer with a bias (the "
                                    "model's last parameter should be a 1-D bias vector).")
    g = update.gradient[-1].double()
    if update.local_steps > 1:
        g = g / update.local_steps  # sum of T gradients: the sign pattern is roughly kept
    return g


def infer_label_single(*, model: nn.Module, update: SharedUpdate) -> int:
    """B = 1: the class whose bias gradient is negative (the smallest entry), the iDLG sign rule."""
    g = _last_layer_bias_grad(model, update)
    return int(torch.argmin(g))


def infer_label_counts(*, model: nn.Module, update: SharedUpdate, probe_images: int = 64,
                       seed: int = 0) -> torch.Tensor:
    """Batch: estimate how many examples of each class are in the update; returns counts (C,).

    Solves g_c = p̄_c − n_c/B for n_c with p̄ estimated from ``probe_images`` uniform-noise inputs
    through the model, then rounds so that the counts are ≥ 0 and sum to B (largest remainders).
    Exact when the model's predictions barely depend on the input (an untrained model); the
    error grows as the model learns. Defenses (clipping, noise) distort it.
    """
    check_int("probe_images", probe_images, low=1, high=10_000)
    check_int("seed", seed, low=0)
    g = _last_layer_bias_grad(model, update)
    b = update.num_examples
    gen = torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device
    probe = torch.rand((probe_images, *update.image_shape), generator=gen).to(dev)
    with torch.no_grad():
        p_bar = torch.softmax(model(probe), dim=1).mean(0).double().cpu()
    raw = (b * (p_bar - g)).clamp(min=0)
    if raw.sum() <= 0:
        raw = torch.ones_like(raw)
    raw = raw * (b / raw.sum())
    counts = torch.floor(raw).long()
    remainder = raw - counts
    for idx in torch.argsort(remainder, descending=True)[: b - int(counts.sum())]:
        counts[idx] += 1
    return counts


def infer_labels(*, model: nn.Module, update: SharedUpdate, seed: int = 0) -> torch.Tensor:
    """Labels (B,) for the dummy batch: the sign rule when B = 1, else the counts, sorted."""
    if update.num_examples == 1:
        return torch.tensor([infer_label_single(model=model, update=update)])
    counts = infer_label_counts(model=model, update=update, seed=seed)
    return torch.repeat_interleave(torch.arange(counts.numel()), counts)
