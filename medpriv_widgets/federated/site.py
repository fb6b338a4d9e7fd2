"""A hospital's side of a round: train on its own X-rays from the global model, send the change.

The local training is the project's one training path, reused stage by stage rather than
written again: :func:`~medpriv_widgets.training.loop.build_model` makes the network,
``make_private`` wraps model, optimizer and loader with Opacus (Poisson sampling, clipping,
noise) and :func:`~medpriv_widgets.training.loop.logical_step` takes each step, in chunks that
bound memory. Only the number of steps differs: a round takes ``local_steps`` steps, not whole
epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._validate import check_positive
from ..errors import InvalidParameterError
from ..stopping import StopToken, stop_requested
from ..training import TrainConfig
from ..training.config import sample_rate_for
from ..training.loop import (PrivacyPlan, build_model, make_optimizer, make_private, unwrap,
                             logical_step, release_freed_memory)


def _as_vector(name: str, value) -> np.ndarray:
    """``value`` as a 1-D float64 array, or InvalidParameterError with a sentence."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        vec = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        vec = None
    if vec is None or vec.ndim != 1:
        raise InvalidParameterError(
            f"`{name}` must be a 1-D array of numbers (a flattened model, see flatten()); got "
            f"{type(value).__name__}{'' if vec is None else f' of shape {vec.shape}'}.")
    return vec


def flatten(model: nn.Module) -> np.ndarray:
    """The model's parameters as one float64 vector (named-parameter order)."""
    return torch.cat([p.detach().reshape(-1).double().cpu() for p in model.parameters()]).numpy()


def load_flat(model: nn.Module, vector: np.ndarray) -> nn.Module:
    """Write a vector from :func:`flatten` back into the model's parameters (in place)."""
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"`model` must be a torch model; got {type(model).__name__}.")
    vec = torch.as_tensor(_as_vector("vector", vector))
    need = sum(p.numel() for p in model.parameters())
    if vec.numel() != need:
        raise InvalidParameterError(
            f"`vector` must hold one value per model parameter ({need}); got {vec.numel()}. "
            f"Pass a vector from flatten() of a model of the same architecture.")
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(vec[offset:offset + n].reshape(p.shape).to(p.dtype))
            offset += n
    return model


def local_plan(config: TrainConfig, n_images: int, steps: int) -> PrivacyPlan:
    """σ, q and steps of one round of local DP-SGD (q as Opacus' loader samples it)."""
    q, per_epoch = sample_rate_for(min(config.batch_size, n_images), n_images)
    return PrivacyPlan(private=config.private, noise_multiplier=config.noise_multiplier or 0.0,
                       sample_rate=q, steps_per_epoch=per_epoch, steps=steps,
                       delta=config.delta, target_epsilon=math.inf,
                       max_grad_norm=config.max_grad_norm if config.private else None)


@dataclass
class LocalUpdate:
    """What one hospital computed in one round.

    delta : float64 (d,), local parameters minus the global ones (not yet clipped or weighted).
    loss : mean training cross-entropy over the round's steps (nats).
    steps : steps taken (fewer than planned only when stopped).
    model : the hospital's locally trained model (stays in the hospital; used for its AUC).
    """

    delta: np.ndarray
    loss: float
    steps: int
    model: nn.Module


def train_locally(*, global_model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  config: TrainConfig, steps: int, seed: int, device: torch.device,
                  stop: StopToken | None = None) -> LocalUpdate:
    """``steps`` local SGD (or DP-SGD, when ``config`` is private) steps from the global model.

    images (N, 1, S, S) in [0, 1], labels (N,). The global model is not modified.
    """
    n = int(labels.shape[0])
    model = build_model(config).to(device)
    model.load_state_dict(global_model.state_dict())
    start = flatten(model)
    config = config.with_(batch_size=min(config.batch_size, n)).effective()
    optimizer = make_optimizer(config, model)
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels),
                                         batch_size=config.batch_size, shuffle=True, generator=gen)
    plan = local_plan(config, n, steps)
    if plan.private:
        model, optimizer, loader = make_private(config, plan, model, optimizer, loader, seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    taken, loss_sum, seen = 0, 0.0, 0
    while taken < steps and not stop_requested(stop):
        for xb, yb in loader:
            if taken >= steps or stop_requested(stop):
                break
            optimizer.zero_grad(set_to_none=True)
            if xb.shape[0] > 0 or plan.private:  # DP-SGD takes noise-only steps too
                loss_sum += logical_step(model, optimizer, loss_fn, xb.to(device), yb.to(device),
                                         private=plan.private,
                                         max_physical_batch_size=config.max_physical_batch_size)
                seen += int(xb.shape[0])
            taken += 1
        release_freed_memory()
    plain = unwrap(model).eval()
    return LocalUpdate(flatten(plain) - start, loss_sum / seen if seen else math.nan, taken, plain)


def clip_update(delta: np.ndarray, clip: float) -> tuple[np.ndarray, float]:
    """(delta scaled to L2 norm ≤ clip, its norm before clipping)."""
    delta = _as_vector("delta", delta)
    clip = check_positive("clip", clip, hint="Choose the site clipping norm S, e.g. 1.0.")
    norm = float(np.linalg.norm(delta))
    return (delta * (clip / norm) if norm > clip else delta), norm


__all__ = ["LocalUpdate", "clip_update", "flatten", "load_flat", "local_plan", "train_locally"]
