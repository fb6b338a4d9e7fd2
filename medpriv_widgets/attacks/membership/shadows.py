"""Many small models trained at once: the shadow models of a membership-inference attack.

LiRA needs K models, each trained on its own half of a population, so that for every example
some models saw it ("in") and some did not ("out"). :class:`StackedModels` runs the K models as
one network with grouped convolutions (``groups=K``), one optimizer step for all of them.

Measured again on one CPU thread (2026-11-22, shared machine, CPU time per step, K = 17,
28 px, tanh, 5-step means): at the lessons' setting (width 8, batch 32) grouped 0.10 s, a
Python loop over the 17 SmallCNNs 0.16 s; width 16, batch 32: 0.29 s vs 0.31 s; width 16,
batch 64: 0.61 s vs 0.58 s (ReLU: 0.66 s vs 0.45 s). Grouped convolutions win where the
models are small (per-layer overhead dominates the loop) and keep one kernel launch per layer
on a GPU, so they stay; ``torch.func`` + ``vmap`` was 5× slower (vmap's
convolution backward on the CPU). Max-pooling is applied before the activation inside the
stacked network (the same numbers, the activation on a quarter of the values): the profile
showed tanh at ~24 % of a step before.

Halves are patient-disjoint and come in complementary pairs: model 2j trains on half A_j and
model 2j+1 on its complement, so every example is "in" for exactly half of the models (K even).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from ..._validate import check_choice, check_int, check_mask, check_positive
from ...errors import InvalidParameterError
from ...models import SUPPORTED_SIZES, SmallCNN, make_model
from ...models.inputs import check_images
from ...progress import Progress
from ...stopping import StopToken, stop_requested


def complementary_halves(patient_ids, *, n_models: int, seed: int = 0) -> np.ndarray:
    """Membership matrix for ``n_models`` models, each trained on a patient-disjoint half.

    Parameters
    ----------
    patient_ids : array of str, shape (N,)
        Patient of each image (``np.arange(N).astype(str)`` when every image is its own
        patient).
    n_models : int
        1 ≤ K ≤ 1,024. Models come in complementary pairs; an odd K gets one unpaired random
        half.

    Returns
    -------
    numpy.ndarray of bool, shape (K, N): ``in_mask[k, i]`` is True when model k trains on image i.
    No patient is ever split: all images of a patient are in or out together.
    """
    from ...data import patient_split  # the data module owns patient-aware splitting

    k = check_int("n_models", n_models, low=1, high=MAX_MODELS,
                  hint="LiRA gains little beyond 256 shadow models (Carlini et al. 2022).")
    check_int("seed", seed, low=0)
    ids = None if patient_ids is None or isinstance(patient_ids, (str, bytes)) else patient_ids
    try:
        ids = None if ids is None else np.asarray(ids)
    except (TypeError, ValueError):
        ids = None
    if ids is None or ids.ndim != 1 or ids.size == 0:
        raise InvalidParameterError(
            f"`patient_ids` must be an array of shape (N,) with one patient ID per image (use "
            f"np.arange(N).astype(str) when every image is its own patient); got "
            f"{patient_ids!r:.80}.")
    n = ids.shape[0]
    mask = np.zeros((k, n), dtype=bool)
    for j in range((k + 1) // 2):
        half_a, _half_b = patient_split(ids, fractions=(0.5, 0.5), seed=seed * 1000 + j)
        mask[2 * j, half_a] = True
        if 2 * j + 1 < k:
            mask[2 * j + 1] = ~mask[2 * j]
    return mask


#: The most shadow models one membership matrix may have (memory K·N bits, training time K).
MAX_MODELS = 1024

#: Element-wise non-decreasing activations of SmallCNN (they commute with max-pooling).
_MONOTONE = (nn.ReLU, nn.Tanh, nn.ELU)


def _augment_flip(x: torch.Tensor) -> torch.Tensor:
    return torch.flip(x, dims=(-1,))


class StackedModels(nn.Module):
    """K SmallCNNs of one architecture run as one network with grouped convolutions.

    Layer by layer, model k owns channel block k: a 3×3 convolution becomes one
    ``Conv2d(K·c_in, K·c_out, groups=K)``, GroupNorm(g, c) becomes GroupNorm(K·g, K·c) (its
    groups are contiguous channels, so they never mix models), and the final linear layer is a
    batched matrix product. The result is numerically the same network as K separate models.

    ``forward(x)`` takes x of shape (K, B, C, H, W) — each model its own batch — or (B, C, H, W)
    (the same batch for every model) and returns logits (K, B, num_classes).
    """

    def __init__(self, models: list[SmallCNN]) -> None:
        super().__init__()
        if not isinstance(models, (list, tuple)) or not models \
                or not all(isinstance(m, SmallCNN) for m in models):
            raise InvalidParameterError(
                f"`models` must be a non-empty list of SmallCNN models (make_model(...)); got "
                f"{models!r:.80}.")
        first = models[0]
        if any((m.size, m.width, m.activation, m.num_classes)
               != (first.size, first.width, first.activation, first.num_classes) for m in models):
            raise InvalidParameterError(
                "`models` must all have the same size, width, activation and number of classes "
                "to be stacked; build them with the same make_model(...) settings.")
        k = len(models)
        self.n_models = k
        self.size, self.width, self.activation = first.size, first.width, first.activation
        self.num_classes = first.num_classes
        layers: list[nn.Module] = []
        for i, layer in enumerate(first.features):
            if isinstance(layer, nn.Conv2d):
                conv = nn.Conv2d(k * layer.in_channels, k * layer.out_channels, layer.kernel_size,
                                 padding=layer.padding, groups=k)
                with torch.no_grad():
                    conv.weight.copy_(torch.cat([m.features[i].weight for m in models]))
                    conv.bias.copy_(torch.cat([m.features[i].bias for m in models]))
                layers.append(conv)
            elif isinstance(layer, nn.GroupNorm):
                gn = nn.GroupNorm(k * layer.num_groups, k * layer.num_channels, eps=layer.eps)
                with torch.no_grad():
                    gn.weight.copy_(torch.cat([m.features[i].weight for m in models]))
                    gn.bias.copy_(torch.cat([m.features[i].bias for m in models]))
                layers.append(gn)
            else:
                layers.append(copy.deepcopy(layer))
        # max-pool before the activation: the same numbers (the activations are non-decreasing,
        # so max(act(x)) = act(max(x))) with the activation evaluated on a quarter of the
        # values. Conv and GroupNorm keep their indices, so ``state_dicts`` names stay valid.
        for i in range(len(layers) - 1):
            if isinstance(layers[i], _MONOTONE) and isinstance(layers[i + 1], nn.MaxPool2d):
                layers[i], layers[i + 1] = layers[i + 1], layers[i]
        self.features = nn.Sequential(*layers)
        self.channels = first.classifier.in_features
        self.weight = nn.Parameter(torch.stack([m.classifier.weight.detach().t() for m in models]).clone())
        self.bias = nn.Parameter(torch.stack([m.classifier.bias.detach() for m in models]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.n_models
        if x.dim() == 4:
            x = x.unsqueeze(0).expand(k, *x.shape)
        _, b, c, h, w = x.shape
        z = x.permute(1, 0, 2, 3, 4).reshape(b, k * c, h, w)
        z = self.features(z).mean(dim=(2, 3)).view(b, k, self.channels)
        return torch.einsum("bkc,kco->kbo", z, self.weight) + self.bias[:, None, :]

    def state_dicts(self) -> list[dict]:
        """One ordinary SmallCNN ``state_dict`` per model (CPU tensors)."""
        k = self.n_models
        out: list[dict] = [{} for _ in range(k)]
        for i, layer in enumerate(self.features):
            if isinstance(layer, (nn.Conv2d, nn.GroupNorm)):
                for name in ("weight", "bias"):
                    for j, chunk in enumerate(getattr(layer, name).detach().cpu().chunk(k)):
                        out[j][f"features.{i}.{name}"] = chunk.clone()
        for j in range(k):
            out[j]["classifier.weight"] = self.weight[j].detach().cpu().t().clone()
            out[j]["classifier.bias"] = self.bias[j].detach().cpu().clone()
        return out

    @classmethod
    def from_state_dicts(cls, state_dicts: list[dict], *, size: int, width: int = 16,
                         activation: str = "relu") -> "StackedModels":
        models = []
        for sd in state_dicts:
            m = make_model(size=size, seed=0, width=width, activation=activation)
            m.load_state_dict(sd)
            models.append(m)
        return cls(models)


def train_stacked(*, images: torch.Tensor, labels: torch.Tensor, in_mask: np.ndarray,
                  size: int, width: int = 16, activation: str = "tanh", epochs: int = 10,
                  batch_size: int = 64,
                  lr: float = 2e-3, schedule: str = "constant", seed: int = 0,
                  device: torch.device | None = None,
                  stop: StopToken | None = None) -> Iterator[Progress]:
    """Train K SmallCNNs at once, model k on the images where ``in_mask[k]`` is True.

    Parameters
    ----------
    images : float tensor (N, 1, size, size) in [0, 1]; labels : int64 tensor (N,).
    in_mask : bool array (K, N).
    epochs : passes over each model's own half (steps = epochs · max_k |half_k| / batch_size).
    lr : Adam learning rate (no weight decay: shadow and target models are meant to memorise
        the way an ordinary non-private model does).
    schedule : 'constant', or 'cosine' (the rate decays from ``lr`` to 0 along a half cosine
        over all steps, so training settles into a low training loss in fewer epochs).

    Yields
    ------
    :class:`~medpriv_widgets.progress.Progress` about every 1/50 of training (``done``: optimizer
    steps, the message gives the mean loss over the models). The last record's ``partial`` is
    the list of K SmallCNN state dicts; when ``stop`` ended the run early it has
    ``stopped=True`` and holds the models as trained so far.
    """
    check_int("epochs", epochs, low=1)
    check_int("batch_size", batch_size, low=1)
    check_positive("lr", lr)
    check_choice("schedule", schedule, ("constant", "cosine"))
    check_int("seed", seed, low=0)
    images, labels = _check_scoring_inputs(images, labels, size=size, batch_size=batch_size)
    in_mask = check_mask("in_mask", in_mask, ndim=2,
                         hint="Use complementary_halves(...) to make it.")
    if in_mask.shape[1] != len(labels) or not 1 <= in_mask.shape[0] <= MAX_MODELS:
        raise InvalidParameterError(f"`in_mask` must have shape (K, N={len(labels)}) with "
                                    f"1 ≤ K ≤ {MAX_MODELS:,}; got {in_mask.shape}.")
    if (in_mask.sum(1) == 0).any():
        raise InvalidParameterError("Every shadow model needs at least one training image; "
                                    "one row of `in_mask` is all False.")
    device = device or torch.device("cpu")
    n_models = in_mask.shape[0]
    models = [make_model(size=size, seed=seed * 1000 + k, width=width, activation=activation)
              for k in range(n_models)]
    stacked = StackedModels(models).to(device)
    opt = torch.optim.Adam(stacked.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    members = [torch.as_tensor(np.flatnonzero(row)) for row in in_mask]
    sizes = torch.tensor([len(m) for m in members])
    steps_per_epoch = max(1, int(np.ceil(int(sizes.max()) / batch_size)))
    total = epochs * steps_per_epoch
    images_d, labels_d = images.to(device), labels.to(device)
    report_every = max(1, total // 50)
    title = f"{n_models} models at once"
    loss_fn = nn.CrossEntropyLoss(reduction="mean")
    stopped = False
    step = 0
    for epoch in range(epochs):
        # Each model walks through its own random permutation of its own half.
        perms = [m[torch.randperm(len(m), generator=gen)] for m in members]
        for s in range(steps_per_epoch):
            if stop_requested(stop):
                stopped = True
                break
            idx = torch.stack([p[(torch.arange(batch_size) + s * batch_size) % len(p)] for p in perms])
            x = images_d[idx.to(device)]            # (K, B, 1, H, W)
            y = labels_d[idx.to(device)]            # (K, B)
            logits = stacked(x)                     # (K, B, 2)
            # Sum over models of each model's mean loss: gradients stay per model.
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)) * n_models
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            opt.step()
            step += 1
            if (step % report_every == 0 or step == total) and step < total:
                yield Progress(title, step, total, f"step {step} of {total} (epoch {epoch + 1} of "
                               f"{epochs}), mean loss {float(loss.detach()) / n_models:.3f}")
        if stopped:
            break
    words = f"stopped after {step} of {total} steps" if stopped else f"{n_models} models trained"
    yield Progress(title, step, total, words, partial=stacked.state_dicts(), stopped=stopped)


def _check_labels(labels, n: int, num_classes: int) -> torch.Tensor:
    """``labels`` as a long tensor (N,) of class indices in [0, num_classes)."""
    want = (f"a tensor of {n} class indices in [0, {num_classes - 1}], one per image "
            f"(torch.as_tensor(labels, dtype=torch.long))")
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.is_complex() \
            or labels.dtype == torch.bool:
        raise InvalidParameterError(f"`labels` must be {want}; got {_describe(labels)}.")
    if labels.ndim != 1 or labels.shape[0] != n:
        raise InvalidParameterError(f"`labels` must be {want}; got shape {tuple(labels.shape)}.")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise InvalidParameterError(f"`labels` must be {want}; got values from "
                                    f"{int(labels.min())} to {int(labels.max())}.")
    return labels.long()


def _describe(value) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{value!r:.80}"


def logit_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """LiRA's score: log(p_y / (1 − p_y)) of the true class, computed stably from logits.

    logits float tensor (..., N, C) with C ≥ 2, labels long tensor (N,) of class indices
    → (..., N). Equals z_y − logsumexp(z_other).
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() \
            or logits.ndim < 2 or logits.shape[-1] < 2:
        raise InvalidParameterError(
            f"`logits` must be a float tensor of shape (..., N, C) with C ≥ 2 classes (a "
            f"model's output); got {_describe(logits)}.")
    labels = _check_labels(labels, logits.shape[-2], logits.shape[-1])
    return _logit_confidence(logits, labels)


def _logit_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    y = labels.view(*([1] * (logits.dim() - 2)), -1, 1).expand(*logits.shape[:-1], 1)
    z_y = logits.gather(-1, y).squeeze(-1)
    others = logits.scatter(-1, y, float("-inf"))
    return z_y - torch.logsumexp(others, dim=-1)


@torch.no_grad()
def stacked_scores(*, state_dicts: list[dict], images: torch.Tensor, labels: torch.Tensor,
                   size: int, width: int = 16, activation: str = "tanh", augment: bool = False,
                   batch_size: int = 64,
                   device: torch.device | None = None) -> np.ndarray:
    """Scores of every model on every image: array (K, N, A), A = 2 with the horizontal flip.

    Each score is :func:`logit_confidence` (float64). A = 1 when ``augment`` is False.
    ``images``: float32 tensor (N, 1, size, size), finite; ``labels``: long tensor (N,).
    """
    images, labels = _check_scoring_inputs(images, labels, size=size, batch_size=batch_size)
    if not isinstance(state_dicts, (list, tuple)) or not state_dicts \
            or not all(isinstance(sd, dict) for sd in state_dicts):
        raise InvalidParameterError(
            f"`state_dicts` must be a non-empty list of model state dicts (the last record's "
            f"`partial` of train_stacked); got {_describe(state_dicts)}.")
    device = device or torch.device("cpu")
    stacked = StackedModels.from_state_dicts(state_dicts, size=size, width=width,
                                             activation=activation).to(device).eval()
    views = [lambda x: x] + ([_augment_flip] if augment else [])
    out = np.zeros((len(state_dicts), len(labels), len(views)))
    for start in range(0, len(labels), batch_size):
        xb = images[start:start + batch_size].to(device)
        yb = labels[start:start + batch_size].to(device)
        for a, view in enumerate(views):
            logits = stacked(view(xb))              # (K, B, 2)
            out[:, start:start + len(yb), a] = _logit_confidence(logits, yb).double().cpu().numpy()
    return out


@torch.no_grad()
def model_scores(*, state_dict: dict, images: torch.Tensor, labels: torch.Tensor, size: int,
                 width: int = 16, activation: str = "tanh", augment: bool = False,
                 batch_size: int = 256, device: torch.device | None = None) -> np.ndarray:
    """Scores of one SmallCNN (given by its ``state_dict``) on every image: array (N, A).

    Like :func:`stacked_scores` for a single model, but through an ordinary SmallCNN, so flags
    stored in the ``state_dict`` (per-image standardisation of the DP-SGD recipe) are honoured.
    """
    images, labels = _check_scoring_inputs(images, labels, size=size, batch_size=batch_size)
    if not isinstance(state_dict, dict):
        raise InvalidParameterError(f"`state_dict` must be a model's state dict; got "
                                    f"{_describe(state_dict)}.")
    device = device or torch.device("cpu")
    model = make_model(size=size, seed=0, width=width, activation=activation)
    model.load_state_dict(state_dict)
    model = model.to(device).eval()
    views = [lambda x: x] + ([_augment_flip] if augment else [])
    out = np.zeros((len(labels), len(views)))
    for start in range(0, len(labels), batch_size):
        xb = images[start:start + batch_size].to(device)
        yb = labels[start:start + batch_size].to(device)
        for a, view in enumerate(views):
            out[start:start + len(yb), a] = _logit_confidence(model(view(xb)), yb).double().cpu().numpy()
    return out


def _check_scoring_inputs(images, labels, *, size, batch_size) -> tuple[torch.Tensor, torch.Tensor]:
    size = check_choice("size", size, SUPPORTED_SIZES, hint="It is the image side in pixels.")
    check_int("batch_size", batch_size, low=1)
    images = check_images(images, size=size)
    return images, _check_labels(labels, images.shape[0], 2)
