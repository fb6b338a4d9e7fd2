"""What the server can still rebuild: gradient inversion on one hospital's update vs the aggregate.

An honest-but-curious server that receives one hospital's plain update can run the
reconstruction attack of lesson 04 on it and often gets the X-ray back. With secure aggregation
it receives only the sum of N hospitals' updates: the attack must then rebuild N·B X-rays from one
averaged update, and the more hospitals (and the more local steps each takes) the worse that
goes. Here the aggregate really is produced by the secure-aggregation protocol
(:func:`.secure_aggregation.secure_sum`), and the attack is
:func:`medpriv_widgets.attacks.reconstruction.reconstruct` on exactly what the server holds.

The honest caveat: a *malicious* server defeats secure aggregation, e.g. by sending a crafted
model whose update isolates single X-rays even inside a sum (Fowl et al. 2022, "Robbing the
Fed"), or by inviting Sybil hospitals it controls. Secure aggregation hides updates from a
server that follows the protocol; differential privacy still bounds what anyone can learn.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from .._validate import check_choice, check_int
from ..attacks.reconstruction import (Defense, SharedUpdate, check_images, client_update,
                                      make_scorer, make_victim_model, reconstruct, verdict)
from ..attacks.reconstruction.threat import as_labels
from ..data.registry import SIZES
from ..errors import InvalidParameterError
from ..experiments.speed import probe_seconds
from ..experiments.stage import Stage
from ..progress import Progress
from ..stopping import stop_requested
from .secure_aggregation import secure_sum


def _check_updates(updates) -> list[SharedUpdate]:
    """A non-empty list of SharedUpdate of one model (same gradient shapes), else a sentence."""
    try:
        updates = list(updates)
    except TypeError:
        raise InvalidParameterError(
            f"`updates` must be a list of SharedUpdate (one per hospital, from client_update); "
            f"got {type(updates).__name__}.") from None
    if not updates or not all(isinstance(u, SharedUpdate) for u in updates):
        raise InvalidParameterError(
            "`updates` must hold at least one SharedUpdate (one per hospital, from "
            f"client_update); got {[type(u).__name__ for u in updates][:6]}.")
    shapes = [tuple(tuple(g.shape) for g in u.gradient) for u in updates]
    if len(set(shapes)) > 1:
        raise InvalidParameterError(
            "`updates` must all come from the same model (same gradient shapes) to be summed; "
            "compute every hospital's update with the one global model.")
    return updates


def aggregate_updates(updates: list[SharedUpdate], *, secure: bool = True,
                      round_id: int = 0) -> SharedUpdate:
    """The averaged update of several hospitals, as the server receives it.

    With ``secure`` the sum comes out of the secure-aggregation protocol (the server never held
    a single update); each hospital's B is public, so the server knows the total N·B.
    """
    updates = _check_updates(updates)
    check_choice("secure", secure, (True, False))
    round_id = check_int("round_id", round_id, low=0)
    if len(updates) == 1:
        return updates[0]
    shapes = [tuple(g.shape) for g in updates[0].gradient]
    flat = {i: torch.cat([g.reshape(-1) for g in u.gradient]).double().numpy()
            for i, u in enumerate(updates)}
    total = (secure_sum(flat, round_id=round_id).total if secure
             else np.sum(list(flat.values()), axis=0))
    mean = torch.as_tensor(total / len(updates), dtype=torch.float32)
    grads, offset = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        grads.append(mean[offset:offset + n].reshape(shape))
        offset += n
    first = updates[0]
    return SharedUpdate(gradient=tuple(grads),
                        num_examples=sum(u.num_examples for u in updates),
                        image_shape=first.image_shape, local_steps=first.local_steps,
                        local_lr=first.local_lr, declared={"secure_aggregation": secure,
                                                           "hospitals": len(updates)})


@dataclass
class LeakageResult:
    """The attack's best guess and how close it came.

    n_sites : hospitals in the aggregate (1 = one hospital's plain update).
    reconstruction, truth : float32 (N·B, 1, S, S) in [0, 1] (matched by the score).
    psnr, ssim : of the best match (dB; 1 = identical); verdict : 'recognisable' or not.
    """

    n_sites: int
    local_steps: int
    reconstruction: torch.Tensor
    truth: torch.Tensor
    psnr: float
    ssim: float
    verdict: str
    seconds: float


@dataclass(frozen=True)
class AggregateLeakage(Stage):
    """Gradient inversion against the (securely) aggregated update of ``n_sites`` hospitals,
    each sending the update of ``batch_size`` X-rays after ``local_steps`` local steps.

    ``images``: X-rays (N, 1, S, S) in [0, 1] with ``labels``; hospital i holds images
    i·B … i·B + B − 1 (non-key; they enter the key by fingerprint). The server's model is the
    untrained sigmoid LeNet of lesson 04 (:func:`make_victim_model`), the easiest case for the
    attacker. Result: :class:`LeakageResult`; each record's ``partial`` is the attack's frame.
    """

    n_sites: int = 1
    local_steps: int = 1
    batch_size: int = 1
    size: int = 28
    iterations: int = 200
    seed: int = 0
    images: Any = field(default=None, compare=False, repr=False, metadata={"key": False})
    labels: Any = field(default=None, compare=False, repr=False, metadata={"key": False})

    namespace: ClassVar[str] = "federated-leakage"

    def __post_init__(self) -> None:
        check_int("n_sites", self.n_sites, low=1, high=16)
        check_int("local_steps", self.local_steps, low=1, high=100)
        check_int("batch_size", self.batch_size, low=1, high=64)
        check_int("iterations", self.iterations, low=1, high=100_000)
        check_int("seed", self.seed, low=0)
        check_choice("size", self.size, SIZES)
        if self.images is None or self.labels is None:
            raise InvalidParameterError("`images` and `labels` must be given: the X-rays the "
                                        "hospitals hold.")
        check_images(self.images)
        need = self.n_sites * self.batch_size
        if self.images.shape[0] < need:
            raise InvalidParameterError(
                f"`images` must hold at least n_sites × batch_size = {need} X-rays; got "
                f"{self.images.shape[0]}. Pass more X-rays or choose fewer sites.")
        if self.images.shape[-1] != self.size:
            raise InvalidParameterError(
                f"`images` must be `size` = {self.size} px; got {self.images.shape[-1]} px. "
                f"Set size={self.images.shape[-1]} or load X-rays of {self.size} px.")
        labels = as_labels(self.labels)
        if labels.numel() < need or (labels.numel() and (int(labels.min()) < 0
                                                          or int(labels.max()) > 1)):
            raise InvalidParameterError(
                f"`labels` must hold at least {need} class numbers (0 = normal, 1 = pneumonia), "
                f"one per X-ray; got {labels.numel()} with values "
                f"{sorted(set(labels[:need].tolist()))[:4]}.")

    @property
    def title(self) -> str:
        who = "one hospital's update" if self.n_sites == 1 else f"the sum of {self.n_sites} hospitals"
        return f"reconstruction from {who}"

    @functools.cached_property
    def _fingerprint(self) -> str:
        import hashlib

        h = hashlib.sha256(self.images[: self.n_sites * self.batch_size].numpy().tobytes())
        h.update(torch.as_tensor(self.labels)[: self.n_sites * self.batch_size].numpy().tobytes())
        return h.hexdigest()[:16]

    def key(self) -> dict:
        return {"stage": "AggregateLeakage", "n_sites": self.n_sites,
                "local_steps": self.local_steps, "batch_size": self.batch_size, "size": self.size,
                "iterations": self.iterations, "seed": self.seed, "images": self._fingerprint}

    def estimate_seconds(self) -> float:
        """Expected wall seconds on this machine now: probe units (experiments/speed.py), fitted
        to timed runs at 28 px, 200 iterations (one hospital 1.9 s, the sum of four 3.6 s at a
        probe of 0.0105–0.015 s; 8.4 s for both in a fresh process): about 250 units to set
        up, 0.1 per iteration and X-ray."""
        images = self.n_sites * self.batch_size * self.local_steps
        return (250.0 + 0.1 * self.iterations * images * (self.size / 28) ** 2) * probe_seconds()

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        t0 = time.perf_counter()
        model = make_victim_model(size=self.size, kind="lenet", seed=self.seed)
        b, n = self.batch_size, self.n_sites
        labels = torch.as_tensor(self.labels, dtype=torch.long)
        defense = Defense(local_steps=self.local_steps)
        updates = [client_update(model=model, images=self.images[i * b:(i + 1) * b],
                                 labels=labels[i * b:(i + 1) * b], defense=defense, seed=i)
                   for i in range(n)]
        update = aggregate_updates(updates, secure=n > 1, round_id=self.seed)
        truth = self.images[: n * b].detach().clone()
        frames = reconstruct(model=model, update=update, attack="inverting_gradients",
                             iterations=self.iterations, frame_every=max(1, self.iterations // 10),
                             seed=self.seed, stop=stop, score=make_scorer(truth))
        frame = None
        for item in frames:
            # the reconstruction package yields Frames (or Progress records carrying them)
            frame = item.partial if isinstance(item, Progress) else item
            if frame is None:
                continue
            yield Progress(self.title, min(frame.iteration, self.iterations), self.iterations,
                           f"{self.title}: iteration {frame.iteration}, PSNR {frame.psnr:.1f} dB",
                           partial=frame)
        if frame is None or stop_requested(stop):
            yield Progress(self.title, 0 if frame is None else frame.iteration, self.iterations,
                           f"{self.title}: stopped.", stopped=True)
            return
        result = LeakageResult(n, self.local_steps, frame.image, truth, frame.psnr, frame.ssim,
                               verdict(frame.psnr, frame.ssim), time.perf_counter() - t0)
        yield Progress(self.title, self.iterations, self.iterations,
                       f"{self.title}: {result.verdict} (PSNR {result.psnr:.1f} dB, "
                       f"SSIM {result.ssim:.2f})", partial=result)


def leakage_stages(*, images, labels, n_sites=(1, 2, 4), local_steps: int = 1,
                   iterations: int = 200, size: int | None = None, seed: int = 0
                   ) -> list[AggregateLeakage]:
    """One :class:`AggregateLeakage` per number of hospitals (same X-rays, same attack)."""
    if size is None:
        size = int(check_images(images).shape[-1])
    if isinstance(n_sites, (str, bytes)) or not isinstance(n_sites, Iterable):
        raise InvalidParameterError(
            f"`n_sites` must be a sequence of hospital counts such as (1, 2, 4); got {n_sites!r}.")
    n_sites = [check_int("n_sites", n, low=1, high=16) for n in n_sites]
    return [AggregateLeakage(n_sites=int(n), local_steps=local_steps, size=size,
                             iterations=iterations, seed=seed, images=images, labels=labels)
            for n in n_sites]


__all__ = ["AggregateLeakage", "LeakageResult", "aggregate_updates", "leakage_stages"]
