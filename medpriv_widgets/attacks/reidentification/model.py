"""A small embedding CNN: an X-ray in, a unit vector out; the same patient's X-rays end up close.

Four stride-2 blocks (conv–BatchNorm–ReLU twice) with 16, 32, 64, 128 channels, global average
pooling and a linear map to ``dim`` numbers, L2-normalised. About 0.3 M parameters and 4 M
multiply-adds per 64 px image: trainable on two CPU cores in minutes. Packhäuser et al. (2022)
used a siamese ResNet-50 at 256 px on 112,120 images; this is the same idea at teaching scale.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..._validate import check_int, check_positive
from ...errors import InvalidParameterError


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True))


class EmbeddingNet(nn.Module):
    """(N, 1, S, S) images in [0, 1] → (N, dim) unit vectors (cosine similarity = dot product)."""

    def __init__(self, *, width: int = 16, dim: int = 128) -> None:
        super().__init__()
        w = check_int("width", width, low=1, high=256,
                      hint="It is the first block's channels (16 trains in minutes on a CPU).")
        dim = check_int("dim", dim, low=1, high=4096,
                        hint="It is the length of the embedding vector (128 is the default).")
        self.features = nn.Sequential(_block(1, w), _block(w, 2 * w), _block(2 * w, 4 * w),
                                      _block(4 * w, 8 * w))
        self.head = nn.Linear(8 * w, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features((x - 0.5) / 0.25)
        return F.normalize(self.head(x.mean(dim=(2, 3))), dim=1)


def contrastive_loss(z: torch.Tensor, labels: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020): each image's other images of the same
    patient in the batch are its positives, every other image a negative.

    ``z``: float tensor (N, D) of embeddings; ``labels``: tensor (N,) of patient numbers;
    ``temperature`` > 0. Returns a scalar tensor.
    """
    temperature = check_positive("temperature", temperature, hint="0.1 is the usual value.")
    if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.ndim != 2 \
            or z.shape[0] < 1:
        raise InvalidParameterError(f"`z` must be a float tensor (N, D) of embeddings with "
                                    f"N ≥ 1; got {_describe(z)}.")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.shape[0] != z.shape[0] \
            or labels.is_floating_point() or labels.is_complex():
        raise InvalidParameterError(f"`labels` must be an integer tensor with one patient number "
                                    f"per embedding ({z.shape[0]}); got {_describe(labels)}.")
    sim = z @ z.T / temperature
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    return -((log_prob * pos).sum(1) / pos.sum(1).clamp(min=1)).mean()


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{value!r:.80}"


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random zoom (85–100 %), shift (±8 %), rotation (±6°), contrast and brightness: two X-rays
    of one patient differ in positioning and exposure, and the embedding must not care."""
    n = x.shape[0]

    def u(lo, hi, *shape):
        return torch.empty(shape or (n,)).uniform_(lo, hi, generator=generator)

    scale, rot = u(0.85, 1.0), u(-0.1, 0.1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale * torch.cos(rot)
    theta[:, 0, 1] = -scale * torch.sin(rot)
    theta[:, 1, 0] = scale * torch.sin(rot)
    theta[:, 1, 1] = scale * torch.cos(rot)
    theta[:, 0, 2], theta[:, 1, 2] = u(-0.08, 0.08), u(-0.08, 0.08)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = u(0.8, 1.2, n, 1, 1, 1).to(x.device)
    bright = u(-0.08, 0.08, n, 1, 1, 1).to(x.device)
    return ((y - 0.5) * contrast + 0.5 + bright).clamp(0.0, 1.0)


__all__ = ["EmbeddingNet", "augment", "contrastive_loss"]
