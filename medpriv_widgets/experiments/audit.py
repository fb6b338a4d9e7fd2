"""The one-run canary audit of DP-SGD as a stage (Steinke, Nasr & Jagielski 2023), end to end.

1. Base data: the first ``n_train`` X-rays of ``data`` (or synthetic phantoms). Canaries:
   ``n_canaries`` random-pattern images (:func:`make_canaries`), each included independently
   with probability ½ — the secret the auditor tries to recover.
2. Train with the project's one training loop (:func:`medpriv_widgets.training.train`): DP-SGD
   with Poisson sampling, clipping and noise σ·C through Opacus, SGD with momentum — or plain SGD
   when ``noise_multiplier`` is 0.
3. Score each canary by the rank of its loss (under its own label) among the canaries of that
   label, so the model's overall lean towards one class does not matter; guess "in" for the
   lowest, "out" for the highest, abstain on the rest.
4. Lower bound: :func:`medpriv_widgets.privacy.audit.one_run_audit`; claimed ε: dp-accounting's
   PLD accountant for the σ, sampling rate and steps actually run.

With probability ≥ ``confidence`` the audited ε is at most the run's true ε; a result above the
claimed ε would mean the claim (or the DP-SGD code) is wrong. The statistics live in
:mod:`medpriv_widgets.privacy.audit`; this module only runs the experiment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._validate import check_choice, check_int, check_open_unit, check_real
from ..errors import InvalidParameterError
from ..progress import Progress
from .stage import Stage


@dataclass(frozen=True)
class CanaryAuditResult:
    """Outcome of a canary audit.

    ``losses``: each canary's loss under its label after training, shape (m,); ``scores``: that
    loss's rank among canaries of the same label, scaled to (0, 1) (lower = looks like a member);
    ``included``: bool (m,), which canaries were in the training set; ``guess``: int (m,),
    +1 guessed in, −1 guessed out, 0 abstained.
    """

    epsilon_lower: float        # audited lower bound at `confidence`
    epsilon_claimed: float      # accountant's ε at `delta` (inf when not private)
    delta: float
    confidence: float
    n_canaries: int
    guesses_made: int
    guesses_correct: int
    noise_multiplier: float
    sample_rate: float
    steps: int
    losses: np.ndarray
    scores: np.ndarray
    included: np.ndarray
    guess: np.ndarray
    train_accuracy: float
    seconds: float


#: The most canaries one audit makes (as CanaryAudit allows), and the most pixels in all
#: (2**28 float32 values: 1 GiB).
MAX_CANARIES = 10_000
MAX_CANARY_PIXELS = 2**28


def make_canaries(*, n: int, size: int = 28, seed: int = 0):
    """``n`` canary images and labels: random black/white pixel patterns, labels 0,1,0,1,…

    Returns (images float32 (n, 1, size, size) in {0, 1}, labels int64 (n,)). Random patterns are
    nearly orthogonal to each other and to X-rays, so a model that fits one learns nothing about
    the others: whether a canary was in training shows only through memorisation — the cleanest
    membership signal, i.e. the auditor's best case.
    """
    import torch

    n = check_int("n", n, low=1, high=MAX_CANARIES,
                  hint="An audit needs a few hundred canaries, not more than the training set.")
    size = check_int("size", size, low=4, high=512, hint="It is the image side in pixels.")
    if n * size * size > MAX_CANARY_PIXELS:
        raise InvalidParameterError(
            f"`n` × `size`² must be at most {MAX_CANARY_PIXELS:,} pixels (1 GiB of images); got "
            f"{n:,} canaries of {size} px. Use fewer or smaller canaries.")
    # torch seeds are 64-bit; the offset keeps canaries apart from the base images' seed.
    gen = torch.Generator().manual_seed(check_int("seed", seed, low=0, high=2**63 - 8_000)
                                        + 7_919)
    images = (torch.rand(n, 1, size, size, generator=gen) < 0.5).float()
    labels = torch.arange(n, dtype=torch.int64) % 2
    return images, labels


@dataclass(frozen=True)
class CanaryAudit(Stage):
    """Audit one DP-SGD run with canaries. Result: :class:`CanaryAuditResult`.

    ``model``: ``"linear"`` (logistic regression on the pixels: fits hundreds of canaries in a
    fraction of a second) or ``"cnn"`` (the lessons' SmallCNN of ``width``). ``n_guesses``:
    guesses in all (default ``n_canaries``/2). ``data``: a ChestXrayData for the base images
    (None: synthetic phantoms of ``size`` px); it enters the key by fingerprint.
    """

    noise_multiplier: float
    n_canaries: int = 100
    n_train: int = 200
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.05
    max_grad_norm: float = 1.0
    delta: float = 1e-5
    n_guesses: int | None = None
    confidence: float = 0.95
    model: str = "linear"
    width: int = 8
    size: int = 28
    seed: int = 0
    data: Any = field(default=None, compare=False, repr=False, metadata={"key": False})

    namespace: ClassVar[str] = "audit"

    def __post_init__(self) -> None:
        check_real("noise_multiplier", self.noise_multiplier, low=0.0,
                   hint="Use 0 for a non-private model.")
        m = check_int("n_canaries", self.n_canaries, low=2, high=10_000)
        check_int("n_train", self.n_train, low=1, high=100_000)
        check_int("epochs", self.epochs, low=1, high=10_000)
        check_int("batch_size", self.batch_size, low=1)
        check_real("lr", self.lr, low=0.0, low_inclusive=False)
        check_real("max_grad_norm", self.max_grad_norm, low=0.0, low_inclusive=False)
        check_open_unit("delta", self.delta)
        if self.n_guesses is not None:
            check_int("n_guesses", self.n_guesses, low=2, high=m,
                      hint="Each guess is about a different canary.")
        check_open_unit("confidence", self.confidence)
        check_choice("model", self.model, ("linear", "cnn"))
        check_int("width", self.width, low=4, high=256)
        check_int("seed", self.seed, low=0)
        if self.data is None:
            check_choice("size", self.size, (28, 64, 128))
        elif len(self.data) < self.n_train:
            raise InvalidParameterError(
                f"`n_train` must be at most the number of examples in `data` ({len(self.data)}); "
                f"got {self.n_train}. Lower n_train or pass more data.")

    @property
    def title(self) -> str:
        return f"canary audit (σ = {self.noise_multiplier:g}, {self.n_canaries} canaries)"

    def key(self) -> dict:
        key = super().key()
        key["data"] = None if self.data is None else self.data.fingerprint
        return key

    def estimate_seconds(self) -> float:
        n = self.n_train + self.n_canaries / 2
        steps = self.epochs * math.ceil(n / self.batch_size)
        per_step = 0.004 if self.model == "linear" else 0.02 * (self.size / 28) ** 2
        return 1.0 + steps * per_step

    def _training_set(self):
        """(base X-rays, training set with the included canaries, canaries, included mask)."""
        import torch

        from ..data import ChestXrayData, make_phantoms

        data = self.data if self.data is not None else make_phantoms(
            n=self.n_train, size=self.size, seed=self.seed)
        base = data.subset(np.arange(self.n_train))
        can_x, can_y = make_canaries(n=self.n_canaries, size=base.size, seed=self.seed)
        rng = np.random.default_rng([self.seed, 4242])
        included = rng.random(self.n_canaries) < 0.5   # the secret the auditor tries to recover
        keep = torch.from_numpy(included)
        train_set = ChestXrayData(
            images=torch.cat([base.images.float(), can_x[keep]]),
            labels=torch.cat([base.labels.long(), can_y[keep]]), patient_ids=None,
            size=base.size, split="train", source=f"{base.source} + canaries",
            synthetic=base.synthetic)
        return base, train_set, (can_x, can_y), included

    def train_config(self):
        """The :class:`~medpriv_widgets.training.TrainConfig` of the audited run."""
        from ..training import TrainConfig

        private = self.noise_multiplier > 0
        return TrainConfig(
            size=self.size if self.data is None else self.data.size, epochs=self.epochs,
            batch_size=self.batch_size, lr=self.lr, optimizer="sgd",
            noise_multiplier=self.noise_multiplier if private else None,
            delta=self.delta, max_grad_norm=self.max_grad_norm, seed=self.seed,
            val_fraction=0.0, width=self.width, activation="relu",
            architecture="linear" if self.model == "linear" else "cnn",
            accountant="rdp", augment=False, ema=0.0, standardize=False, zero_head=False)

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        import torch
        import torch.nn.functional as F

        from ..privacy.audit import one_run_audit
        from ..training import load_model, train

        t0 = time.perf_counter()
        base, train_set, (can_x, can_y), included = self._training_set()
        threads = torch.get_num_threads()
        # One thread: for models this small, thread start-up costs more than it saves, and the
        # numbers then do not depend on how many cores the machine has. Restored below.
        torch.set_num_threads(1)
        try:
            last = None
            for last in train(self.train_config(), data=train_set, test_data=train_set,
                              stop=stop, device="cpu"):
                if last.stopped:
                    yield last.with_(stage=self.title, partial=None)
                    return
                if not last.finished:
                    yield last.with_(stage=self.title)
            run = last.partial
            net = load_model(run)
            with torch.no_grad():
                losses = F.cross_entropy(net(can_x), can_y, reduction="none").numpy().astype(float)
                train_acc = float((net(base.images.float()).argmax(1) == base.labels).float().mean())
        finally:
            torch.set_num_threads(threads)
        guess, scores = _guesses(losses, can_y.numpy(), self.n_guesses or max(2, self.n_canaries // 2))
        made = int(np.count_nonzero(guess))
        correct = int(np.sum((guess == 1) & included) + np.sum((guess == -1) & ~included))
        eps_lower = one_run_audit(guesses_correct=correct, guesses_made=made,
                                  n_canaries=self.n_canaries, delta=self.delta,
                                  confidence=self.confidence)
        if self.noise_multiplier == 0:
            eps_claimed = math.inf
        else:
            from ..privacy.bounds import dpsgd_pld_epsilon

            eps_claimed = dpsgd_pld_epsilon(noise_multiplier=self.noise_multiplier,
                                            sample_rate=run.sample_rate, steps=run.steps,
                                            delta=self.delta)
        result = CanaryAuditResult(
            epsilon_lower=eps_lower, epsilon_claimed=eps_claimed, delta=self.delta,
            confidence=self.confidence, n_canaries=self.n_canaries, guesses_made=made,
            guesses_correct=correct, noise_multiplier=float(self.noise_multiplier),
            sample_rate=float(run.sample_rate), steps=int(run.steps), losses=losses,
            scores=scores, included=included, guess=guess, train_accuracy=train_acc,
            seconds=time.perf_counter() - t0)
        yield Progress(self.title, last.total, last.total,
                       f"audited ε ≥ {eps_lower:.2f} (claimed {eps_claimed:.2f})", partial=result)


def _guesses(losses: np.ndarray, labels: np.ndarray, k_total: int) -> tuple[np.ndarray, np.ndarray]:
    """Guess from the outputs alone: (+1 in / −1 out / 0 abstain per canary, rank scores).

    The score is the loss's rank among canaries of the same label (0 = lowest loss), so a model
    leaning towards one class does not make all canaries of that class look like members.
    """
    m = len(losses)
    scores = np.empty(m)
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        ranks = np.argsort(np.argsort(losses[idx], kind="stable"), kind="stable")
        scores[idx] = (ranks + 0.5) / len(idx)
    order = np.argsort(scores, kind="stable")  # stable: ties broken by index, deterministic
    k_in = k_total // 2
    guess = np.zeros(m, dtype=int)
    guess[order[:k_in]] = 1
    guess[order[m - (k_total - k_in):]] = -1
    return guess, scores


__all__ = ["CanaryAudit", "CanaryAuditResult", "make_canaries"]
