"""One grey-scale image in [0, 1] → PNG bytes, for ``ipywidgets.Image`` in every lab widget.

Pure and small on purpose: no widgets, no state. Small X-rays (28 px) are shown enlarged; the
browser should keep the pixels sharp rather than blur them, so widgets add
:data:`PIXELATED_CLASS` to the image and put :data:`PIXELATED_CSS` (a ``<style>`` element) once
in their layout.
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import InvalidParameterError

#: CSS class that asks the browser for nearest-neighbour enlargement (sharp pixels).
PIXELATED_CLASS = "medpriv-pixelated"
#: The rule for that class; put it in an ``ipywidgets.HTML`` next to the images.
PIXELATED_CSS = f"<style>.{PIXELATED_CLASS}{{image-rendering:pixelated;}}</style>"


def to_png(image, *, vmin: float = 0.0, vmax: float = 1.0) -> bytes:
    """Encode one grey-scale image as PNG bytes.

    Parameters
    ----------
    image : torch.Tensor or array-like
        Shape (H, W), or (1, H, W) / (1, 1, H, W) (a channel or batch axis of length one).
        Values in [vmin, vmax]; anything outside is clipped (so a reconstruction that overshoots
        still displays). NaN or infinite values are refused.
    vmin, vmax : float
        The intensities shown as black and white (default 0 and 1, the package's pixel range).

    Returns
    -------
    bytes
        An 8-bit PNG of H × W pixels, for ``ipywidgets.Image(value=..., format="png")``.
    """
    # Lazy imports keep ``import medpriv_widgets.widgets.images`` cheap and torch optional here.
    import matplotlib.image as mpimg

    if hasattr(image, "detach"):  # torch tensor, possibly on a GPU or requiring grad
        image = image.detach().cpu().numpy()
    arr = np.asarray(image, dtype=np.float64)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidParameterError(
            f"`image` must be one grey-scale image of shape (H, W) or (1, H, W); "
            f"got shape {tuple(np.shape(image))}.")
    if not np.isfinite(arr).all():
        raise InvalidParameterError(
            "`image` must contain only finite numbers; got NaN or infinite values. "
            "Check the computation that produced it.")
    if not vmax > vmin:
        raise InvalidParameterError(f"`vmax` must be greater than `vmin`; got vmin={vmin!r}, "
                                    f"vmax={vmax!r}.")
    buf = io.BytesIO()
    mpimg.imsave(buf, np.clip(arr, vmin, vmax), cmap="gray", vmin=vmin, vmax=vmax, format="png")
    return buf.getvalue()
