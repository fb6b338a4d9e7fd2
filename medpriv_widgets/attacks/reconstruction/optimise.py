"""The attack: optimise dummy X-rays until their gradient matches the shared one.

:func:`reconstruct` is the one entry point of every attack. It receives exactly what the server
has — the model and the :class:`~.threat.SharedUpdate`, plus what it may know in general (the
population's mean X-ray, ``prior=``) — and is a generator of
:class:`~medpriv_widgets.progress.Progress` records whose ``partial`` is a :class:`Frame`.
Ground truth enters only through the optional ``score`` callback (see
:func:`~.metrics.make_scorer`), whose result is reported in the frame and never used.

The optimisation attacks ('inverting_gradients', 'dlg') live here; the analytic ones
('linear_head', 'imprint') in :mod:`.analytic` and :mod:`.imprint`, behind the same entry point.
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
from ...progress import Progress, last_record
from ...stopping import StopToken, stop_requested
from .labels import infer_labels
from .objectives import (ATTACK_ALIASES, ATTACKS, DISTANCES, AttackRecipe, prior_distance,
                         total_variation)
from .threat import SharedUpdate, as_labels, simulate_update

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("random", "prior")
ANNEAL_REL = 3e-3  # L-BFGS weakens the TV prior once the loss improves < 0.3 % per iteration
TV_ANNEAL = 10.0  # ... by this factor
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: Iterations per attack the widgets and benchmarks use by device: a GPU runs an L-BFGS
#: iteration of a small CNN in milliseconds, so it can afford ten times more.
ITERATIONS_BY_DEVICE = {"cpu": 200, "mps": 500, "cuda": 2000}


class Frame(NamedTuple):
    """One snapshot of the attack.

    iteration : optimiser iterations so far (summed over restarts; 0 for analytic attacks).
    image : float32 CPU tensor (B, 1, H, W), the current best guess clamped to [0, 1]; always
        finite (a diverging optimisation falls back to its last finite guess).
    loss : what the attacker can see of that guess (gradient distance + priors; for the
        analytic attacks, the relative residual of their fit, 0 when exact).
    psnr, ssim : from the ``score`` callback (NaN without one).
    """

    iteration: int
    image: torch.Tensor
    loss: float
    psnr: float
    ssim: float


def resolve_attack(attack: str) -> str:
    """Canonical attack name (a key of ``ATTACKS``); aliases 'ig', 'idlg' accepted."""
    name = ATTACK_ALIASES.get(attack, attack) if isinstance(attack, str) else attack
    check_choice("attack", name, list(ATTACKS) + list(ATTACK_ALIASES),
                 hint="'ig' is short for 'inverting_gradients'.")
    return ATTACK_ALIASES.get(name, name)


def suggested_iterations(device: str | torch.device | None = None) -> int:
    """Optimisation iterations that suit a device (:data:`ITERATIONS_BY_DEVICE`); the device
    need not be present (a plan for a GPU can be made on a laptop)."""
    if device is None:
        dev = choose_device()
    else:
        try:
            dev = device if isinstance(device, torch.device) else torch.device(str(device))
        except (RuntimeError, ValueError, TypeError):
            raise InvalidParameterError(f"`device` must be 'cpu', 'cuda', 'cuda:N' or 'mps'; "
                                        f"got {device!r:.40}.") from None
    return ITERATIONS_BY_DEVICE.get(dev.type, ITERATIONS_BY_DEVICE["cpu"])


def check_update(model: nn.Module, update: SharedUpdate) -> None:
    """The update must be a SharedUpdate computed for this model (shapes and image size)."""
    if not isinstance(update, SharedUpdate):
        raise InvalidParameterError(f"`update` must be a SharedUpdate (from client_update); "
                                    f"got {type(update).__name__}.")
    size = getattr(model, "size", None)
    if size is not None and tuple(update.image_shape[-2:]) != (size, size):
        raise InvalidParameterError(
            f"`update` was computed on {update.image_shape[-1]} px images but `model` takes "
            f"{size} px: the attack needs the model the update was computed for. Build the "
            f"victim at {update.image_shape[-1]} px.")
    shapes = [tuple(p.shape) for p in model.parameters()]
    got = [tuple(g.shape) for g in update.gradient]
    if shapes != got:
        raise InvalidParameterError("`update` does not fit `model`: its tensors have shapes "
                                    f"{got[:3]}…, the model's parameters {shapes[:3]}…. The "
                                    "attack needs the model the update was computed for.")


def check_prior(prior, update: SharedUpdate) -> torch.Tensor | None:
    """A prior image (1, 1, H, W) (or (H, W), (1, H, W)) in [0, 1] that fits the update."""
    if prior is None:
        return None
    if not isinstance(prior, torch.Tensor):
        raise InvalidParameterError(f"`prior` must be a tensor image (the population's mean "
                                    f"X-ray, population_prior(...)); got {type(prior).__name__}.")
    p = prior.detach().to("cpu", torch.float32)
    while p.ndim < 4:
        p = p.unsqueeze(0)
    if tuple(p.shape) != (1, *update.image_shape):
        raise InvalidParameterError(
            f"`prior` must be one image of the update's shape {tuple(update.image_shape)}; got "
            f"shape {tuple(prior.shape)}. Compute it from X-rays of the same size.")
    if not bool(torch.isfinite(p).all()) or float(p.min()) < 0 or float(p.max()) > 1:
        raise InvalidParameterError("`prior` must hold finite values in [0, 1].")
    return p


def reconstruct(*, model: nn.Module, update: SharedUpdate, attack: str = "inverting_gradients",
                optimizer: str | None = None, iterations: int = 200, restarts: int = 1,
                tv_weight: float | None = None, lr: float | None = None,
                labels: torch.Tensor | None = None, prior: torch.Tensor | None = None,
                init: str | None = None, prior_weight: float = 0.0, frame_every: int = 10,
                seed: int = 0, device: str | torch.device | None = None,
                dtype: str = "float64", stop: StopToken | None = None,
                score: Callable[[torch.Tensor], tuple[float, float]] | None = None,
                cpu_threads: int | None = 1) -> Iterator[Progress]:
    """Reconstruct the client's X-rays: a generator of Progress records carrying :class:`Frame`.

    Parameters are checked when it is called; the attack runs as the records are consumed.
    Every record's ``partial`` is a Frame; the last one has ``done == total`` (the final answer:
    the best restart) or ``stopped=True`` (a stop request; its Frame is the best guess so far).

    Parameters
    ----------
    model : the global model the server sent (architecture and weights; not modified). For
        ``attack='imprint'``, the malicious model (:func:`~.imprint.malicious_model`).
    update : what the client sent back (:func:`~.threat.client_update`, or
        :func:`~.threat.secure_aggregate` of several).
    attack : 'inverting_gradients' (alias 'ig': cosine + TV), 'dlg' (alias 'idlg': L2),
        'linear_head' (analytic head input + feature inversion; one X-ray) or 'imprint'
        (malicious server; a batch). See ``ATTACKS``.
    optimizer : 'lbfgs' or 'adam' (signed gradients, Geiping et al.); default from the attack.
    iterations : optimiser iterations per restart (L-BFGS iterations, or Adam steps).
    restarts : independent starts; the guess with the lowest loss wins (the attacker cannot see
        the truth, so it chooses by loss). With ``init='prior'`` the first start is the prior
        itself (for a batch: the prior plus a little noise per image, so that the images can
        differ) and later ones add noise to it.
    tv_weight : weight of the total-variation prior (default from the attack). With L-BFGS it
        is divided by 10 once the loss stops improving (< 0.3 % per iteration, or converged).
    lr : step size (L-BFGS: 1.0; Adam: 0.1 is typical).
    labels : class indices (B,) if known; default: inferred from the last layer
        (:func:`~.labels.infer_labels`).
    prior : the population's mean X-ray (:func:`~.objectives.population_prior` of public
        images), shape (1, 1, H, W): what an informed server knows before it sees the update.
    init : 'random' (uniform noise) or 'prior' (start from ``prior``); default 'prior' when a
        prior is given, else 'random'.
    prior_weight : weight of the mean squared distance to ``prior`` (0 = only the start uses it).
    frame_every : iterations between records.
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
    """
    name = resolve_attack(attack)
    recipe = ATTACKS[name]
    if name == "imprint":
        from .imprint import imprint_reconstruct
        return imprint_reconstruct(model=model, update=update, score=score, stop=stop)
    check_update(model, update)
    iterations = check_int("iterations", iterations, low=1, high=100_000)
    frame_every = check_int("frame_every", frame_every, low=1)
    check_int("seed", seed, low=0)
    prior = check_prior(prior, update)
    init = ("prior" if prior is not None else "random") if init is None else init
    check_choice("init", init, INITS)
    if init == "prior" and prior is None:
        raise InvalidParameterError("`init='prior'` needs a `prior` image (the population's mean "
                                    "X-ray, population_prior(public_images)).")
    prior_weight = check_nonnegative("prior_weight", prior_weight)
    if prior_weight > 0 and prior is None:
        raise InvalidParameterError("`prior_weight` > 0 needs a `prior` image to pull towards.")
    check_choice("dtype", dtype, _DTYPES)
    dev = torch.device(choose_device(str(device)) if device is not None else choose_device())
    if cpu_threads is not None:
        check_int("cpu_threads", cpu_threads, low=1, high=256)
    threads = cpu_threads if dev.type == "cpu" else None
    if name == "linear_head":
        from .analytic import invert_linear_head
        frames = invert_linear_head(model=model, update=update, iterations=iterations,
                                    prior=prior, frame_every=frame_every, seed=seed, device=dev,
                                    dtype=_DTYPES[dtype], stop=stop, score=score)
        return _with_threads(threads, frames)
    optimizer = recipe.optimizer if optimizer is None else optimizer
    check_choice("optimizer", optimizer, OPTIMIZERS)
    restarts = check_int("restarts", restarts, low=1, high=50)
    tv = recipe.tv_weight if tv_weight is None else check_nonnegative("tv_weight", tv_weight)
    lr = (recipe.lr if optimizer == "lbfgs" else 0.1) if lr is None else check_positive("lr", lr)
    if labels is None:
        labels = infer_labels(model=model, update=update, seed=seed)
    labels = as_labels(labels)
    if labels.numel() != update.num_examples:
        raise InvalidParameterError(f"`labels` must hold {update.num_examples} labels (one per "
                                    f"example in the update); got {labels.numel()}.")
    # Validation above runs at call time (errors surface before the first record is asked for);
    # the work below runs lazily, record by record.
    settings = _Settings(recipe, optimizer, iterations, restarts, frame_every, seed, tv, lr,
                         labels, prior, init, prior_weight, dev, _DTYPES[dtype])
    return _with_threads(threads, _optimise(model, update, settings, stop, score))


class _Settings(NamedTuple):
    recipe: AttackRecipe
    optimizer: str
    iterations: int
    restarts: int
    frame_every: int
    seed: int
    tv: float
    lr: float
    labels: torch.Tensor
    prior: torch.Tensor | None
    init: str
    prior_weight: float
    device: torch.device
    dtype: torch.dtype


def _with_threads(threads: int | None, records: Iterator[Progress]) -> Iterator[Progress]:
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield from records
    finally:
        torch.set_num_threads(before)


def make_frame(iteration: int, x: torch.Tensor, loss: float, score) -> Frame:
    """A Frame of the guess ``x`` (any device), scored when a ``score`` callback is given."""
    img = x.detach().to("cpu", torch.float32).clamp(0, 1)
    ps, ss = score(img) if score is not None else (math.nan, math.nan)
    return Frame(int(iteration), img, float(loss), float(ps), float(ss))


def frame_message(frame: Frame, total: int) -> str:
    """'iteration 40 of 200: PSNR 23.1 dB' (the PSNR only when the frame was scored)."""
    text = f"iteration {frame.iteration} of {total}"
    if math.isfinite(frame.psnr):
        text += f": PSNR {frame.psnr:.1f} dB"
    return text


def _optimise(model, update, st: _Settings, stop, score) -> Iterator[Progress]:
    # The attacker's private copy of the model, on its device and precision.
    net = copy.deepcopy(model).to(st.device, st.dtype).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    # Detached leaves that require grad: the update is differentiated w.r.t. them, and the
    # double-backward graph then reaches the dummy images.
    params = {k: v.detach().requires_grad_(True) for k, v in net.named_parameters()}
    target = tuple(g.to(st.device, st.dtype) for g in update.gradient)
    mask = None
    n_zero = sum(int((g == 0).sum()) for g in target)
    if n_zero > 0.05 * sum(g.numel() for g in target):  # pruned update: match only what was sent
        mask = tuple((g != 0).to(st.dtype) for g in target)
    distance = DISTANCES[st.recipe.distance]
    labels_dev = st.labels.to(st.device)
    shape = (update.num_examples, *update.image_shape)
    prior = None if st.prior is None else st.prior.to(st.device, st.dtype)
    total = st.iterations * st.restarts
    title = st.recipe.title
    tv_now = [st.tv]

    def objective(x: torch.Tensor) -> torch.Tensor:
        pred = simulate_update(net, params, x, labels_dev, local_steps=update.local_steps,
                               local_lr=update.local_lr, create_graph=True)
        loss = distance(pred, target, mask)
        if tv_now[0] > 0:
            loss = loss + tv_now[0] * total_variation(x)
        if st.prior_weight > 0:
            loss = loss + st.prior_weight * prior_distance(x, prior)
        return loss

    best_x, best_loss = None, math.inf
    done = 0
    stopped = False
    for r in range(st.restarts):
        x = _start(shape, st, prior, r).requires_grad_(True)
        last_good = x.detach().clone()
        last_loss = prev_loss = math.inf
        it = 0
        tv_now[0] = st.tv
        # L-BFGS: the TV prior speeds up the start but biases the end (it caps PSNR near 29 dB
        # at 64 px), so once the first phase plateaus (measured: 30-32 dB images go on to 32-40
        # dB) it is divided by TV_ANNEAL and L-BFGS restarts its memory from the current image.
        # Weakening it earlier, before the image has formed, ends in worse images.
        annealed = st.tv == 0 or st.optimizer != "lbfgs"
        if st.optimizer == "lbfgs":
            opt = _lbfgs(x, st.lr, st.frame_every)

            def closure():
                opt.zero_grad(set_to_none=True)
                loss = objective(x)
                loss.backward()
                return loss
        else:
            opt = torch.optim.Adam([x], lr=st.lr)
            sched = torch.optim.lr_scheduler.MultiStepLR(
                opt, milestones=[int(st.iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)],
                gamma=0.1)
        while it < st.iterations:
            n = min(st.frame_every, st.iterations - it)
            if st.optimizer == "lbfgs":
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
                slow = (it > 2 * st.frame_every and math.isfinite(prev_loss)
                        and (prev_loss - last_loss) / (abs(last_loss) * made + 1e-300)
                        < ANNEAL_REL)
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
            if not (math.isfinite(last_loss) and bool(torch.isfinite(x).all())):
                # Diverged (e.g. DLG's L2 distance on a tiny clipped gradient): keep the last
                # finite guess of this start and end it; a NaN image is never an answer.
                with torch.no_grad():
                    x.copy_(last_good)
                break
            last_good = x.detach().clone()
            frame = make_frame(done + it, x, last_loss, score)
            yield Progress(title, done + it, total, frame_message(frame, total), partial=frame)
            if stop_requested(stop):
                stopped = True
                break
            if not annealed and (converged or slow):
                annealed, converged = True, False
                tv_now[0] = st.tv / TV_ANNEAL
                opt = _lbfgs(x, st.lr, st.frame_every)
                prev_loss = math.inf
            if converged:
                break
        done += it
        with torch.no_grad():
            x.copy_(last_good)
        final = float(objective(x).detach())
        if not math.isfinite(final):
            final = math.inf
        if best_x is None or final < best_loss:
            best_loss, best_x = final, x.detach().clone()
        if stopped:
            break
    frame = make_frame(done, best_x, best_loss, score)
    if stopped:
        yield Progress(title, done, total, f"stopped after {done} iterations",
                       partial=frame, stopped=True)
        return
    message = f"finished after {done} iterations"
    if math.isfinite(frame.psnr):
        message += f": PSNR {frame.psnr:.1f} dB"
    yield Progress(title, total, total, message, partial=frame)


def _start(shape, st: _Settings, prior, restart: int) -> torch.Tensor:
    """The starting guess of one restart: uniform noise, or the prior (plus noise after the
    first restart)."""
    gen = torch.Generator().manual_seed(st.seed * 1000 + restart)
    noise = torch.rand(shape, generator=gen, dtype=torch.float64).to(st.device, st.dtype)
    if st.init == "random":
        return noise
    start = prior.expand(shape).clone()
    if restart > 0 or shape[0] > 1:
        # B identical starts would stay identical (same gradient for the same label), so each
        # image of a batch, and each later restart, starts from its own perturbation of the prior.
        start = (start + 0.1 * (noise - 0.5)).clamp(0, 1)
    return start


def _lbfgs(x: torch.Tensor, lr: float, max_iter: int) -> torch.optim.LBFGS:
    return torch.optim.LBFGS([x], lr=lr, max_iter=max_iter, history_size=100,
                             tolerance_grad=1e-16, tolerance_change=1e-20,
                             line_search_fn="strong_wolfe")


def run_attack(*, model: nn.Module, update: SharedUpdate, **kwargs) -> Frame:
    """Run :func:`reconstruct` to its end and return its last Frame (same keyword parameters;
    a stopped attack returns its best guess so far)."""
    return last_record(reconstruct(model=model, update=update, **kwargs)).partial


__all__ = ["Frame", "ITERATIONS_BY_DEVICE", "OPTIMIZERS", "check_prior", "check_update",
           "frame_message", "make_frame", "reconstruct", "resolve_attack", "run_attack",
           "suggested_iterations"]
