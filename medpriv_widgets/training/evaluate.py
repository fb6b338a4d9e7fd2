"""Diagnostic metrics of a binary classifier: pneumonia (label 1) is the positive class.

scikit-learn is not a dependency, so the AUC is the Mann–Whitney rank formula
(ties get average ranks, which counts a tied positive/negative pair as ½)::

    AUC = (sum of the positives' ranks − n₁(n₁+1)/2) / (n₁ · n₀)

i.e. the probability that a random pneumonia image scores higher than a random normal one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import check_int, check_real
from ..errors import InvalidParameterError
from ..models.inputs import check_images
from ..stats import rank_auc


def _as_1d(name: str, values, *, numbers: bool = True) -> np.ndarray:
    try:
        arr = (values.detach().cpu().numpy() if isinstance(values, torch.Tensor)
               else np.asarray(values))
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1:
        raise InvalidParameterError(f"`{name}` must be a one-dimensional array; got "
                                    f"{getattr(arr, 'shape', type(values).__name__)}.")
    if numbers and arr.dtype.kind not in "biuf":
        raise InvalidParameterError(f"`{name}` must hold numbers; got dtype {arr.dtype}.")
    return arr


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve; NaN when only one class is present.

    Parameters
    ----------
    scores : array-like (N,)
        Higher = more likely pneumonia (probabilities or logits).
    labels : array-like (N,) of {0, 1}
    """
    s = _as_1d("scores", scores).astype(np.float64)
    y = _as_1d("labels", labels)
    if s.shape != y.shape:
        raise InvalidParameterError(f"`scores` and `labels` must have the same length; got "
                                    f"{s.shape[0]} and {y.shape[0]}.")
    if not np.isin(y, (0, 1)).all():
        raise InvalidParameterError("`labels` must be 0 (normal) or 1 (pneumonia).")
    if not np.isfinite(s).all():
        raise InvalidParameterError("`scores` contain NaN or infinite values; the model diverged. "
                                    "Try a smaller learning rate.")
    return rank_auc(s, y == 1)


def binary_metrics(probs, labels, *, threshold: float = 0.5) -> dict:
    """AUC plus threshold metrics (predict pneumonia when ``prob >= threshold``).

    Returns a dict of floats: auc, accuracy, balanced_accuracy, sensitivity (true-positive
    rate: pneumonia found), specificity (true-negative rate: normal cleared), threshold, and
    ints n, n_positive. A rate whose denominator is 0 is NaN.
    """
    threshold = check_real("threshold", threshold, low=0.0, high=1.0)
    p = _as_1d("probs", probs).astype(np.float64)
    y = _as_1d("labels", labels).astype(np.int64)
    pred = p >= threshold
    pos, neg = y == 1, y == 0
    tp, tn = int((pred & pos).sum()), int((~pred & neg).sum())
    n1, n0 = int(pos.sum()), int(neg.sum())
    sens = tp / n1 if n1 else math.nan
    spec = tn / n0 if n0 else math.nan
    return {
        "auc": roc_auc(p, y),
        "accuracy": (tp + tn) / len(y) if len(y) else math.nan,
        "balanced_accuracy": (sens + spec) / 2.0,
        "sensitivity": sens,
        "specificity": spec,
        "threshold": threshold,
        "n": int(len(y)),
        "n_positive": n1,
    }


def _check_model(model) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise InvalidParameterError(f"`model` must be a torch model (e.g. from make_model); got "
                                    f"{type(model).__name__}.")
    if next(iter(model.parameters()), None) is None:
        raise InvalidParameterError("`model` must have parameters (a trained classifier); got a "
                                    "model without any.")
    return model


def _check_model_images(model: torch.nn.Module, images) -> torch.Tensor:
    """The images a model is about to score: its layout, and every pixel finite."""
    weight = next(iter(model.parameters()))
    size = getattr(model, "size", None)
    if isinstance(size, int):
        return check_images(images, size=size, dtype=weight.dtype)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise InvalidParameterError(
            f"`images` must be a float tensor of shape (N, channels, H, W); got "
            f"{type(images).__name__}{' ' + str(tuple(images.shape)) if isinstance(images, torch.Tensor) else ''}.")
    if images.numel() and not bool(torch.isfinite(images).all()):
        raise InvalidParameterError("`images` must hold finite pixel values; got NaN or infinite "
                                    "values. Check how the images were loaded or normalised.")
    return images


@torch.no_grad()
def predict_proba(model: torch.nn.Module, images: torch.Tensor, *, batch_size: int = 512,
                  device: torch.device | None = None) -> np.ndarray:
    """P(pneumonia) for images (N, 1, S, S) in [0, 1]; returns float64 array (N,).

    Images of the wrong size, dtype or channel count, or with NaN pixels, are refused with a
    sentence (:func:`~medpriv_widgets.models.inputs.check_images`).
    """
    check_int("batch_size", batch_size, low=1)
    _check_model(model)
    _check_model_images(model, images)
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [torch.softmax(model(images[i:i + batch_size].to(device)), dim=1)[:, 1].cpu()
               for i in range(0, images.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def evaluate(model: torch.nn.Module, data, *, threshold: float = 0.5, batch_size: int = 512) -> dict:
    """Metrics of ``model`` on a :class:`~medpriv_widgets.data.ChestXrayData` (see binary_metrics)."""
    images, labels = getattr(data, "images", None), getattr(data, "labels", None)
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise InvalidParameterError(
            f"`data` must be a ChestXrayData (images and labels, e.g. from load_dataset); got "
            f"{type(data).__name__}.")
    probs = predict_proba(model, images, batch_size=batch_size)
    return binary_metrics(probs, labels.numpy(), threshold=threshold)
