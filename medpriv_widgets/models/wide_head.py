"""A CNN with a wide linear head: the kind of model whose update hands the server its input.

Two 3×3 convolutions (the second with stride 2) with tanh activations, no pooling, and one
linear layer on the flattened feature map. Many published image classifiers end this way (a
"flatten → fully connected" head, as in LeNet and VGG), and it is what makes them leak: for one
X-ray, the gradient of a linear layer y = W h + b is ∂L/∂W = δ hᵀ and ∂L/∂b = δ, so any row c
with δ_c ≠ 0 gives the layer's input exactly, h = (∂L/∂W)_c / (∂L/∂b)_c
(:func:`medpriv_widgets.attacks.reconstruction.analytic.linear_layer_input`). Here h holds
twice as many numbers as the image has pixels and only two smooth layers stand between them, so
the image follows from h by a short optimisation.

Compare :class:`~medpriv_widgets.models.cnn.SmallCNN` (the lessons' classifier): it averages
its last feature map to 32 numbers before the linear layer, so that layer's gradient says little
about the image.

==== ============== ==========
size feature map    parameters (channels=8, 2 classes)
==== ============== ==========
28   8 × 14 × 14    3,802
64   8 × 32 × 32    17,050
128  8 × 64 × 64    66,202
==== ============== ==========
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_choice, check_int
from .cnn import SUPPORTED_SIZES


class WideHeadCNN(nn.Module):
    """Input (B, 1, size, size) in [0, 1]; output logits (B, num_classes)."""

    def __init__(self, *, size: int = 64, num_classes: int = 2, channels: int = 8) -> None:
        super().__init__()
        self.size = check_choice("size", size, SUPPORTED_SIZES)
        self.num_classes = check_int("num_classes", num_classes, low=2, high=1000)
        self.channels = check_int("channels", channels, low=1, high=64)
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.Tanh(),
            nn.Conv2d(channels, channels, 3, padding=1, stride=2), nn.Tanh(),
        )
        self.classifier = nn.Linear(channels * (size // 2) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def make_wide_head(*, size: int = 64, seed: int = 0, num_classes: int = 2,
                   channels: int = 8) -> WideHeadCNN:
    """A freshly initialised :class:`WideHeadCNN` (PyTorch's default initialisation); the same
    seed gives the same weights, and the global random state is left as it was."""
    check_int("seed", seed, low=0)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return WideHeadCNN(size=size, num_classes=num_classes, channels=channels)
    finally:
        torch.random.set_rng_state(state)
