"""Analytic leakage: a fully connected layer's gradient *is* its input (for one X-ray).

For a linear layer y = W h + b and one example, back-propagation gives ∂L/∂W = δ hᵀ and
∂L/∂b = δ (δ = ∂L/∂y). Every row c with δ_c ≠ 0 therefore holds the layer's input, scaled:
(∂L/∂W)_c = δ_c · h. :func:`linear_layer_input` reads h off the two gradients (Phong et al.
2017; Geiping et al. 2020, §3) — no optimisation, exact up to rounding. Clipping rescales δ and
hᵀδ alike, so it does not change the answer; noise on the update does.

If the layer is the model's first, h is the image. If it is the model's *head* (its last layer),
h is the feature map the rest of the network computed from the image;
:func:`invert_linear_head` then finds an image with those features by a short L-BFGS fit of
‖φ(x) − h‖² — a far easier problem than matching the whole gradient, because it needs one
forward pass per step instead of a double backward pass, and because a wide head (many more
features than pixels, :class:`~medpriv_widgets.models.WideHeadCNN`) pins the image down. A
narrow head (the lessons' classifier averages its features to 32 numbers) pins down little.

Hand-written: these are a few lines of tensor algebra that no maintained library offers apart
from research code (breaching), which we do not depend on.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import torch
from torch import nn

from ...errors import InvalidParameterError
from ...progress import Progress
from ...stopping import StopToken, stop_requested
from .threat import SharedUpdate

#: Relative feature residual ‖φ(x) − h‖²/‖h‖² at which the fit stops: pixel errors are then
#: ~1e-5, a PSNR near 100 dB; going on costs time and changes nothing visible.
FEATURE_TOLERANCE = 1e-10


def linear_layer_input(*, weight_grad: torch.Tensor, bias_grad: torch.Tensor) -> torch.Tensor:
    """The input h (in_features,) of a linear layer from its gradients for ONE example.

    weight_grad : (out_features, in_features) = δ hᵀ; bias_grad : (out_features,) = δ.
    Returns the least-squares answer h = Σ_c δ_c (∂L/∂W)_c / Σ_c δ_c² in float64, exact when
    the gradients come from one example. Raises InvalidParameterError when the shapes do not
    fit or every bias gradient is zero (then the gradients carry no copy of h).
    """
    if not (isinstance(weight_grad, torch.Tensor) and isinstance(bias_grad, torch.Tensor)):
        raise InvalidParameterError("`weight_grad` and `bias_grad` must be tensors (the update's "
                                    "gradients of one linear layer).")
    if weight_grad.ndim != 2 or bias_grad.ndim != 1 or weight_grad.shape[0] != bias_grad.shape[0]:
        raise InvalidParameterError(
            f"`weight_grad` must be (out, in) and `bias_grad` (out,) of the same layer; got "
            f"{tuple(weight_grad.shape)} and {tuple(bias_grad.shape)}.")
    w, b = weight_grad.detach().double().cpu(), bias_grad.detach().double().cpu()
    energy = float((b * b).sum())
    if not math.isfinite(energy) or energy <= 0.0:
        raise InvalidParameterError(
            "The layer's bias gradient is zero (or not finite), so its weight gradient holds no "
            "copy of the input: the attack needs an update in which this layer's bias moved. "
            "A model that is already certain of the label (zero loss) sends no such update.")
    return (b[:, None] * w).sum(0) / energy


def find_linear_head(model: nn.Module) -> tuple[nn.Linear, int, int]:
    """The model's last layer if it is fully connected: (module, weight index, bias index).

    Indices are positions in ``list(model.parameters())`` (the order of a SharedUpdate's
    tensors). Raises InvalidParameterError when the last parameters are not a linear layer's
    weight and bias.
    """
    params = list(model.parameters())
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m.bias is not None]
    if len(params) >= 2 and linears:
        head = linears[-1]
        if params[-2] is head.weight and params[-1] is head.bias:
            return head, len(params) - 2, len(params) - 1
    raise InvalidParameterError(
        f"The 'linear_head' attack needs a model whose last layer is fully connected (a "
        f"torch.nn.Linear with a bias, registered last); {type(model).__name__} has none. Use "
        f"'inverting_gradients' for this model.")


def head_features(model: nn.Module, head: nn.Linear, images: torch.Tensor) -> torch.Tensor:
    """The input of ``head`` when ``model`` sees ``images``: (B, in_features), differentiable."""
    seen = []
    handle = head.register_forward_hook(lambda _m, inputs, _out: seen.append(inputs[0]))
    try:
        model(images)
    finally:
        handle.remove()
    return seen[-1].reshape(images.shape[0], -1)


def invert_linear_head(*, model: nn.Module, update: SharedUpdate, iterations: int = 200,
                       prior: torch.Tensor | None = None, frame_every: int = 10, seed: int = 0,
                       device: torch.device | None = None, dtype: torch.dtype = torch.float64,
                       stop: StopToken | None = None, score=None) -> Iterator[Progress]:
    """The 'linear_head' attack (use it through :func:`~.optimise.reconstruct`).

    Reads the head's input h off the update (:func:`linear_layer_input`), then fits an image x
    with φ(x) = h by L-BFGS, starting from ``prior`` (the population's mean X-ray) or from
    uniform noise. Needs an update from ONE X-ray and one local step (FedSGD): a batch or
    several local steps mix the inputs, and a sentence says so. Yields Progress records whose
    ``partial`` is a Frame; ``loss`` is the relative residual ‖φ(x) − h‖² / ‖h‖².
    """
    from .optimise import check_update

    check_update(model, update)
    if update.num_examples != 1:
        raise InvalidParameterError(
            f"The 'linear_head' attack reads one X-ray off the last layer, so it needs an update "
            f"computed on ONE X-ray; this one comes from {update.num_examples}, whose inputs "
            f"are mixed in the gradient. Use 'inverting_gradients' for a batch, or the "
            f"malicious server's 'imprint' attack.")
    if update.local_steps != 1:
        raise InvalidParameterError(
            f"The 'linear_head' attack needs a FedSGD update (one local step); this one sums "
            f"{update.local_steps} steps taken with changing weights. Use "
            f"'inverting_gradients' for FedAvg updates.")
    head, w_idx, b_idx = find_linear_head(model)
    features = linear_layer_input(weight_grad=update.gradient[w_idx],
                                  bias_grad=update.gradient[b_idx])
    if features.numel() != head.in_features:
        raise InvalidParameterError("`update` does not fit the model's last layer.")
    dev = torch.device("cpu") if device is None else torch.device(device)
    return _fit_features(model, head, features, update, iterations, prior, frame_every, seed,
                         dev, dtype, stop, score)


def _fit_features(model, head, features, update, iterations, prior, frame_every, seed, dev,
                  dtype, stop, score) -> Iterator[Progress]:
    from .optimise import frame_message, make_frame

    net = copy.deepcopy(model).to(dev, dtype).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    head = dict(zip(map(id, model.modules()), net.modules()))[id(head)]
    target = features.to(dev, dtype)[None]
    scale = float((target * target).sum())
    shape = (1, *update.image_shape)
    if prior is not None:
        x = prior.to(dev, dtype).reshape(shape).clone()
    else:
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(shape, generator=gen, dtype=torch.float64).to(dev, dtype)
    x.requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=frame_every, history_size=50,
                            tolerance_grad=1e-14, tolerance_change=1e-18,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = ((head_features(net, head, x) - target) ** 2).sum() / scale
        loss.backward()
        return loss

    title = "linear-head inversion"
    it, loss, prev = 0, math.inf, math.inf
    last_good = x.detach().clone()
    while it < iterations:
        opt.param_groups[0]["max_iter"] = min(frame_every, iterations - it)
        before = opt.state[x].get("n_iter", 0) if x in opt.state else 0
        loss = float(opt.step(closure).detach())
        after = opt.state[x].get("n_iter", 0)
        it += max(after - before, 1)
        with torch.no_grad():
            x.clamp_(0, 1)
        if not (math.isfinite(loss) and bool(torch.isfinite(x).all())):
            with torch.no_grad():
                x.copy_(last_good)  # never hand out a NaN image
            break
        last_good = x.detach().clone()
        frame = make_frame(it, x, loss, score)
        yield Progress(title, it, iterations, frame_message(frame, iterations), partial=frame)
        if stop_requested(stop):
            yield Progress(title, it, iterations, f"stopped after {it} iterations",
                           partial=frame, stopped=True)
            return
        if after == before or loss == prev or loss < FEATURE_TOLERANCE:
            break  # converged: the features match to far below what a pixel can show
        prev = loss
    frame = make_frame(it, last_good, loss if math.isfinite(loss) else math.inf, score)
    message = f"finished after {it} iterations"
    if math.isfinite(frame.psnr):
        message += f": PSNR {frame.psnr:.1f} dB"
    yield Progress(title, iterations, iterations, message, partial=frame)


__all__ = ["FEATURE_TOLERANCE", "find_linear_head", "invert_linear_head", "linear_layer_input"]
