"""Logistic regression on the pixels, for audits that need a model which memorises fast.

A canary audit (:mod:`medpriv_widgets.experiments.audit`) inserts random-pattern images and
asks whether the trained model remembers which ones it saw. A linear model on the raw pixels
fits hundreds of such patterns exactly in a fraction of a second, and its per-sample gradients
are cheap for Opacus, so the audit runs at lesson speed. Same interface as
:class:`~medpriv_widgets.models.SmallCNN` where training uses it (``classifier``,
``set_standardize``), so it trains through the one training loop.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_int
from .inputs import check_input_layout


class PixelLogistic(nn.Module):
    """Input (B, 1, size, size) in [0, 1] → logits (B, num_classes): one linear layer.

    Anything else as input is refused with a sentence
    (:func:`~medpriv_widgets.models.inputs.check_input_layout`).
    """

    def __init__(self, *, size: int, num_classes: int = 2) -> None:
        super().__init__()
        self.size = check_int("size", size, low=4, high=512, hint="It is the image side in pixels.")
        self.num_classes = check_int("num_classes", num_classes, low=2, high=10_000)
        self.classifier = nn.Linear(size * size, num_classes)
        self.register_buffer("standardize", torch.tensor(False))

    def set_standardize(self, on: bool) -> "PixelLogistic":
        self.standardize.fill_(bool(on))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_layout(x, size=self.size, dtype=self.classifier.weight.dtype)
        if bool(self.standardize) and x.shape[0] > 0:
            x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-3)
        return self.classifier(torch.flatten(x, 1))


def make_pixel_logistic(*, size: int, seed: int = 0, num_classes: int = 2) -> PixelLogistic:
    """A freshly initialised :class:`PixelLogistic`; the same seed gives the same weights."""
    check_int("seed", seed, low=0, high=2**64 - 1, hint="torch seeds are 64-bit.")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return PixelLogistic(size=size, num_classes=num_classes)
