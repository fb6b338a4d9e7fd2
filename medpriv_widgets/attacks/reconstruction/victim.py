"""The global model the server sends: untrained, or partly trained by a few SGD steps.

Gradient inversion is easiest on an untrained model and gets harder as the model trains, which
is why the lab offers both. ``kind='lenet'`` is the smooth sigmoid LeNet of the DLG papers
(:mod:`medpriv_widgets.models.lenet`); ``kind='smallcnn'`` is the ReLU/GroupNorm classifier the
training labs use (:func:`medpriv_widgets.models.make_model`), slower to invert.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import check_choice, check_int
from ...models import make_model
from ...models.lenet import make_lenet

MODEL_KINDS = ("lenet", "smallcnn")


def make_victim_model(*, size: int = 64, kind: str = "lenet", trained_steps: int = 0,
                      seed: int = 0) -> nn.Module:
    """The server's model for the attack.

    Parameters
    ----------
    size : 28, 64 or 128 (pixels).
    kind : 'lenet' (sigmoid LeNet, default) or 'smallcnn' (the training labs' CNN).
    trained_steps : number of SGD steps (batch 16, lr 0.05) on synthetic phantoms before the
        attack — a stand-in for "the federation has been training for a while". 0 = untrained.
    seed : weights and phantoms.
    """
    check_choice("kind", kind, MODEL_KINDS)
    trained_steps = check_int("trained_steps", trained_steps, low=0, high=10_000)
    check_int("seed", seed, low=0)
    model = (make_lenet(size=size, seed=seed) if kind == "lenet"
             else make_model(size=size, seed=seed))
    if trained_steps:
        from ...data import make_phantoms  # only needed for a partly trained model
        data = make_phantoms(n=64, size=size, seed=seed + 1)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        model.train()
        for _ in range(trained_steps):
            idx = torch.randint(0, len(data), (16,), generator=gen)
            opt.zero_grad()
            F.cross_entropy(model(data.images[idx]), data.labels[idx]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
