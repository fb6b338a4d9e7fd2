"""A sweep over the DP noise multiplier σ: one reconstruction per σ, with its PSNR.

:func:`sweep_sigmas` is the computation (a generator of Progress, no cache): the same batch is
attacked once per σ, each time after one DP-SGD step (clip C, noise σ·C). The cached, data-
referenced experiment built on it is
:class:`medpriv_widgets.experiments.reconstruction.ReconstructionSweep` — what widgets,
dashboards and the CLI use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..._validate import check_int, check_nonnegative, check_positive
from ...errors import InvalidParameterError
from ...progress import Progress
from ...stopping import StopToken, stop_requested
from .defenses import Defense
from .metrics import make_scorer, score_images, verdict
from .optimise import reconstruct, resolve_attack
from .threat import as_labels, check_images, client_update


@dataclass
class SweepResult:
    """One row per σ (same order as ``sigmas``).

    sigmas : noise multipliers; psnr (dB), ssim, verdicts : scores of the final reconstructions
    (means over the batch); images : float32 (len(sigmas), B, 1, H, W) reconstructions;
    settings : the configuration; complete : False when the sweep was stopped early (then it is
    not cached); psnr_each : per σ, the PSNR of every X-ray of the batch (after matching);
    caption : what was attacked, in words, for figure titles.
    """

    sigmas: list[float]
    psnr: list[float]
    ssim: list[float]
    verdicts: list[str]
    images: torch.Tensor
    settings: dict = field(default_factory=dict)
    complete: bool = True
    psnr_each: tuple = ()
    caption: str = ""


def check_sigmas(sigmas) -> tuple[float, ...]:
    """A non-empty sequence of noise multipliers ≥ 0, as a tuple of floats."""
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence):
        raise InvalidParameterError(f"`sigmas` must be a sequence of noise multipliers ≥ 0, "
                                    f"e.g. (0.0, 0.01, 0.1); got {sigmas!r}.")
    values = tuple(check_nonnegative("sigmas", s) for s in sigmas)
    if not values:
        raise InvalidParameterError("`sigmas` must hold at least one noise multiplier; got none.")
    return values


def sweep_sigmas(*, model: nn.Module, images: torch.Tensor, labels, sigmas: Sequence[float],
                 clip_norm: float = 1.0, attack: str = "inverting_gradients",
                 iterations: int = 150, seed: int = 0, restarts: int = 1,
                 prior: torch.Tensor | None = None, device=None,
                 stop: StopToken | None = None, caption: str = "",
                 settings: dict | None = None) -> Iterator[Progress]:
    """Attack ``images`` once per σ; a generator of Progress.

    Records during an attack carry its Frame; the last record carries the :class:`SweepResult`
    (``done == total``), or, after a stop, the part that finished (``stopped=True``,
    ``complete=False``). ``total`` is len(sigmas) × iterations attack iterations.

    Parameters: images (B, 1, H, W) in [0, 1] and labels (B,), the client's batch; sigmas ≥ 0;
    clip_norm C > 0 (the noise std is σ·C); attack, iterations, restarts, prior, device as in
    :func:`~.optimise.reconstruct`; caption and settings are stored in the result.
    """
    images = check_images(images)
    labels = as_labels(labels)
    sigmas = check_sigmas(sigmas)
    clip_norm = check_positive("clip_norm", clip_norm)
    iterations = check_int("iterations", iterations, low=1, high=100_000)
    attack = resolve_attack(attack)
    score = make_scorer(images)
    # Checked now, not at the first record: a bad setting must fail before anything runs.
    client_update(model=model, images=images, labels=labels, seed=seed,
                  defense=Defense(clip_norm=clip_norm))
    return _sweep(model, images, labels, sigmas, clip_norm, attack, iterations, seed, restarts,
                  prior, device, stop, score, caption, dict(settings or {}))


def _sweep(model, images, labels, sigmas, clip_norm, attack, iterations, seed, restarts, prior,
           device, stop, score, caption, settings) -> Iterator[Progress]:
    total = len(sigmas) * iterations
    from ...explain.reconstruction import format_sigma, format_sigmas

    title = f"σ sweep ({format_sigmas(sigmas)})"
    rows_p, rows_s, rows_v, rows_each, imgs = [], [], [], [], []

    def result(complete: bool) -> SweepResult:
        return SweepResult(sigmas=list(sigmas[:len(imgs)]), psnr=rows_p, ssim=rows_s,
                           verdicts=rows_v,
                           images=torch.stack(imgs) if imgs else torch.empty(0),
                           settings=settings, complete=complete, psnr_each=tuple(rows_each),
                           caption=caption)

    for k, sigma in enumerate(sigmas):
        if stop_requested(stop):
            break
        update = client_update(model=model, images=images, labels=labels, seed=seed,
                               defense=Defense(clip_norm=clip_norm, noise_multiplier=sigma))
        kwargs = dict(model=model, update=update, attack=attack, seed=seed, device=device,
                      stop=stop, score=score)
        if attack != "imprint":
            kwargs.update(iterations=iterations, frame_every=max(1, iterations // 4),
                          prior=prior)
        if attack in ("dlg", "inverting_gradients"):
            kwargs.update(restarts=restarts)
        last = None
        for last in reconstruct(**kwargs):
            done = k * iterations + min(iterations, int(last.fraction * iterations))
            yield last.with_(stage=title, done=done, total=total,
                             message=f"σ = {format_sigma(sigma)} ({k + 1} of {len(sigmas)}): "
                                     f"{last.message}", stopped=False)
        if last is None or last.stopped:
            break
        frame = last.partial
        each = score_images(frame.image, images).psnr
        rows_p.append(frame.psnr)
        rows_s.append(frame.ssim)
        rows_v.append(verdict(frame.psnr, frame.ssim))
        rows_each.append(list(each))
        imgs.append(frame.image)
    if len(imgs) < len(sigmas):
        yield Progress(title, len(imgs) * iterations, total,
                       f"stopped after {len(imgs)} of {len(sigmas)} noise levels",
                       partial=result(False), stopped=True)
        return
    yield Progress(title, total, total, f"done: {len(sigmas)} noise levels attacked",
                   partial=result(True))


def images_digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    """sha256 (16 hex digits) of a batch's pixels and labels: what a cache key says about them."""
    if not (isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor)):
        raise InvalidParameterError("`images` and `labels` must be tensors (the batch and its "
                                    "labels).")
    h = hashlib.sha256(images.detach().cpu().contiguous().numpy().tobytes())
    h.update(labels.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def default_sigmas(n: int = 6) -> list[float]:
    """0 and log-spaced σ from 1e-4 to 1e-1 (the range where a single step goes from leaking
    everything to leaking nothing on the lab's models)."""
    check_int("n", n, low=2, high=20)
    return [0.0] + [float(10 ** (-4 + 3 * i / (n - 2))) for i in range(n - 1)]


__all__ = ["SweepResult", "check_sigmas", "default_sigmas", "images_digest", "sweep_sigmas"]
