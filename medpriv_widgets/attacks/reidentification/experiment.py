"""Re-identification as a cached experiment: train the embedding on some patients, test on others.

:class:`ReidSettings` (frozen, checked once) and the stage :class:`ReidTraining`: it loads the
X-rays, splits them **by patient** (no held-out patient has an image in training), trains
:class:`~.model.EmbeddingNet` with the supervised contrastive loss on batches of patients (two
X-rays each; a patient with one X-ray gets two augmented views of it), and measures on the
held-out patients: the learned embedding, the pixel-correlation baseline, and both again when
the query X-ray was "anonymised" (:func:`~.anonymise.anonymise_images`) but the archive was not.

Its result (a dict, cached by the stage) holds the metrics, the trained weights, the split and
the held-out embeddings, so the lookup lab answers instantly.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..._validate import check_choice, check_int, check_real
from ...data import patient_split
from ...device import device_label
from ...experiments import Stage
from ...experiments.speed import probe_seconds
from ...experiments.threads import TRAINING_THREADS
from ...progress import Progress
from ...stopping import StopToken, stop_requested
from .anonymise import anonymise_images
from .data import ReidData, load_reid_data
from .metrics import pixel_embeddings, retrieval_metrics
from .model import EmbeddingNet, augment, contrastive_loss

#: Cost of training on one 64 px X-ray (width 16, one thread), in units of the machine-speed
#: probe (:mod:`medpriv_widgets.experiments.speed`), so the up-front estimate holds on a busy
#: machine as on a quiet one. Measured (``medpriv bench reid``, 2-core project machine, load
#: 1–2): 3.2 ms per image with the probe at 0.0145 s. Small images are dominated by overheads:
#: the cost falls only like size^0.45.
UNITS_PER_TRAIN_IMAGE_64 = 0.23
#: Measuring on the held-out patients (embeddings, pixel baseline, anonymised queries): 13 s
#: at the same probe.
UNITS_FIXED = 900.0


@dataclass(frozen=True)
class ReidSettings:
    """Everything that decides a re-identification result.

    source : 'pediatric' or 'nih'. size : 28, 64 or 128 px. epochs : passes over the training
    patients. batch_patients : patients per batch (two X-rays each). width, dim : network
    channels and embedding length. lr : peak learning rate (one-cycle). temperature : of the
    contrastive loss. test_fraction : share of images whose patients are held out. seed.
    n_synthetic : phantoms per split when there is no real data.
    """

    source: str = "pediatric"
    size: int = 64
    epochs: int = 8
    batch_patients: int = 64
    width: int = 16
    dim: int = 128
    lr: float = 3e-3
    temperature: float = 0.1
    test_fraction: float = 0.3
    seed: int = 0
    n_synthetic: int = 600

    def __post_init__(self) -> None:
        check_choice("source", self.source, ("pediatric", "nih"))
        check_choice("size", self.size, (28, 64, 128))
        check_int("epochs", self.epochs, low=1, high=500)
        check_int("batch_patients", self.batch_patients, low=4, high=1024)
        check_int("width", self.width, low=4, high=128)
        check_int("dim", self.dim, low=8, high=1024)
        check_real("lr", self.lr, low=0.0, low_inclusive=False, high=1.0)
        check_real("temperature", self.temperature, low=0.0, low_inclusive=False, high=10.0)
        check_real("test_fraction", self.test_fraction, low=0.05, high=0.9)
        check_int("seed", self.seed, low=0)
        check_int("n_synthetic", self.n_synthetic, low=10, high=100_000)


def split_patients(data: ReidData, settings: ReidSettings) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): patient-disjoint, about ``test_fraction`` held out."""
    train, test = patient_split(data.patient_ids, seed=settings.seed,
                                fractions=(1.0 - settings.test_fraction, settings.test_fraction))
    return train, test


def _embed(net: torch.nn.Module, images: torch.Tensor, device) -> torch.Tensor:
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, images.shape[0], 512):
            out.append(net(images[i:i + 512].to(device)).cpu())
    return torch.cat(out)


@dataclass(frozen=True)
class ReidTraining(Stage):
    """Train and evaluate the re-identification embedding (one cached stage)."""

    settings: ReidSettings = dataclasses.field(default_factory=ReidSettings)
    data_fingerprint: str = ""
    #: The loaded data, when the caller has them already (not part of the cache key: the
    #: fingerprint is).
    data: ReidData | None = dataclasses.field(default=None, compare=False, repr=False,
                                              metadata={"key": False})
    namespace: ClassVar[str] = "reidentification"
    # One CPU thread: faster on a busy machine, and the same numbers on every machine
    # (experiments/threads.py; two threads at load 8 took 1,907 s, not 3 min).
    cpu_threads: ClassVar[int | None] = TRAINING_THREADS

    @classmethod
    def for_data(cls, settings: ReidSettings, data: ReidData) -> "ReidTraining":
        """The stage for these data (their fingerprint is part of the cache key)."""
        return cls(settings=settings, data_fingerprint=data.fingerprint(), data=data)

    @classmethod
    def for_settings(cls, settings: ReidSettings) -> "ReidTraining":
        """The stage for the X-rays ``settings`` name, loaded now (about a second): the cache
        key holds their fingerprint, so the lab, precompute and the benchmark agree on it."""
        return cls.for_data(settings, cls(settings=settings).load_data())

    @property
    def title(self) -> str:
        return f"re-identification network ({self.settings.size} px, {self.settings.epochs} epochs)"

    def load_data(self) -> ReidData:
        if self.data is not None:
            return self.data
        s = self.settings
        return load_reid_data(source=s.source, size=s.size, n_synthetic=s.n_synthetic,
                              seed=s.seed)

    def estimate_units(self) -> float:
        """Cost of :meth:`compute` in probe units (two X-rays per training patient and epoch)."""
        s = self.settings
        patients = {"pediatric": 4097, "nih": 264}[s.source] * (1 - s.test_fraction)
        images = 2 * patients * s.epochs
        per_image = UNITS_PER_TRAIN_IMAGE_64 * (s.size / 64) ** 0.45 * (s.width / 16) ** 2
        return images * per_image + UNITS_FIXED

    def estimate_seconds(self) -> float:
        """Expected wall seconds of :meth:`compute` on this machine now (probe-scaled)."""
        return self.estimate_units() * probe_seconds()

    def compute(self, *, cache=None, stop: StopToken | None, device=None) -> Iterator[Progress]:
        s = self.settings
        device = torch.device("cpu") if device is None else torch.device(device)
        total = s.epochs + 1
        yield Progress(self.title, 0, total, "Loading the X-rays…")
        data = self.load_data()
        train, test = split_patients(data, s)
        codes = np.unique(data.patient_ids[train], return_inverse=True)[1]
        groups = [np.flatnonzero(codes == k) for k in range(int(codes.max()) + 1)]
        steps = max(1, len(groups) // s.batch_patients)
        x_train = data.images[train]
        rng = np.random.default_rng([s.seed, 7])
        losses: list[float] = []
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s.seed)
            gen = torch.Generator().manual_seed(s.seed)
            net = EmbeddingNet(width=s.width, dim=s.dim).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=s.lr / 10)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr,
                                                        total_steps=s.epochs * steps)
            for epoch in range(1, s.epochs + 1):
                net.train()
                order = rng.permutation(len(groups))
                total_loss = 0.0
                for b in range(steps):
                    if stop_requested(stop):
                        yield Progress(self.title, epoch - 1, total,
                                       f"Stopped in epoch {epoch}; nothing was kept.",
                                       stopped=True)
                        return
                    idx, lab = [], []
                    for j, p in enumerate(order[b * s.batch_patients:(b + 1) * s.batch_patients]):
                        g = groups[p]
                        pair = rng.choice(g, 2, replace=False) if g.size > 1 else (g[0], g[0])
                        idx += [int(pair[0]), int(pair[1])]
                        lab += [j, j]
                    xb = x_train[idx]
                    # Half the images are "anonymised" first: an attacker who knows that exports
                    # crop borders and blur corners trains for it.
                    anon = torch.rand(xb.shape[0], generator=gen) < 0.5
                    xb = torch.where(anon[:, None, None, None], anonymise_images(xb), xb)
                    xb = augment(xb, gen).to(device)
                    loss = contrastive_loss(net(xb), torch.tensor(lab, device=device),
                                            temperature=s.temperature)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    total_loss += loss.item()
                losses.append(total_loss / steps)
                yield Progress(self.title, epoch, total,
                               f"epoch {epoch} of {s.epochs}, loss {losses[-1]:.2f}",
                               partial={"epoch": epoch, "loss": losses[-1]})
        train_seconds = time.perf_counter() - t0
        yield Progress(self.title, s.epochs, total, "Measuring on patients it never saw…")
        x_test = data.images[test]
        x_anon = anonymise_images(x_test)
        ids = data.patient_ids[test]
        emb = _embed(net, x_test, device)
        emb_anon = _embed(net, x_anon, device)
        pix = pixel_embeddings(x_test)
        pix_anon = pixel_embeddings(x_anon)
        metrics = {
            "embedding": retrieval_metrics(emb, ids).as_dict(),
            "pixel": retrieval_metrics(pix, ids).as_dict(),
            "embedding_anonymised": retrieval_metrics(emb, ids, queries=emb_anon).as_dict(),
            "pixel_anonymised": retrieval_metrics(pix, ids, queries=pix_anon).as_dict(),
        }
        result = {
            "settings": dataclasses.asdict(s),
            "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "train_index": train, "test_index": test,
            "test_embeddings": emb, "test_embeddings_anonymised": emb_anon,
            "metrics": metrics, "losses": losses, "train_seconds": train_seconds,
            "device": device_label(device), "n_images": len(data),
            "n_patients": data.n_patients,
            "n_test_patients": int(np.unique(ids).size),
            "caption": data.caption, "credit": data.credit, "synthetic": data.synthetic,
        }
        yield Progress(self.title, total, total,
                       f"Done: held-out verification AUC "
                       f"{metrics['embedding']['verification_auc']:.3f} "
                       f"(trained in {train_seconds:.0f} s).", partial=result)


def load_model(result: dict) -> EmbeddingNet:
    """The trained network of a :class:`ReidTraining` result, in eval mode on the CPU."""
    s = result["settings"]
    net = EmbeddingNet(width=s["width"], dim=s["dim"])
    net.load_state_dict(result["state_dict"])
    return net.eval()


__all__ = ["ReidSettings", "ReidTraining", "UNITS_PER_TRAIN_IMAGE_64", "load_model",
           "split_patients"]
