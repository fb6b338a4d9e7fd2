"""A small smooth-activation LeNet, the model of the gradient-inversion papers (DLG, iDLG).

Three 5×5 convolutions with sigmoid activations and one linear layer, as in Zhu et al. 2019
(Deep Leakage from Gradients). No pooling and no normalisation: every operation is smooth, which
is why a shared gradient of this model gives a reconstruction attack almost everything it needs.
It exists to *teach* the leak; the classifier of the training labs is
:class:`~medpriv_widgets.models.cnn.SmallCNN` (ReLU, max-pool, GroupNorm), which leaks too but
is slower to invert.

==== ============= ==========
size feature map   parameters (width=12, 2 classes)
==== ============= ==========
28   12 × 7 × 7    8,714
64   12 × 16 × 16  13,682
128  12 × 32 × 32  32,114
==== ============= ==========
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_choice, check_int
from .inputs import check_input_layout

LENET_SIZES = (28, 64, 128)


class LeNet(nn.Module):
    """Sigmoid LeNet. Input (B, 1, size, size) in [0, 1]; output logits (B, num_classes)."""

    def __init__(self, *, size: int = 64, num_classes: int = 2, width: int = 12) -> None:
        super().__init__()
        self.size = check_choice("size", size, LENET_SIZES)
        self.num_classes = check_int("num_classes", num_classes, low=2, high=10_000)
        self.width = check_int("width", width, low=1, high=128)
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2, stride=2), nn.Sigmoid(),
            nn.Conv2d(width, width, 5, padding=2, stride=2), nn.Sigmoid(),
            nn.Conv2d(width, width, 5, padding=2, stride=1), nn.Sigmoid(),
        )
        self.classifier = nn.Linear(width * (size // 4) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_layout(x, size=self.size, dtype=self.classifier.weight.dtype)
        return self.classifier(torch.flatten(self.features(x), 1))


def make_lenet(*, size: int = 64, seed: int = 0, num_classes: int = 2, width: int = 12,
               init: str = "dlg") -> LeNet:
    """A freshly initialised :class:`LeNet`; the same seed gives the same weights.

    ``init="dlg"`` draws the convolutions' weights and biases from U(−0.5, 0.5) as in the DLG
    reference code (wider than PyTorch's default, so gradients carry more of the image);
    ``init="default"`` keeps PyTorch's Kaiming-uniform initialisation.
    """
    check_int("seed", seed, low=0)
    check_choice("init", init, ("dlg", "default"))
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = LeNet(size=size, num_classes=num_classes, width=width)
        if init == "dlg":
            # Convolutions as in DLG. The linear layer keeps PyTorch's 1/sqrt(fan_in) scale:
            # at 64–128 px its fan-in is 4–16× DLG's, and U(−0.5, 0.5) there saturates the
            # softmax so the gradient (≈ 1e-9) carries almost nothing.
            with torch.no_grad():
                for p in model.features.parameters():
                    p.uniform_(-0.5, 0.5)
        return model
    finally:
        torch.random.set_rng_state(gen_state)
