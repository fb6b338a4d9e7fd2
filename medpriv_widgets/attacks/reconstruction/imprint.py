"""The malicious server: a model with an imprint module that hands back every X-ray of a batch.

An honest server sends the model it trains. A malicious one sends a model it built to leak
(Fowl et al. 2022, "Robbing the Fed"; Boenisch et al. 2023, "When the curious abandon
honesty"): in front of an ordinary classifier it puts an *imprint module*,

    x (N pixels) → Linear(N → k) → ReLU → Linear(k → N) → the classifier,

whose k neurons all measure the same thing, the image's mean brightness m(x), against
increasing thresholds t_1 < … < t_k (neuron i fires when m(x) > t_i). The server picks the
thresholds at quantiles of m over public X-rays, so each interval [t_i, t_{i+1}) catches about
1/k of all X-rays. The second layer has identical weights, so every neuron receives the same
error signal S_j from image j, and the update's gradients of neuron i are

    ∂L/∂W_i = Σ_{j: m_j > t_i} S_j x_j,      ∂L/∂b_i = Σ_{j: m_j > t_i} S_j.

The difference between neighbouring neurons keeps only the images in one interval; when one
image sits alone in it, (∂L/∂W_i − ∂L/∂W_{i+1}) / (∂L/∂b_i − ∂L/∂b_{i+1}) = x_j, exactly. With k
bins and B images, each image is alone with probability (1 − 1/k)^(B−1): 89 % for B = 32,
k = 256. Batch averaging cancels in the ratio, and so does per-example clipping (it scales
S_j and S_j x_j alike); secure aggregation only makes the batch the union of the hospitals'
batches. Gaussian noise on the update is what stops it: it swamps the tiny differences.

The base classifier behind the module is an ordinary model (by default a randomly initialised
:class:`~medpriv_widgets.models.SmallCNN`; it must pass a gradient back to its input, which a
classifier with a zero last layer does not). Hand-written: the module is two linear layers and
the attack a few tensor operations; research code (breaching) has it but is not a dependency.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import check_int, check_positive
from ...errors import InvalidParameterError
from ...progress import Progress
from ...stopping import StopToken
from .threat import SharedUpdate, check_images

#: Default number of bins: 89 % of a batch of 32 is expected alone in its bin.
DEFAULT_BINS = 256


class ImprintBlock(nn.Module):
    """Linear(N → k) + ReLU + Linear(k → N), set up as a bank of brightness thresholds.

    ``thresholds`` (k,) increasing, in the units of mean pixel brightness. ``gain`` keeps the
    first layer's outputs small; the second layer divides it out and averages the bins, so the
    classifier behind sees a flat image of moderate brightness.
    """

    def __init__(self, *, size: int, thresholds: torch.Tensor, gain: float = 1e-3) -> None:
        super().__init__()
        size = check_int("size", size, low=2, high=1024)
        if not isinstance(thresholds, torch.Tensor) or thresholds.ndim != 1 \
                or not 1 <= thresholds.numel() <= 4096 \
                or not bool(torch.isfinite(thresholds).all()):
            raise InvalidParameterError(
                "`thresholds` must be a 1-D tensor of 1 to 4,096 finite brightness values "
                "(brightness_thresholds(public_images, bins)).")
        gain = check_positive("gain", gain)
        n, k = size * size, int(thresholds.numel())
        self.size, self.bins = size, k
        self.measure = nn.Linear(n, k)
        self.spread = nn.Linear(k, n)
        with torch.no_grad():
            self.measure.weight.fill_(gain / n)  # every neuron: the mean brightness
            self.measure.bias.copy_(-thresholds.to(torch.float32) * gain)
            self.spread.weight.fill_(1.0 / (gain * k))  # the same error signal for every bin
            self.spread.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.measure(x.reshape(x.shape[0], -1)))
        return self.spread(h).reshape(x.shape)


class ImprintedModel(nn.Module):
    """The model a malicious server sends: :class:`ImprintBlock` in front of ``base``.

    Its parameters come in the order imprint (measure.weight, measure.bias, spread.weight,
    spread.bias), then the base's, so an update's first two tensors are the imprint gradients.
    """

    def __init__(self, *, imprint: ImprintBlock, base: nn.Module) -> None:
        super().__init__()
        self.imprint, self.base = imprint, base
        self.size, self.bins = imprint.size, imprint.bins
        self.num_classes = getattr(base, "num_classes", 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(self.imprint(x))


def brightness_thresholds(public_images: torch.Tensor, bins: int) -> torch.Tensor:
    """k thresholds at the quantiles 0, 1/k, …, (k−1)/k of the mean brightness of public
    X-rays (the first one slightly below the darkest), so each bin is equally likely."""
    images = check_images(public_images, name="public_images")
    bins = check_int("bins", bins, low=2, high=4096)
    m = images.reshape(images.shape[0], -1).double().mean(1)
    if images.shape[0] < 2 or float(m.max() - m.min()) <= 0:
        raise InvalidParameterError("`public_images` must hold at least two X-rays of different "
                                    "brightness to place the imprint bins.")
    q = torch.quantile(m, torch.arange(bins, dtype=torch.float64) / bins)
    q[0] = m.min() - 0.05 * (m.max() - m.min())
    return q.float()


def malicious_model(*, public_images: torch.Tensor, bins: int = DEFAULT_BINS,
                    base: nn.Module | None = None, seed: int = 0,
                    gain: float = 1e-3) -> ImprintedModel:
    """Build the malicious server's model.

    Parameters
    ----------
    public_images : (N, 1, H, W) in [0, 1], X-rays the server has (not the hospital's): they set
        the bins' thresholds and the image size.
    bins : k, the number of imprint neurons; at most k X-rays of one update can be separated.
        Memory grows as 2·k·H·W weights (k = 256 at 128 px: 8.4 M, 34 MB).
    base : the classifier behind the module (default: a randomly initialised SmallCNN of the
        same size, seeded by ``seed``); its size must match the images.
    gain : scale of the first layer (numerics only).
    """
    images = check_images(public_images, name="public_images")
    bins = check_int("bins", bins, low=2, high=4096)
    check_positive("gain", gain)
    size = int(images.shape[-1])
    if base is None:
        from ...models import make_model
        base = make_model(size=size, seed=seed)
    base_size = getattr(base, "size", size)
    if base_size != size:
        raise InvalidParameterError(
            f"`base` takes {base_size} px images but `public_images` are {size} px: the imprint "
            f"module feeds the base an image of the same size. Use a base built for {size} px.")
    model = ImprintedModel(imprint=ImprintBlock(size=size, thresholds=brightness_thresholds(
        images, bins), gain=gain), base=base)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def check_imprint_update(model: nn.Module, update: SharedUpdate) -> None:
    """What the imprint attack needs: the imprint model, its update, B ≤ bins, FedSGD."""
    from .optimise import check_update

    if not isinstance(model, ImprintedModel):
        raise InvalidParameterError(
            f"The 'imprint' attack needs the malicious server's model (malicious_model(...)), "
            f"whose imprint module separates the images; {type(model).__name__} has no such "
            f"module. An honest server's model calls for 'inverting_gradients' or "
            f"'linear_head'.")
    check_update(model, update)
    if update.num_examples > model.bins:
        raise InvalidParameterError(
            f"The imprint module has {model.bins} bins, so it can separate at most {model.bins} "
            f"X-rays, but this update comes from {update.num_examples}. Build the malicious "
            f"model with bins ≥ {update.num_examples} (more bins also mean fewer collisions).")
    if update.local_steps != 1:
        raise InvalidParameterError(
            f"The 'imprint' attack needs a FedSGD update (one local step); this one sums "
            f"{update.local_steps} steps, during which the imprint weights moved.")


def imprint_reconstruct(*, model: ImprintedModel, update: SharedUpdate, score=None,
                        stop: StopToken | None = None) -> Iterator[Progress]:
    """Read the X-rays off the imprint module's gradients (use via :func:`~.optimise.reconstruct`).

    Yields one Progress record whose ``partial`` is a Frame with B images (B = the update's
    number of X-rays): the reconstructions of the B bins with the largest signal. When fewer
    than B bins hold an image (two X-rays shared a bin), the strongest are repeated, so every
    true image is still scored against something and a collision shows as a low PSNR.
    ``loss`` is the share of the B images that did not get a bin of their own (0 = all apart).
    Raises InvalidParameterError (at call time) for a model without an imprint module, an
    update from more X-rays than bins, several local steps, or an update that carries no
    signal at all.
    """
    check_imprint_update(model, update)
    w = update.gradient[0].double()
    b = update.gradient[1].double()
    # neuron i minus neuron i+1 keeps only the images in [t_i, t_{i+1}); the top bin stands alone
    dw = torch.cat([w[:-1] - w[1:], w[-1:]])
    db = torch.cat([b[:-1] - b[1:], b[-1:]])
    strength = db.abs()
    if not bool(torch.isfinite(strength).all()) or float(strength.max()) <= 0.0:
        raise InvalidParameterError(
            "The update's imprint gradients are all zero: the classifier behind the imprint "
            "module passed no gradient back to its input (for example a zero last layer). Use "
            "a base model with a random last layer.")
    occupied = int((strength > 1e-9 * float(strength.max())).sum())
    return _imprint_frames(model, update, dw, db, strength, occupied, score, stop)


def _imprint_frames(model, update, dw, db, strength, occupied, score, stop):
    from .optimise import make_frame

    t0 = time.perf_counter()
    b_count = update.num_examples
    order = torch.argsort(strength, descending=True)
    chosen = order[:min(b_count, occupied)]
    picks = chosen.repeat((b_count + len(chosen) - 1) // len(chosen))[:b_count]
    images = (dw[picks] / db[picks, None]).reshape(b_count, *update.image_shape)
    missing = max(0, b_count - occupied)
    ms = 1000 * (time.perf_counter() - t0)  # the attack only; scoring (below) is not its work
    frame = make_frame(0, images.float(), missing / b_count, score)
    message = (f"{occupied} of {model.bins} bins hold X-rays; {b_count} images read off in "
               f"{ms:.0f} ms")
    yield Progress("imprint (malicious server)", 1, 1, message, partial=frame)


__all__ = ["DEFAULT_BINS", "ImprintBlock", "ImprintedModel", "brightness_thresholds",
           "check_imprint_update", "imprint_reconstruct", "malicious_model"]
