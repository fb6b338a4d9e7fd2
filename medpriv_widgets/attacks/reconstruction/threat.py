"""The threat model: what crosses the wire in federated learning, and nothing else.

An honest-but-curious server sends the global model to a hospital (it knows the architecture
and the weights, because they are its own). The hospital computes an update on a batch of B
X-rays, applies its :class:`~.defenses.Defense`, and sends back a :class:`SharedUpdate`. The
attack (:func:`~.optimise.reconstruct`) receives the model and that update: the signature is the
threat model. The true images never enter the attack; scoring against them is separate
(:func:`~.metrics.make_scorer`).

A *malicious* server goes further and chooses the model it sends
(:mod:`~.imprint`); the hospital computes its update the same way, with the same
:func:`client_update`. Several hospitals behind secure aggregation appear to the server as one
update over all their X-rays (:func:`secure_aggregate`).

Stable entry points (the federated package builds on them): :class:`SharedUpdate`,
:func:`client_update`, :func:`secure_aggregate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..._validate import check_int
from ...errors import InvalidParameterError
from .defenses import Defense, privatise_gradients, topk_prune


@dataclass(frozen=True)
class SharedUpdate:
    """What one client sends to the server (FedSGD or FedAvg). All the attacker sees.

    Attributes
    ----------
    gradient : tuple of tensors
        One tensor per model parameter (same shapes, CPU). FedSGD: the averaged gradient of the
        batch. FedAvg: the weight change divided by the learning rate, (θ₀ − θ_T)/lr, i.e. the
        sum of the T local gradients (equal to the gradient when T = 1).
    num_examples : int
        B, the number of X-rays behind the update (clients report it so the server can weight
        averages).
    image_shape : (channels, height, width)
        The input shape of the model (public: the server built the model).
    local_steps, local_lr : int, float
        FedAvg protocol settings, chosen by the server (so known to it).
    declared : dict
        Public protocol facts the client declares (clip norm, σ, pruning); the attack ignores them.
    """

    gradient: tuple[torch.Tensor, ...]
    num_examples: int
    image_shape: tuple[int, int, int]
    local_steps: int = 1
    local_lr: float = 0.1
    declared: dict = field(default_factory=dict)


def check_images(images, *, name: str = "images") -> torch.Tensor:
    """Images must be a float tensor (B, 1, H, W) with values in [0, 1] and H = W."""
    if not isinstance(images, torch.Tensor):
        raise InvalidParameterError(f"`{name}` must be a torch tensor of shape (B, 1, H, W); "
                                    f"got {type(images).__name__}.")
    if images.ndim != 4 or images.shape[1] != 1 or images.shape[2] != images.shape[3] \
            or images.shape[0] < 1:
        raise InvalidParameterError(
            f"`{name}` must have shape (B, 1, H, W) with B ≥ 1 and H = W (grey-scale, square); "
            f"got shape {tuple(images.shape)}. Add the channel axis with images[:, None].")
    if not images.is_floating_point():
        raise InvalidParameterError(f"`{name}` must be floating point in [0, 1]; got dtype "
                                    f"{images.dtype}. Divide uint8 pixels by 255.")
    lo, hi = float(images.min()), float(images.max())
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise InvalidParameterError(
            f"`{name}` must have values in [0, 1]; got min {lo:.3g}, max {hi:.3g}. "
            "Rescale the pixels (for example divide by 255).")
    return images


def as_labels(labels, *, name: str = "labels") -> torch.Tensor:
    """Class indices as a flat long tensor; anything else is refused with a sentence."""
    try:
        out = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        out = None
    if out is None or out.is_complex() or out.dtype == torch.bool or (
            out.is_floating_point() and not bool(torch.all(out == out.round()))):
        raise InvalidParameterError(f"`{name}` must be whole class numbers (0 = normal, "
                                    f"1 = pneumonia), one per image; got {labels!r:.80}.")
    return out.to(torch.long).reshape(-1)


def _check_labels(labels, batch: int, num_classes: int) -> torch.Tensor:
    labels = as_labels(labels)
    if labels.numel() != batch:
        raise InvalidParameterError(f"`labels` must hold one label per image ({batch}); "
                                    f"got {labels.numel()}.")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise InvalidParameterError(f"`labels` must be class indices in [0, {num_classes - 1}]; "
                                    f"got {labels.tolist()}.")
    return labels


def model_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's parameters as a detached name → tensor dict (the server's copy)."""
    return {k: v.detach() for k, v in model.named_parameters()}


def simulate_update(model: nn.Module, params: dict[str, torch.Tensor], images: torch.Tensor,
                    labels: torch.Tensor, *, local_steps: int, local_lr: float,
                    create_graph: bool) -> tuple[torch.Tensor, ...]:
    """Undefended update as :class:`SharedUpdate` defines it, differentiable when asked.

    T = 1: the mean cross-entropy gradient. T > 1: (θ₀ − θ_T)/lr after T full-batch SGD steps.
    The attack calls this on its dummy images with ``create_graph=True``.
    """
    names = list(params)
    theta0 = [params[n] for n in names]
    theta = list(theta0)
    for _ in range(local_steps):
        out = functional_call(model, dict(zip(names, theta)), (images,))
        loss = F.cross_entropy(out, labels)
        grads = torch.autograd.grad(loss, theta, create_graph=create_graph)
        if local_steps == 1:
            return tuple(grads)
        theta = [t - local_lr * g for t, g in zip(theta, grads)]
    return tuple((t0 - t) / local_lr for t0, t in zip(theta0, theta))


def client_update(*, model: nn.Module, images: torch.Tensor, labels, defense: Defense | None = None,
                  seed: int = 0) -> SharedUpdate:
    """The hospital's side: compute the update on (images, labels) and apply the defense.

    Parameters
    ----------
    model : the global model the server sent (not modified).
    images : float tensor (B, 1, H, W) in [0, 1]; B is the batch size of the update.
    labels : int tensor/sequence (B,) of class indices.
    defense : :class:`Defense` (None = no defense).
    seed : seed of the DP noise.
    """
    images = check_images(images)
    defense = defense if defense is not None else Defense()
    if not isinstance(defense, Defense):
        raise InvalidParameterError(f"`defense` must be a Defense; got {type(defense).__name__}.")
    check_int("seed", seed, low=0)
    num_classes = getattr(model, "num_classes", None) or _num_outputs(model, images)
    labels = _check_labels(labels, images.shape[0], num_classes)
    size = getattr(model, "size", images.shape[-1])
    if images.shape[-1] != size:
        raise InvalidParameterError(
            f"`images` must be {size}×{size} px for this model; got "
            f"{images.shape[-1]}×{images.shape[-2]}. Build the victim for {images.shape[-1]} px "
            f"or load X-rays of {size} px.")
    dev = next(model.parameters()).device
    images, labels = images.to(dev), labels.to(dev)
    gen = torch.Generator().manual_seed(seed)
    names = [n for n, _ in model.named_parameters()]
    theta0 = [p.detach().clone() for _, p in model.named_parameters()]
    theta = [t.clone().requires_grad_(True) for t in theta0]
    private = defense.clip_norm is not None or defense.noise_multiplier > 0
    # Sum of the local gradients == (θ₀ − θ_T)/lr exactly, without the rounding of a difference.
    sent = [torch.zeros_like(t) for t in theta0]
    for _ in range(defense.local_steps):
        params = dict(zip(names, theta))
        if private:
            # Per-example gradients, one at a time: DP-SGD's clipping needs each one, and a
            # generator keeps only one in memory (the imprint model has millions of weights).
            per_example = (torch.autograd.grad(
                F.cross_entropy(functional_call(model, params, (images[i:i + 1],)),
                                labels[i:i + 1]), theta) for i in range(images.shape[0]))
            grads = privatise_gradients(per_example, clip_norm=defense.clip_norm,
                                        noise_multiplier=defense.noise_multiplier, generator=gen)
        else:
            out = functional_call(model, params, (images,))
            grads = torch.autograd.grad(F.cross_entropy(out, labels), theta)
        theta = [(t - defense.local_lr * g).detach().requires_grad_(True)
                 for t, g in zip(theta, grads)]
        sent = [s + g.detach() for s, g in zip(sent, grads)]
    sent = topk_prune(tuple(sent), defense.topk_fraction)
    return SharedUpdate(
        gradient=tuple(g.detach().cpu() for g in sent), num_examples=int(images.shape[0]),
        image_shape=tuple(int(s) for s in images.shape[1:]), local_steps=defense.local_steps,
        local_lr=defense.local_lr,
        declared={"clip_norm": defense.clip_norm, "noise_multiplier": defense.noise_multiplier,
                  "topk_fraction": defense.topk_fraction})


def secure_aggregate(updates) -> SharedUpdate:
    """What the server sees under secure aggregation: only the combined update of several sites.

    Each hospital's :class:`SharedUpdate` is a mean over its B_h X-rays; FedAvg combines them
    weighted by B_h, and a secure-aggregation protocol (e.g. Bonawitz et al. 2017) lets the
    server learn that weighted sum and nothing else. The result is one SharedUpdate over all
    Σ B_h X-rays: the mean gradient of the union of the batches, exactly as if one client had
    sent it. (The masking protocol itself is the federated package's concern; this is its
    output.) Updates must come from the same model and protocol (shapes, local steps, lr).
    """
    updates = list(updates)
    if not updates or not all(isinstance(u, SharedUpdate) for u in updates):
        raise InvalidParameterError(
            "`updates` must be a non-empty list of SharedUpdate (one per hospital, from "
            f"client_update); got {[type(u).__name__ for u in updates] or 'an empty list'}.")
    first = updates[0]
    for u in updates[1:]:
        if ([tuple(g.shape) for g in u.gradient] != [tuple(g.shape) for g in first.gradient]
                or u.image_shape != first.image_shape or u.local_steps != first.local_steps
                or u.local_lr != first.local_lr):
            raise InvalidParameterError(
                "`updates` must all come from the same model and protocol (same tensor shapes, "
                "image shape, local steps and learning rate); they differ. Aggregate updates of "
                "one federated round only.")
    total = sum(u.num_examples for u in updates)
    gradient = tuple(sum(u.num_examples * u.gradient[i] for u in updates) / total
                     for i in range(len(first.gradient)))
    declared = dict(first.declared)
    declared["securely_aggregated_sites"] = len(updates)
    return SharedUpdate(gradient=gradient, num_examples=total, image_shape=first.image_shape,
                        local_steps=first.local_steps, local_lr=first.local_lr,
                        declared=declared)


def _num_outputs(model: nn.Module, images: torch.Tensor) -> int:
    with torch.no_grad():
        return int(model(images[:1].to(next(model.parameters()).device)).shape[1])


def select_batch(images: torch.Tensor, labels, *, batch_size: int, index: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The client's batch: ``batch_size`` consecutive X-rays starting at ``index`` (wrapping).

    images (N, 1, H, W) in [0, 1], labels (N,). Raises when ``batch_size`` > N.
    """
    images = check_images(images)
    n = images.shape[0]
    batch_size = check_int("batch_size", batch_size, low=1)
    if batch_size > n:
        raise InvalidParameterError(f"`batch_size` must be at most the number of images ({n}); "
                                    f"got {batch_size}. Choose a smaller batch or load more data.")
    index = check_int("index", index, low=0, high=n - 1)
    labels = as_labels(labels)
    if labels.numel() != n:
        raise InvalidParameterError(f"`labels` must hold one label per image ({n}); got "
                                    f"{labels.numel()}.")
    idx = torch.arange(index, index + batch_size) % n
    return images[idx], labels[idx]


__all__ = ["SharedUpdate", "as_labels", "check_images", "client_update", "model_params",
           "secure_aggregate", "select_batch", "simulate_update"]
