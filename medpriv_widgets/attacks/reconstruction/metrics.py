"""Scoring a reconstruction against the truth — kept apart from the attack, which never sees it.

PSNR and SSIM come from scikit-image (data range 1, images in [0, 1]). For a batch, the
reconstruction is an unordered set, so each true image is matched to its best reconstruction
(Hungarian assignment on the MSE) before averaging; :func:`score_images` gives the per-image
numbers. A reconstruction with NaN pixels, or no image at all, is an error, never a score.

The verdict
-----------
``verdict(psnr, ssim)`` is "recognisable" when PSNR ≥ 25 dB **and** SSIM ≥ 0.7, otherwise
"not recognisable". Why these numbers: all chest X-rays share their layout, so a guess made with
no attack at all already scores well. Measured on the 64 px Kermany test split (200 X-rays):
the *average* training X-ray scores median 18.3 dB / SSIM 0.45 (99th percentile 22.8 dB / 0.61),
and the *most similar other child's* X-ray (the best an attacker with a large archive could
guess, 50 X-rays vs 2,000) median 20.5 dB / 0.48, 99th percentile 24.5 dB / 0.61. A
reconstruction above 25 dB and 0.7 is closer to this child's X-ray than any look-alike: it shows
the child's own anatomy (outline, heart shadow, opacities, markers). At 30 dB it is nearly
indistinguishable. The rule is a teaching threshold, not a proof of safety: "not recognisable"
does not mean private, and an image at 20 dB may still reveal the diagnosis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..._validate import check_real
from ...errors import InvalidParameterError
from .threat import check_images

PSNR_RECOGNISABLE_DB = 25.0
SSIM_RECOGNISABLE = 0.7
#: PSNR given to a reconstruction identical to the truth (the true value is +∞).
PSNR_IDENTICAL_DB = 100.0


class ImageScores(NamedTuple):
    """Per-image scores of a batch after matching, in the order of the true images.

    psnr : tuple of B floats (dB); ssim : tuple of B floats; match : tuple of B ints, the index
    of the reconstruction matched to each true image.
    """

    psnr: tuple[float, ...]
    ssim: tuple[float, ...]
    match: tuple[int, ...]


def _as_numpy(images: torch.Tensor, name: str) -> np.ndarray:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0 \
            or images.shape[1] != 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InvalidParameterError(
            f"`{name}` must be a tensor of shape (B, 1, H, W) with B ≥ 1; got {shape}. An "
            f"attack that produced no image has nothing to score.")
    arr = images.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(arr).all()):
        raise InvalidParameterError(
            f"`{name}` holds NaN or infinite pixels, so it has no PSNR or SSIM (a score of such "
            f"an image would be meaningless, not 'perfect'). The attack diverged: try another "
            f"attack, fewer iterations or a different seed.")
    return arr.clamp(0, 1).numpy()[:, 0]


def _matched(reconstruction: torch.Tensor, truth: torch.Tensor
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matched reconstructions, truth, match index), one row per true image."""
    r, t = _as_numpy(reconstruction, "reconstruction"), _as_numpy(truth, "truth")
    if r.shape != t.shape:
        raise InvalidParameterError(f"`reconstruction` must have the truth's shape "
                                    f"{tuple(truth.shape)}; got {tuple(reconstruction.shape)}.")
    if r.shape[0] == 1:
        return r, t, np.zeros(1, dtype=int)
    cost = ((r[:, None] - t[None]) ** 2).mean(axis=(2, 3))
    rows, cols = linear_sum_assignment(cost)
    order = rows[np.argsort(cols)]
    return r[order], t, order


def mse(reconstruction: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean squared error over all pixels of matched pairs (images in [0, 1])."""
    r, t, _ = _matched(reconstruction, truth)
    return float(np.mean((r - t) ** 2))


def psnr(reconstruction: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean PSNR in dB over matched pairs (data range 1); identical images give 100 (not +inf)."""
    return float(np.mean(score_images(reconstruction, truth).psnr))


def ssim(reconstruction: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean SSIM over matched pairs (scikit-image, data range 1, 7×7 window)."""
    return float(np.mean(score_images(reconstruction, truth).ssim))


def _psnr1(a: np.ndarray, b: np.ndarray) -> float:
    if np.array_equal(a, b):
        return PSNR_IDENTICAL_DB
    return float(min(PSNR_IDENTICAL_DB, peak_signal_noise_ratio(b, a, data_range=1.0)))


def _ssim1(a: np.ndarray, b: np.ndarray) -> float:
    win = min(7, a.shape[-1] - (1 - a.shape[-1] % 2))
    return float(structural_similarity(b, a, data_range=1.0, win_size=win))


def score_images(reconstruction: torch.Tensor, truth: torch.Tensor) -> ImageScores:
    """PSNR and SSIM of every true image against its matched reconstruction.

    reconstruction, truth : (B, 1, H, W) in [0, 1]. A batch's reconstruction is an unordered
    set: each true image is paired with one reconstruction by a Hungarian assignment that
    minimises the total MSE. Raises InvalidParameterError for an empty or non-finite
    reconstruction (an attack that failed has no score) or mismatched shapes.
    """
    r, t, order = _matched(reconstruction, truth)
    return ImageScores(tuple(_psnr1(a, b) for a, b in zip(r, t)),
                       tuple(_ssim1(a, b) for a, b in zip(r, t)),
                       tuple(int(i) for i in order))


def make_scorer(truth: torch.Tensor) -> Callable[[torch.Tensor], tuple[float, float]]:
    """A callback ``score(reconstruction) -> (psnr_db, ssim)`` holding the truth (B, 1, H, W).

    Pass it to :func:`~.optimise.reconstruct` as ``score=``: the attack only hands its current
    guess to it and never reads the result, so the truth cannot steer the optimisation. The
    numbers are means over the batch after matching (:func:`score_images`).
    """
    truth = check_images(truth, name="truth").detach().cpu()

    def score(reconstruction: torch.Tensor) -> tuple[float, float]:
        s = score_images(reconstruction, truth)
        return float(np.mean(s.psnr)), float(np.mean(s.ssim))

    return score


def verdict(psnr_db: float, ssim_value: float) -> str:
    """'recognisable' if PSNR ≥ 25 dB and SSIM ≥ 0.7, else 'not recognisable' (see module doc).

    Both numbers must be finite: a NaN score means nothing was scored, and that is an error,
    not a verdict.
    """
    p = check_real("psnr_db", psnr_db, hint="Score the reconstruction first (make_scorer).")
    s = check_real("ssim_value", ssim_value, low=-1.0, high=1.0,
                   hint="Score the reconstruction first (make_scorer).")
    return ("recognisable" if p >= PSNR_RECOGNISABLE_DB and s >= SSIM_RECOGNISABLE
            else "not recognisable")


def share_at_least(values, threshold: float) -> float:
    """Share of ``values`` (per-image PSNRs) that are ≥ ``threshold``; NaN refused."""
    check_real("threshold", threshold)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") \
            or getattr(values, "ndim", 1) != 1:
        raise InvalidParameterError(f"`values` must be a flat sequence of scores (one per "
                                    f"image); got {type(values).__name__}.")
    try:
        vals = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InvalidParameterError("`values` must hold numbers (PSNRs in dB).") from None
    vals = [check_real("values", v) for v in vals]
    if not vals:
        raise InvalidParameterError("`values` must hold at least one score; got none.")
    return sum(v >= threshold for v in vals) / len(vals)
