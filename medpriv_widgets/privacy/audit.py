"""Auditing a DP claim from the outside: lower bounds on ε that an attack actually achieves.

A DP guarantee is an *upper* bound on what any attacker can do. An attack that succeeds gives a
*lower* bound: if the lower bound ever exceeded the claimed ε (beyond chance), the claim — or the
code that implements it — would be wrong. Three tools:

* :func:`epsilon_lower_bound` — from a membership attack's TPR and FPR, with Clopper–Pearson
  confidence intervals (``ε̂ = ln((TPR − δ)/FPR)`` and its mirror image).
* :func:`one_run_audit` — Steinke, Nasr & Jagielski (NeurIPS 2023): m canaries, each included
  with probability ½, r guesses, v correct; one training run suffices.
* :func:`canary_audit` — that audit end to end: insert random-pattern canaries, train a small
  model with DP-SGD (Opacus, Poisson sampling), score canaries by loss, guess, bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta as beta_dist
from scipy.stats import binom

from .._validate import check_choice, check_int, check_open_unit, check_real
from ..errors import InvalidParameterError

__all__ = [
    "EpsilonLowerBound",
    "epsilon_lower_bound",
    "one_run_audit",
    "one_run_p_value",
    "CanaryAuditResult",
    "canary_audit",
    "make_canaries",
]


# --------------------------------------------------------------------------- from TPR / FPR

@dataclass(frozen=True)
class EpsilonLowerBound:
    """ε implied by one operating point of a membership attack.

    ``epsilon_point`` uses the observed rates (can be ``inf`` when FPR = 0); ``epsilon_lower``
    holds with probability ≥ ``confidence`` over the members/non-members drawn (never < 0).
    """

    epsilon_point: float
    epsilon_lower: float
    tpr: float
    fpr: float
    tpr_lower: float      # one-sided Clopper–Pearson lower bound on TPR
    fpr_upper: float      # one-sided Clopper–Pearson upper bound on FPR
    n_members: int
    n_nonmembers: int
    delta: float
    confidence: float


def _cp_lower(k: int, n: int, a: float) -> float:
    """One-sided Clopper–Pearson lower bound at level 1 − a for k successes in n."""
    return 0.0 if k == 0 else float(beta_dist.ppf(a, k, n - k + 1))


def _cp_upper(k: int, n: int, a: float) -> float:
    """One-sided Clopper–Pearson upper bound at level 1 − a."""
    return 1.0 if k == n else float(beta_dist.ppf(1.0 - a, k + 1, n - k))


def _log_ratio(num: float, den: float) -> float:
    """ln(num/den) clipped at 0 (ε ≥ 0); ``inf`` when den = 0 < num."""
    if num <= 0.0:
        return 0.0
    if den <= 0.0:
        return math.inf
    return max(0.0, math.log(num / den))


def _rate_to_count(name: str, rate, n: int) -> int:
    r = check_real(name, rate, low=0.0, high=1.0)
    k = round(r * n)
    # Rates come from counts; a rate that is not k/n for the n given is a mix-up of inputs.
    if abs(r * n - k) > 1e-6 * max(1, n):
        raise InvalidParameterError(
            f"`{name}` must be a count divided by its group size ({n}); got {rate!r}, which is "
            f"{r * n:.4f}/{n}. Pass the rate measured on exactly that many examples.")
    return k


def epsilon_lower_bound(*, tpr: float, fpr: float, n_members: int, n_nonmembers: int,
                        delta: float = 0.0, confidence: float = 0.95) -> EpsilonLowerBound:
    """Lower bound on ε from a membership attack at one threshold.

    Under (ε, δ)-DP every test satisfies ``TPR ≤ e^ε·FPR + δ`` and ``1 − FPR ≤ e^ε(1 − TPR) + δ``,
    so ``ε ≥ max{ln((TPR − δ)/FPR), ln((1 − FPR − δ)/(1 − TPR))}``. With sampling error: TPR is
    replaced by its one-sided Clopper–Pearson lower bound and FPR by its upper bound, each at level
    1 − (1 − confidence)/2, so the pair (and hence ``epsilon_lower``) holds with probability
    ≥ ``confidence`` (union bound).

    ``tpr``, ``fpr``: observed rates, each a count divided by ``n_members`` / ``n_nonmembers``.
    The threshold must have been chosen without these examples, or the confidence is void.
    """
    n_m = check_int("n_members", n_members, low=1)
    n_n = check_int("n_nonmembers", n_nonmembers, low=1)
    k_tp = _rate_to_count("tpr", tpr, n_m)
    k_fp = _rate_to_count("fpr", fpr, n_n)
    d = check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False)
    conf = check_open_unit("confidence", confidence)

    a = (1.0 - conf) / 2.0
    tpr_hat, fpr_hat = k_tp / n_m, k_fp / n_n
    tpr_lo, fpr_hi = _cp_lower(k_tp, n_m, a), _cp_upper(k_fp, n_n, a)
    point = max(_log_ratio(tpr_hat - d, fpr_hat), _log_ratio(1.0 - fpr_hat - d, 1.0 - tpr_hat))
    lower = max(_log_ratio(tpr_lo - d, fpr_hi), _log_ratio(1.0 - fpr_hi - d, 1.0 - tpr_lo))
    return EpsilonLowerBound(epsilon_point=point, epsilon_lower=lower, tpr=tpr_hat, fpr=fpr_hat,
                             tpr_lower=tpr_lo, fpr_upper=fpr_hi, n_members=n_m,
                             n_nonmembers=n_n, delta=d, confidence=conf)


# --------------------------------------------------------------------------- one-run audit

def _p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """P[≥ v of r guesses correct] under (ε, δ)-DP (Steinke, Nasr & Jagielski 2023, Thm 5.2).

    δ = 0: the count of correct guesses is dominated by Binomial(r, e^ε/(1+e^ε)). δ > 0 adds
    2·m·δ·α, α = max_{i≤v} P[v − i ≤ Bin < v]/i (their Algorithm in the appendix).
    """
    p = 1.0 / (1.0 + math.exp(-eps))  # accuracy of ε-DP randomised response
    tail = float(binom.sf(v - 1, r, p))
    if delta == 0.0 or v == 0:
        return min(1.0, tail)
    pmf = binom.pmf(np.arange(v - 1, -1, -1), r, p)  # P[Bin = v−1], P[Bin = v−2], …, P[Bin = 0]
    alpha = float(np.max(np.cumsum(pmf) / np.arange(1, v + 1)))
    return min(1.0, tail + alpha * delta * 2.0 * m)


def _check_guesses(guesses_correct, guesses_made, n_canaries, delta):
    r = check_int("guesses_made", guesses_made, low=0)
    v = check_int("guesses_correct", guesses_correct, low=0, high=r,
                  hint="Correct guesses cannot outnumber guesses made.")
    d = check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False)
    if n_canaries is None:
        if d > 0:
            raise InvalidParameterError(
                "`n_canaries` (the number m of canaries inserted) is required when `delta` > 0; "
                "got None. Pass it, or audit pure ε-DP with delta=0.")
        m = r
    else:
        m = check_int("n_canaries", n_canaries, low=max(r, 1),
                      hint="Every guess is about a different canary, so m ≥ guesses_made.")
    return r, v, m, d


def one_run_p_value(*, epsilon: float, guesses_correct: int, guesses_made: int,
                    n_canaries: int | None = None, delta: float = 0.0) -> float:
    """P[at least ``guesses_correct`` of ``guesses_made`` guesses right] if the run is (ε, δ)-DP."""
    r, v, m, d = _check_guesses(guesses_correct, guesses_made, n_canaries, delta)
    eps = check_real("epsilon", epsilon, low=0.0)
    return _p_value(m, r, v, eps, d)


def one_run_audit(*, guesses_correct: int, guesses_made: int, n_canaries: int | None = None,
                  delta: float = 0.0, confidence: float = 0.95) -> float:
    """Audited lower bound on ε from one training run (Steinke, Nasr & Jagielski 2023).

    m canaries were each included independently with probability ½; the auditor guessed
    "in" or "out" for ``guesses_made`` = r of them and got ``guesses_correct`` = v right. Returns
    the largest ε whose p-value for "≥ v correct" is ≤ β = 1 − ``confidence`` (0 when even ε = 0
    cannot be rejected): with probability ≥ ``confidence`` the true ε is at least this.

    ``delta`` > 0 audits (ε, δ)-DP and then needs ``n_canaries`` (m).
    """
    r, v, m, d = _check_guesses(guesses_correct, guesses_made, n_canaries, delta)
    conf = check_open_unit("confidence", confidence)
    beta = 1.0 - conf
    if r == 0 or _p_value(m, r, v, 0.0, d) > beta:
        return 0.0
    lo, hi = 0.0, 1.0
    while _p_value(m, r, v, hi, d) <= beta:  # the p-value rises to 1 (or 2mδα) as ε grows
        lo, hi = hi, 2.0 * hi
        if hi > 1e3:  # cannot happen for r ≥ 1 and β > 0; guard against a silent endless loop
            return math.inf
    for _ in range(60):  # bisection: keep p(lo) ≤ β < p(hi)
        mid = 0.5 * (lo + hi)
        if _p_value(m, r, v, mid, d) <= beta:
            lo = mid
        else:
            hi = mid
    return lo


# --------------------------------------------------------------------------- end-to-end audit

@dataclass(frozen=True)
class CanaryAuditResult:
    """Outcome of :func:`canary_audit`.

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


def _make_model(kind: str, size: int, width: int, seed: int):
    import torch

    from ..models import make_model

    if kind == "cnn":
        return make_model(size=size, seed=seed, width=width)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        # Logistic regression on the pixels: fits hundreds of canaries exactly, trains in a
        # fraction of a second, and per-sample gradients are cheap for Opacus.
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(size * size, 2))


def _train(x, y, *, model_kind, noise_multiplier, max_grad_norm, batch_size, epochs, lr, width,
           seed):
    """Train a model; DP-SGD via Opacus (Poisson sampling) unless noise_multiplier == 0.

    Returns (model in eval mode, sample_rate, steps).
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    model = _make_model(model_kind, int(x.shape[-1]), width, seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=gen)
    if noise_multiplier > 0:
        import warnings

        from opacus import PrivacyEngine

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "secure RNG off": fine for a teaching audit
            model, opt, loader = PrivacyEngine().make_private(
                module=model, optimizer=opt, data_loader=loader,
                noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm,
                poisson_sampling=True, noise_generator=torch.Generator().manual_seed(seed + 1))
        sample_rate = float(loader.sample_rate)
    else:
        sample_rate = min(1.0, batch_size / len(x))
    loss_fn = torch.nn.CrossEntropyLoss()
    steps = 0
    model.train()
    import warnings

    with warnings.catch_warnings():
        # Opacus' hooks warn that the input needs no gradient; harmless here.
        warnings.filterwarnings("ignore", message=".*full backward hook.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*Full backward hook.*", category=UserWarning)
        for _ in range(epochs):
            for xb, yb in loader:
                opt.zero_grad(set_to_none=True)
                out = model(xb)
                # An empty Poisson batch still runs backward (Opacus needs its zero-size
                # per-sample gradients) and still takes a noisy step, as the accountant assumes;
                # the mean of nothing would be NaN, so use a zero-valued sum instead.
                loss = loss_fn(out, yb) if len(xb) > 0 else out.sum() * 0.0
                loss.backward()
                opt.step()
                steps += 1
    model.eval()
    return model, sample_rate, steps


def make_canaries(*, n: int, size: int = 28, seed: int = 0):
    """``n`` canary images and labels: random black/white pixel patterns, labels 0,1,0,1,…

    Returns (images float32 (n, 1, size, size) in {0, 1}, labels int64 (n,)). Random patterns are
    nearly orthogonal to each other and to X-rays, so a model that fits one learns nothing about
    the others: whether a canary was in training shows only through memorisation — the cleanest
    membership signal, i.e. the auditor's best case.
    """
    import torch

    n = check_int("n", n, low=1)
    size = check_int("size", size, low=4)
    gen = torch.Generator().manual_seed(check_int("seed", seed, low=0) + 7_919)
    images = (torch.rand(n, 1, size, size, generator=gen) < 0.5).float()
    labels = torch.arange(n, dtype=torch.int64) % 2
    return images, labels


def canary_audit(*, noise_multiplier: float, n_canaries: int = 100, n_train: int = 200,
                 epochs: int = 10, batch_size: int = 32, lr: float = 0.05,
                 max_grad_norm: float = 1.0, delta: float = 1e-5, n_guesses: int | None = None,
                 confidence: float = 0.95, model: str = "linear", width: int = 8, data=None,
                 size: int = 28, seed: int = 0) -> CanaryAuditResult:
    """One-run audit of DP-SGD on small data, end to end (Steinke, Nasr & Jagielski 2023).

    1. Base data: the first ``n_train`` examples of ``data`` (a ChestXrayData) or, when None,
       synthetic phantoms of ``size`` px. Canaries: ``n_canaries`` random-pattern images
       (:func:`make_canaries`), each included independently with probability ½.
    2. Train ``model`` — ``"linear"`` (logistic regression on the pixels, fast) or ``"cnn"``
       (:class:`~medpriv_widgets.models.SmallCNN` of ``width``) — with DP-SGD: Opacus, Poisson
       sampling at rate ``batch_size``/N, clipping ``max_grad_norm``, noise σ·C, SGD with momentum
       0.9 and learning rate ``lr``. ``noise_multiplier=0``: plain SGD, not private.
    3. Score each canary by the rank of its loss (under its own label) among the canaries with
       that label, so the model's overall lean towards one class does not matter. Guess "in" for the
       ``n_guesses``/2 lowest, "out" for the rest of the ``n_guesses`` highest (default
       ``n_canaries``/2 guesses in all); abstain on the others.
    4. Lower bound: :func:`one_run_audit` at (``delta``, ``confidence``). Claimed ε: the
       dp-accounting PLD accountant for the σ, sampling rate and number of steps actually run.

    With probability ≥ ``confidence``, ``epsilon_lower`` ≤ the true ε of the run; a result above
    ``epsilon_claimed`` would mean the claim (or the DP-SGD code) is wrong. Deterministic for a
    given ``seed`` on CPU. Returns a :class:`CanaryAuditResult`.
    """
    import torch

    sigma = check_real("noise_multiplier", noise_multiplier, low=0.0,
                       hint="Use 0 for a non-private model.")
    m = check_int("n_canaries", n_canaries, low=2, high=10_000)
    n_base = check_int("n_train", n_train, low=1, high=100_000)
    epochs = check_int("epochs", epochs, low=1, high=10_000)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_real("lr", lr, low=0.0, low_inclusive=False)
    clip = check_real("max_grad_norm", max_grad_norm, low=0.0, low_inclusive=False)
    d = check_open_unit("delta", delta)
    k_total = max(2, m // 2) if n_guesses is None else check_int(
        "n_guesses", n_guesses, low=2, high=m, hint="Each guess is about a different canary.")
    conf = check_open_unit("confidence", confidence)
    model_kind = check_choice("model", model, ("linear", "cnn"))
    width = check_int("width", width, low=4, high=256)
    seed = check_int("seed", seed, low=0)

    from ..data import make_phantoms

    t0 = time.perf_counter()
    if data is None:
        data = make_phantoms(n=n_base, size=check_int("size", size, low=16), seed=seed)
    elif len(data) < n_base:
        raise InvalidParameterError(
            f"`n_train` must be at most the number of examples in `data` ({len(data)}); got "
            f"{n_base}. Lower n_train or pass more data.")
    base_x = data.images[:n_base].float()
    base_y = data.labels[:n_base].long()
    can_x, can_y = make_canaries(n=m, size=int(base_x.shape[-1]), seed=seed)
    rng = np.random.default_rng([seed, 4242])
    included = rng.random(m) < 0.5   # the secret the auditor tries to recover

    keep = torch.from_numpy(included)
    x = torch.cat([base_x, can_x[keep]])
    y = torch.cat([base_y, can_y[keep]])
    threads = torch.get_num_threads()
    # One thread: for models this small, thread start-up costs more than it saves, and the
    # numbers then do not depend on how many cores the machine has. Restored below.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():  # leave the caller's global RNG untouched
            torch.manual_seed(seed)
            net, sample_rate, steps = _train(
                x, y, model_kind=model_kind, noise_multiplier=sigma, max_grad_norm=clip,
                batch_size=batch_size, epochs=epochs, lr=lr, width=width, seed=seed)
            with torch.no_grad():
                losses = torch.nn.functional.cross_entropy(net(can_x), can_y, reduction="none")
                train_acc = float((net(base_x).argmax(1) == base_y).float().mean())
    finally:
        torch.set_num_threads(threads)
    losses = losses.numpy().astype(float)
    labels = can_y.numpy()

    # Guess from the outputs alone; `included` is looked at only to count. The score is the
    # loss's rank among canaries of the same label (0 = lowest loss), so a model leaning towards
    # one class does not make all canaries of that class look like members.
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
    correct = int(np.sum((guess == 1) & included) + np.sum((guess == -1) & ~included))
    eps_lower = one_run_audit(guesses_correct=correct, guesses_made=k_total, n_canaries=m,
                              delta=d, confidence=conf)
    if sigma == 0:
        eps_claimed = math.inf
    else:
        from .bounds import dpsgd_pld_epsilon

        eps_claimed = dpsgd_pld_epsilon(noise_multiplier=sigma, sample_rate=sample_rate,
                                        steps=steps, delta=d)
    return CanaryAuditResult(
        epsilon_lower=eps_lower, epsilon_claimed=eps_claimed, delta=d, confidence=conf,
        n_canaries=m, guesses_made=k_total, guesses_correct=correct, noise_multiplier=sigma,
        sample_rate=sample_rate, steps=steps, losses=losses, scores=scores, included=included,
        guess=guess,
        train_accuracy=train_acc, seconds=time.perf_counter() - t0)
