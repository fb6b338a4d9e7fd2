"""Drawing helpers the lab widgets share (no mathematics: only how values reach a plot)."""

from __future__ import annotations

import numpy as np


def clip_log(values, floor: float = 1e-5) -> np.ndarray:
    """Log axes cannot show 0: draw zeros (and anything below ``floor``) at the axis floor."""
    return np.maximum(np.asarray(values, dtype=float), floor)


def band_polygon(band, floor: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """x, y of a closed outline of a RocBand (upper edge left to right, lower edge back) for a
    plotly ``fill='toself'`` trace on log axes (zeros drawn at ``floor``)."""
    x = np.r_[band.fpr, band.fpr[::-1]]
    y = np.r_[band.tpr_high, band.tpr_low[::-1]]
    return clip_log(x, floor), clip_log(y, floor)


__all__ = ["band_polygon", "clip_log"]
