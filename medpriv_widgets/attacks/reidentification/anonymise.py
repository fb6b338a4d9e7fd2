""""Anonymising" an X-ray the way a data export might: crop the borders, blur the corners.

Side markers, hospital names and dates are burnt into the corners of many radiographs; an export
crops the borders and blurs the corners. That removes the text but not the anatomy — which is
what identifies the patient (the lesson measures it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..._validate import check_real
from ...errors import InvalidParameterError
from ..reconstruction.threat import check_images


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    return k


def anonymise_images(images: torch.Tensor, *, crop: float = 0.1, corner: float = 0.25,
                     sigma: float = 2.0) -> torch.Tensor:
    """Crop ``crop`` of each border (resized back), then blur each ``corner``-sized corner.

    Parameters
    ----------
    images : float tensor (N, 1, S, S) in [0, 1], N ≥ 1, S ≥ 8
    crop : share of the side removed at every border, in [0, 0.3]
    corner : side of the blurred corner squares as a share of the image, in [0, 0.5]
    sigma : Gaussian blur in pixels (> 0)

    Returns
    -------
    Tensor of the same shape.
    """
    crop = check_real("crop", crop, low=0.0, high=0.3)
    corner = check_real("corner", corner, low=0.0, high=0.5)
    sigma = check_real("sigma", sigma, low=0.0, low_inclusive=False, high=20.0)
    x = check_images(images)
    s = x.shape[-1]
    if s < 8:
        raise InvalidParameterError(f"`images` must be at least 8 px wide to crop and blur; got "
                                    f"{s} px. Pass the X-rays at their loaded size.")
    c = int(round(crop * s))
    if c > 0:
        x = F.interpolate(x[..., c:s - c, c:s - c], size=(s, s), mode="bilinear",
                          align_corners=False)
    k = _gaussian_kernel(sigma).to(x)
    r = k.numel() // 2
    blurred = F.pad(x, (r, r, r, r), mode="replicate")
    blurred = F.conv2d(blurred, k.view(1, 1, 1, -1))
    blurred = F.conv2d(blurred, k.view(1, 1, -1, 1))
    m = int(round(corner * s))
    if m == 0:
        return x.clone()
    mask = torch.zeros(1, 1, s, s, dtype=torch.bool, device=x.device)
    mask[..., :m, :m] = mask[..., :m, -m:] = mask[..., -m:, :m] = mask[..., -m:, -m:] = True
    return torch.where(mask, blurred, x)


__all__ = ["anonymise_images"]
