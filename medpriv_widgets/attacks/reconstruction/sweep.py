"""A cached sweep over the DP noise multiplier σ: one reconstruction per σ, with its PSNR.

The sweep is what the widget's strip and the notebook's "how much noise is enough" figure show.
Results are stored with :class:`~medpriv_widgets.cache.ResultCache`, keyed by every setting
and a digest of the images, so moving a slider back to a computed σ range is instant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..._validate import check_int, check_nonnegative, check_positive
from ...cache import ResultCache
from ...errors import InvalidParameterError
from ...stopping import StopToken, stop_requested
from .defenses import Defense
from .metrics import make_scorer, verdict
from .optimise import resolve_attack, run_attack
from .threat import check_images, client_update
from .victim import make_victim_model


@dataclass
class SweepResult:
    """One row per σ (same order as ``sigmas``).

    sigmas : noise multipliers; psnr (dB), ssim, verdicts : scores of the final reconstructions;
    images : float32 (len(sigmas), B, 1, H, W) reconstructions; settings : the configuration;
    complete : False when the sweep was stopped early (then it is not cached).
    """

    sigmas: list[float]
    psnr: list[float]
    ssim: list[float]
    verdicts: list[str]
    images: torch.Tensor
    settings: dict = field(default_factory=dict)
    complete: bool = True


def _digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    h = hashlib.sha256(images.detach().cpu().contiguous().numpy().tobytes())
    h.update(labels.cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def reconstruction_sweep(*, images: torch.Tensor, labels,
                         sigmas: Sequence[float] = (0.0, 1e-4, 1e-3, 1e-2),
                         clip_norm: float = 1.0, model_kind: str = "lenet", trained_steps: int = 0,
                         attack: str = "inverting_gradients", iterations: int = 150,
                         seed: int = 0, device: str | None = None, use_cache: bool = True,
                         stop: StopToken | None = None) -> SweepResult:
    """Attack the same batch once per σ (clip C = ``clip_norm``, one DP-SGD step) and score it.

    Parameters
    ----------
    images : (B, 1, H, W) in [0, 1], the client's batch; labels : (B,) class indices.
    sigmas : noise multipliers (≥ 0), each a separate attack.
    clip_norm : per-example clipping norm C (> 0); the noise std is σ·C.
    model_kind, trained_steps : the server's model (:func:`~.victim.make_victim_model`).
    attack, iterations : passed to :func:`~.optimise.reconstruct`.
    use_cache : read and write the result cache (namespace 'reconstruction_sweep').
    """
    images = check_images(images)
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    sigmas = [check_nonnegative("sigmas", s) for s in sigmas]
    if not sigmas:
        raise InvalidParameterError("`sigmas` must hold at least one noise multiplier; got none.")
    clip_norm = check_positive("clip_norm", clip_norm)
    check_int("iterations", iterations, low=1, high=100_000)
    attack = resolve_attack(attack)
    config = {"digest": _digest(images, labels), "shape": list(images.shape), "sigmas": sigmas,
              "clip_norm": clip_norm, "model_kind": model_kind, "trained_steps": trained_steps,
              "attack": attack, "iterations": iterations, "seed": seed}
    cache = ResultCache("reconstruction_sweep")
    if use_cache:
        hit = cache.get(config)
        if hit is not None:
            return hit
    model = make_victim_model(size=images.shape[-1], kind=model_kind,
                              trained_steps=trained_steps, seed=seed)
    score = make_scorer(images)
    rows_p, rows_s, rows_v, imgs = [], [], [], []
    complete = True
    for sigma in sigmas:
        if stop_requested(stop):
            complete = False
            break
        update = client_update(model=model, images=images, labels=labels, seed=seed,
                               defense=Defense(clip_norm=clip_norm, noise_multiplier=sigma))
        frame = run_attack(model=model, update=update, attack=attack, iterations=iterations,
                           frame_every=max(1, iterations // 4), seed=seed, device=device,
                           stop=stop)
        p, s = score(frame.image)
        rows_p.append(p)
        rows_s.append(s)
        rows_v.append(verdict(p, s))
        imgs.append(frame.image)
    result = SweepResult(sigmas=sigmas[:len(imgs)], psnr=rows_p, ssim=rows_s, verdicts=rows_v,
                         images=torch.stack(imgs) if imgs else torch.empty(0),
                         settings=config, complete=complete and not stop_requested(stop))
    if use_cache and result.complete:
        cache.put(config, result)
    return result


def default_sigmas(n: int = 6) -> list[float]:
    """0 and log-spaced σ from 1e-4 to 1e-1 (the range where a single step goes from leaking
    everything to leaking nothing on the lab's models)."""
    check_int("n", n, low=2, high=20)
    return [0.0] + [float(10 ** (-4 + 3 * i / (n - 2))) for i in range(n - 1)]


