"""The attack: optimise dummy X-rays until their gradient matches the shared one.

:func:`reconstruct` is a generator. It receives exactly what the server has — the model and the
:class:`~.threat.SharedUpdate` — and yields a :class:`Frame` every ``frame_every`` iterations.
Ground truth enters only through the optional ``score`` callback (see
:func:`~.metrics.make_scorer`), whose result is reported in the frame and never used.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch import nn

from ..._validate import check_choice, check_int, check_nonnegative, check_positive
from ...device import choose_device
from ...errors import InvalidParameterError
from ...stopping import StopToken, stop_requested
from .labels import infer_labels
from .objectives import ATTACK_ALIASES, ATTACKS, DISTANCES, total_variation
from .threat import SharedUpdate, simulate_update

OPTIMIZERS = ("lbfgs", "adam")
ANNEAL_REL = 3e-3  # L-BFGS weakens the TV prior once the loss improves < 0.3 % per iteration
TV_ANNEAL = 10.0  # ... by this factor
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class Frame(NamedTuple):
    """One snapshot of the attack.

    iteration : optimiser iterations so far (summed over restarts).
    image : float32 CPU tensor (B, 1, H, W), the current best guess clamped to [0, 1].
    loss : gradient distance + prior of that guess (what the attacker can see).
    psnr, ssim : from the ``score`` callback (NaN without one).
    """

    iteration: int
    image: torch.Tensor
    loss: float
    psnr: float
    ssim: float


def resolve_attack(attack: str) -> str:
    """Canonical attack name ('dlg' or 'inverting_gradients'); aliases 'ig', 'idlg' accepted."""
    name = ATTACK_ALIASES.get(attack, attack) if isinstance(attack, str) else attack
    return check_choice("attack", name, list(ATTACKS) + list(ATTACK_ALIASES),
                        hint="'ig' is short for 'inverting_gradients'.")


def _check_update(model: nn.Module, update: SharedUpdate) -> None:
    if not isinstance(update, SharedUpdate):
        raise InvalidParameterError(f"`update` must be a SharedUpdate (from client_update); "
                                    f"got {type(update).__name__}.")
    shapes = [tuple(p.shape) for p in model.parameters()]
    got = [tuple(g.shape) for g in update.gradient]
    if shapes != got:
        raise InvalidParameterError("`update` does not fit `model`: its tensors have shapes "
                                    f"{got[:3]}…, the model's parameters {shapes[:3]}….")


def reconstruct(*, model: nn.Module, update: SharedUpdate, attack: str = "inverting_gradients",
                optimizer: str | None = None, iterations: int = 200, restarts: int = 1,
                tv_weight: float | None = None, lr: float | None = None,
                labels: torch.Tensor | None = None, frame_every: int = 10, seed: int = 0,
                device: str | torch.device | None = None, dtype: str = "float64",
                stop: StopToken | None = None,
                score: Callable[[torch.Tensor], tuple[float, float]] | None = None,
                cpu_threads: int | None = 1) -> Iterator[Frame]:
    """Gradient inversion: a generator of :class:`Frame`, one every ``frame_every`` iterations.

    Parameters are checked when it is called; the attack runs as the frames are consumed.

    Parameters
    ----------
    model : the global model the server sent (architecture and weights; not modified).
    update : what the client sent back (:func:`~.threat.client_update`).
    attack : 'inverting_gradients' (alias 'ig': cosine + TV) or 'dlg' (alias 'idlg': L2).
    optimizer : 'lbfgs' or 'adam' (signed gradients, Geiping et al.); default from the attack.
    iterations : optimiser iterations per restart (L-BFGS iterations, or Adam steps).
    restarts : independent random starts; the guess with the lowest loss wins (the attacker
        cannot see the truth, so it chooses by loss).
    tv_weight : weight of the total-variation prior (default from the attack). With L-BFGS it
        is divided by 10 once the loss stops improving (< 0.3 % per iteration, or converged).
    lr : step size (L-BFGS: 1.0; Adam: 0.1 is typical).
    labels : class indices (B,) if known; default: inferred from the last layer
        (:func:`~.labels.infer_labels`).
    frame_every : iterations between frames.
    seed : seed of the random starting images.
    device : where to compute (default :func:`~medpriv_widgets.device.choose_device`).
    dtype : 'float64' (default: the cosine distance near a match, ~1e-6, is below what float32
        resolves, and L-BFGS stalls around 28 dB in float32) or 'float32' (faster on GPUs).
    stop : a :class:`StopToken`; when set, the generator yields the best guess so far and ends.
    score : optional callback ``score(image) -> (psnr, ssim)``; results are only reported.
    cpu_threads : torch intra-op threads while the attack runs on the CPU (restored after; torch's
        setting is process-wide). The attack's convolutions are tiny, so one thread is faster
        than two and far faster than two contended ones (measured: 5 s vs 42 s on a busy
        2-core machine). None leaves torch's setting alone.

    The last frame yielded is always the final answer (best restart).
    """
    name = resolve_attack(attack)
    recipe = ATTACKS[ATTACK_ALIASES.get(name, name)]
    _check_update(model, update)
    optimizer = recipe.optimizer if optimizer is None else optimizer
    check_choice("optimizer", optimizer, OPTIMIZERS)
    iterations = check_int("iterations", iterations, low=1, high=100_000)
    restarts = check_int("restarts", restarts, low=1, high=50)
    frame_every = check_int("frame_every", frame_every, low=1)
    check_int("seed", seed, low=0)
    tv = recipe.tv_weight if tv_weight is None else check_nonnegative("tv_weight", tv_weight)
    lr = (recipe.lr if optimizer == "lbfgs" else 0.1) if lr is None else check_positive("lr", lr)
    check_choice("dtype", dtype, _DTYPES)
    dev = choose_device() if device is None else torch.device(device)
    fdtype = _DTYPES[dtype]
    if cpu_threads is not None:
        check_int("cpu_threads", cpu_threads, low=1, high=256)
    if labels is None:
        labels = infer_labels(model=model, update=update, seed=seed)
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if labels.numel() != update.num_examples:
        raise InvalidParameterError(f"`labels` must hold {update.num_examples} labels (one per "
                                    f"example in the update); got {labels.numel()}.")
    threads = cpu_threads if dev.type == "cpu" else None
    # Validation above runs at call time (errors surface before the first frame is asked for);
    # the work below runs lazily, frame by frame.
    return _with_threads(threads, _optimise(model, update, recipe, optimizer, iterations,
                                            restarts, frame_every, seed, tv, lr, labels, dev,
                                            fdtype, stop, score))


def _with_threads(threads: int | None, frames: Iterator[Frame]) -> Iterator[Frame]:
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield from frames
    finally:
        torch.set_num_threads(before)


def _optimise(model, update, recipe, optimizer, iterations, restarts, frame_every, seed, tv, lr,
              labels, dev, fdtype, stop, score) -> Iterator[Frame]:
    # The attacker's private copy of the model, on its device and precision.
    net = copy.deepcopy(model).to(dev, fdtype).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    # Detached leaves that require grad: the update is differentiated w.r.t. them, and the
    # double-backward graph then reaches the dummy images.
    params = {k: v.detach().requires_grad_(True) for k, v in net.named_parameters()}
    target = tuple(g.to(dev, fdtype) for g in update.gradient)
    mask = None
    n_zero = sum(int((g == 0).sum()) for g in target)
    if n_zero > 0.05 * sum(g.numel() for g in target):  # pruned update: match only what was sent
        mask = tuple((g != 0).to(fdtype) for g in target)
    distance = DISTANCES[recipe.distance]
    labels_dev = labels.to(dev)
    shape = (update.num_examples, *update.image_shape)

    def objective(x: torch.Tensor) -> torch.Tensor:
        pred = simulate_update(net, params, x, labels_dev, local_steps=update.local_steps,
                               local_lr=update.local_lr, create_graph=True)
        loss = distance(pred, target, mask)
        if tv_now[0] > 0:
            loss = loss + tv_now[0] * total_variation(x)
        return loss

    def emit(it: int, x: torch.Tensor, loss: float) -> Frame:
        img = x.detach().to("cpu", torch.float32).clamp(0, 1)
        ps, ss = score(img) if score is not None else (math.nan, math.nan)
        return Frame(it, img, float(loss), float(ps), float(ss))

    tv_now = [tv]
    best_x, best_loss = None, math.inf
    done = 0
    stopped = False
    for r in range(restarts):
        gen = torch.Generator().manual_seed(seed * 1000 + r)
        x = torch.rand(shape, generator=gen, dtype=torch.float64).to(dev, fdtype)
        x.requires_grad_(True)
        last_loss = prev_loss = math.inf
        it = 0
        tv_now[0] = tv
        # L-BFGS: the TV prior speeds up the start but biases the end (it caps PSNR near 29 dB
        # at 64 px), so once the first phase plateaus (measured: 30-32 dB images go on to 32-40
        # dB) it is divided by TV_ANNEAL and L-BFGS restarts its memory from the current image.
        # Weakening it earlier, before the image has formed, ends in worse images.
        annealed = tv == 0 or optimizer != "lbfgs"
        if optimizer == "lbfgs":
            opt = _lbfgs(x, lr, frame_every)

            def closure():
                opt.zero_grad(set_to_none=True)
                loss = objective(x)
                loss.backward()
                return loss
        else:
            opt = torch.optim.Adam([x], lr=lr)
            sched = torch.optim.lr_scheduler.MultiStepLR(
                opt, milestones=[int(iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)], gamma=0.1)
        while it < iterations:
            n = min(frame_every, iterations - it)
            if optimizer == "lbfgs":
                opt.param_groups[0]["max_iter"] = n
                opt.param_groups[0]["max_eval"] = 4 * n
                before = opt.state[x].get("n_iter", 0) if x in opt.state else 0
                last_loss = float(opt.step(closure).detach())
                after = opt.state[x].get("n_iter", 0)
                # L-BFGS returns early when it has converged or used up its evaluations.
                made = max(after - before, 1)
                it += made
                # Converged: no iteration made, or the loss stopped moving (line search stalls).
                converged = after == before or last_loss == prev_loss
                slow = (it > 2 * frame_every and math.isfinite(prev_loss)
                        and (prev_loss - last_loss) / (abs(last_loss) * made + 1e-300) < ANNEAL_REL)
                prev_loss = last_loss
                with torch.no_grad():
                    x.clamp_(0, 1)  # keep pixels in range (projection, as in breaching)
            else:
                for _ in range(n):
                    opt.zero_grad(set_to_none=True)
                    loss = objective(x)
                    loss.backward()
                    x.grad.sign_()  # signed gradients, as in Inverting Gradients
                    opt.step()
                    sched.step()
                    with torch.no_grad():
                        x.clamp_(0, 1)
                    last_loss = float(loss.detach())
                    it += 1
                    if stop_requested(stop):
                        break
                converged = slow = False
            if not math.isfinite(last_loss):
                break
            yield emit(done + it, x, last_loss)
            if stop_requested(stop):
                stopped = True
                break
            if not annealed and (converged or slow):
                annealed, converged = True, False
                tv_now[0] = tv / TV_ANNEAL
                opt = _lbfgs(x, lr, frame_every)
                prev_loss = math.inf
            if converged:
                break
        done += it
        final = float(objective(x).detach()) if math.isfinite(last_loss) else math.inf
        if final < best_loss or best_x is None:
            best_loss, best_x = final, x.detach().clone()
        if stopped:
            break
    yield emit(done, best_x, best_loss)


def _lbfgs(x: torch.Tensor, lr: float, max_iter: int) -> torch.optim.LBFGS:
    return torch.optim.LBFGS([x], lr=lr, max_iter=max_iter, history_size=100,
                             tolerance_grad=1e-16, tolerance_change=1e-20,
                             line_search_fn="strong_wolfe")


def run_attack(**kwargs) -> Frame:
    """Run :func:`reconstruct` to the end and return its last frame (same keyword parameters)."""
    frame = None
    for frame in reconstruct(**kwargs):
        pass
    return frame
