"""Small Opacus-valid CNNs (GroupNorm, no BatchNorm) for 28, 64 and 128 px chest X-rays.

One block = 3×3 conv → GroupNorm → activation → 2×2 max-pool. The 28 px model has 3 blocks,
64 px has 4, 128 px has 5, so every model ends at a 3–4 px map, is average-pooled and fed to
one linear layer.

Channels: the last two blocks have ``2·width`` channels, the block before them ``width``, and
each earlier (higher-resolution) block half of the next one. Early blocks run on the largest
maps, so keeping them narrow keeps a 64 px or 128 px step (and DP-SGD's per-sample gradients)
about as cheap as a 28 px one; measured on 2 CPU cores, the 64 px model with
``[16, 32, 32, 32]`` channels took 2.2× longer per step than ``[8, 16, 32, 32]``.

Parameter counts (width=16, 2 classes):

==== ====== ================== ==========
size blocks channels           parameters
==== ====== ================== ==========
28   3      16, 32, 32         14,274
64   4      8, 16, 32, 32      15,378
128  5      4, 8, 16, 32, 32   15,642
==== ====== ================== ==========

These fit Binder's memory under DP-SGD with per-sample gradients (see ECOSYSTEM.md).
``activation='tanh'`` is the default for DP-SGD training in :mod:`medpriv_widgets.training`:
bounded ("tempered") activations keep activations and gradients from growing, so fewer
per-sample gradients are clipped hard (Papernot et al. 2021, "Tempered sigmoid activations").

``SmallCNN(standardize=True)`` first standardises each image to mean 0 and standard deviation 1
(no parameters; the flag is a buffer, so it travels with the ``state_dict``). Exposure and
contrast differ between X-ray machines and hospitals, and DP-SGD's fixed clipping norm and
step size suit inputs of a fixed scale (DP-SGD at ε = 8, official test split: AUC 0.90 → 0.91;
non-private training got worse, 0.93 → 0.91, so it is not used there). :func:`make_model`
leaves it off; the DP-SGD training recipe switches it on (``TrainConfig.standardize``).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_choice, check_int
from .inputs import check_input_layout

SUPPORTED_SIZES = (28, 64, 128)
_BLOCKS = {28: 3, 64: 4, 128: 5}
_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def _channels(n_blocks: int, width: int) -> list[int]:
    """Output channels per block, e.g. (4, 16) -> [8, 16, 32, 32] (see the module docstring)."""
    return [2 * width if b >= n_blocks - 2 else max(width // 2 ** (n_blocks - 3 - b), 2)
            for b in range(n_blocks)]


class SmallCNN(nn.Module):
    """Conv–GroupNorm classifier.

    Input: float tensor (B, 1, size, size) in [0, 1] (anything else is refused with a sentence,
    :func:`~medpriv_widgets.models.inputs.check_input_layout`). Output: logits (B, num_classes).
    ``standardize=True`` maps each image to mean 0, std 1 before the first layer.
    """

    def __init__(self, *, size: int = 28, num_classes: int = 2, width: int = 16,
                 activation: str = "relu", standardize: bool = False) -> None:
        super().__init__()
        size = check_choice("size", size, SUPPORTED_SIZES)
        check_int("num_classes", num_classes, low=2, high=10_000)
        check_int("width", width, low=4, high=256)
        check_choice("activation", activation, _ACTIVATIONS)
        self.size, self.num_classes, self.width, self.activation = size, num_classes, width, activation
        layers: list[nn.Module] = []
        in_ch = 1
        for b, out_ch in enumerate(_channels(_BLOCKS[size], width)):
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1),
                       nn.GroupNorm(min(4, out_ch), out_ch),
                       _ACTIVATIONS[activation](),
                       nn.MaxPool2d(2)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_ch, num_classes)
        # a buffer, not an attribute, so load_state_dict restores it for a trained model
        self.register_buffer("standardize", torch.tensor(bool(standardize)))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # state_dicts saved before the flag existed came from models without standardisation
        state_dict.setdefault(prefix + "standardize", torch.tensor(False))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def set_standardize(self, on: bool) -> "SmallCNN":
        """Switch per-image standardisation on or off (in place); returns the model."""
        self.standardize.fill_(bool(on))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_layout(x, size=self.size, dtype=self.classifier.weight.dtype)
        if bool(self.standardize) and x.shape[0] > 0:  # an empty Poisson batch has no std
            # 1e-3 keeps a blank (constant) image finite; real radiographs have std ≈ 0.15
            x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-3)
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def make_model(*, size: int = 28, seed: int = 0, num_classes: int = 2, width: int = 16,
               activation: str = "relu") -> SmallCNN:
    """A freshly initialised :class:`SmallCNN`; the same seed gives the same weights."""
    check_int("seed", seed, low=0)
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return SmallCNN(size=size, num_classes=num_classes, width=width, activation=activation)
    finally:
        torch.random.set_rng_state(gen_state)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    if not isinstance(model, nn.Module):
        from ..errors import InvalidParameterError

        raise InvalidParameterError(f"`model` must be a torch model (e.g. from make_model); got "
                                    f"{type(model).__name__}.")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
