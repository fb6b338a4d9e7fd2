"""Scoring a reconstruction against the truth — kept apart from the attack, which never sees it.

PSNR and SSIM come from scikit-image (data range 1, images in [0, 1]). For a batch, the
reconstruction is an unordered set, so each true image is matched to its best reconstruction
(Hungarian assignment on the MSE) before averaging.

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

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .threat import check_images

PSNR_RECOGNISABLE_DB = 25.0
SSIM_RECOGNISABLE = 0.7


def _as_numpy(images: torch.Tensor) -> np.ndarray:
    return images.detach().to("cpu", torch.float64).clamp(0, 1).numpy()[:, 0]


def mse(reconstruction: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean squared error over all pixels of matched pairs (images in [0, 1])."""
    r, t = _matched(reconstruction, truth)
    return float(np.mean((r - t) ** 2))


def psnr(reconstruction: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean PSNR in dB over matched pairs (data range 1); identical images give 100 (not +inf)."""
    r, t = _matched(reconstruction, truth)
    return float(np.mean([_psnr1(a, b) for a, b in zip(r, t)]))


def ssim(reconstruction: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean SSIM over matched pairs (scikit-image, data range 1, 7×7 window)."""
    r, t = _matched(reconstruction, truth)
    return float(np.mean([_ssim1(a, b) for a, b in zip(r, t)]))


def _psnr1(a: np.ndarray, b: np.ndarray) -> float:
    if np.array_equal(a, b):
        return 100.0
    return float(min(100.0, peak_signal_noise_ratio(b, a, data_range=1.0)))


def _ssim1(a: np.ndarray, b: np.ndarray) -> float:
    win = min(7, a.shape[-1] - (1 - a.shape[-1] % 2))
    return float(structural_similarity(b, a, data_range=1.0, win_size=win))


def _matched(reconstruction: torch.Tensor, truth: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    r, t = _as_numpy(reconstruction), _as_numpy(truth)
    if r.shape != t.shape:
        from ...errors import InvalidParameterError
        raise InvalidParameterError(f"`reconstruction` must have the truth's shape "
                                    f"{tuple(truth.shape)}; got {tuple(reconstruction.shape)}.")
    if r.shape[0] == 1:
        return r, t
    cost = ((r[:, None] - t[None]) ** 2).mean(axis=(2, 3))
    rows, cols = linear_sum_assignment(cost)
    order = rows[np.argsort(cols)]
    return r[order], t


def make_scorer(truth: torch.Tensor) -> Callable[[torch.Tensor], tuple[float, float]]:
    """A callback ``score(reconstruction) -> (psnr_db, ssim)`` holding the truth (B, 1, H, W).

    Pass it to :func:`~.optimise.reconstruct` as ``score=``: the attack only hands its current
    guess to it and never reads the result, so the truth cannot steer the optimisation.
    """
    truth = check_images(truth, name="truth").detach().cpu()

    def score(reconstruction: torch.Tensor) -> tuple[float, float]:
        r, t = _matched(reconstruction, truth)
        return (float(np.mean([_psnr1(a, b) for a, b in zip(r, t)])),
                float(np.mean([_ssim1(a, b) for a, b in zip(r, t)])))

    return score


def verdict(psnr_db: float, ssim_value: float) -> str:
    """'recognisable' if PSNR ≥ 25 dB and SSIM ≥ 0.7, else 'not recognisable' (see module doc)."""
    ok = (psnr_db is not None and ssim_value is not None and np.isfinite(psnr_db)
          and psnr_db >= PSNR_RECOGNISABLE_DB and ssim_value >= SSIM_RECOGNISABLE)
    return "recognisable" if ok else "not recognisable"
