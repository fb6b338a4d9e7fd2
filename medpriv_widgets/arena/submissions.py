"""Submissions from a notebook: your own defence or attack enters the leaderboard.

A **defence** is a class (or an instance) with ``fit(X, y)`` and ``predict(X)`` — AnoMed's
anonymizer interface. ``X`` is float32 (N, 1, S, S) in [0, 1], ``y`` int64 (N,) (1 =
pneumonia); ``predict`` returns the probability of pneumonia, shape (N,) or (N, 2). It is
trained on the scenario's members and attacked by every membership attack of the board, as the
built-in defences are. An optional attribute ``epsilon`` is the ε it claims (the attacks then
audit that claim).

An **attack** is a class with ``fit(members, nonmembers, target)`` — AnoMed's deanonymizer
interface, ``members`` and ``nonmembers`` as ``(X, y)`` pairs the attacker knows, ``target`` a
function X → probability of pneumonia (the released model, as a black box) — and
``score(X, y)``, a membership score per example (higher = member): a score, not True/False,
because the arena judges the whole ROC. It attacks one of the board's defended models on
X-rays it has not seen (the other halves of the members and non-members, by patient).

Both are checked at the boundary (shapes, dtypes, NaN, probabilities in [0, 1], labels where
probabilities belong), never see who really was a member, run in their own process with a time
limit (:mod:`.sandbox`), and are seeded: the same submission gives the same row (its result is
also cached under a fingerprint of its source). Whatever goes wrong — a crash, NaN, a wrong
shape, labels, the time limit — becomes a row marked failed with the reason; no other row of
the leaderboard changes.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import re

import numpy as np

from .._validate import check_array, check_int, check_real
from ..errors import InvalidParameterError
from .attacks import get_attack
from .board import Board
from .cells import CellResult, failed_cell, utility_fields
from .defences import DefendedModel
from .runners import BlackBox, run_attack, run_defence

#: Seconds a submission may work (after its process has started) unless told otherwise.
DEFAULT_TIME_LIMIT_S = 300.0
NAMESPACE = "arena-submissions"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+-]{0,39}")


# ---------------------------------------------------------------------------- identity

def _source(member) -> str:
    fn = getattr(member, "__func__", member)
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        return repr(member) if code is None else repr((code.co_code, code.co_consts))


def fingerprint(submission) -> str:
    """12 hex digits identifying a submission by its class's source (and, for an instance, its
    attributes): the same code gives the same fingerprint in any session."""
    cls = submission if isinstance(submission, type) else type(submission)
    parts = [cls.__qualname__]
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, member in sorted(vars(klass).items()):
            if name.startswith("__") and name not in ("__init__", "__call__"):
                continue
            parts.append(f"{klass.__qualname__}.{name}:{_source(member)}")
    if not isinstance(submission, type):
        parts.append(repr(sorted((k, repr(v)) for k, v in vars(submission).items())))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _check_name(name) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidParameterError(
            f"`name` must be 1–40 letters, digits, spaces or '_.+-', starting with a letter or "
            f"digit; got {name!r}.")
    return name


def _check_methods(submission, methods: tuple[str, ...], what: str) -> None:
    missing = [m for m in methods if not callable(getattr(submission, m, None))]
    if missing:
        raise InvalidParameterError(
            f"A submitted {what} needs the method(s) {', '.join(m + '()' for m in methods)}; "
            f"{getattr(submission, '__name__', type(submission).__name__)} lacks "
            f"{', '.join(missing)}.")


# ---------------------------------------------------------------------------- checks

def check_probabilities(p, n: int, *, what: str) -> np.ndarray:
    """The probability of pneumonia (n,) from a defence's ``predict`` output, or
    InvalidParameterError with a sentence (shape, dtype, NaN, range, labels)."""
    n = check_int("n", n, low=1)
    if not isinstance(p, np.ndarray):
        raise InvalidParameterError(f"{what} must return a numpy array; got {type(p).__name__}.")
    if p.dtype == bool:
        raise InvalidParameterError(f"{what} returned labels (True/False) instead of "
                                    f"probabilities; return the probability of pneumonia.")
    if not np.issubdtype(p.dtype, np.number):
        raise InvalidParameterError(f"{what} must return numbers; got dtype {p.dtype}.")
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if not (p.shape == (n,) or p.shape == (n, 2)):
        raise InvalidParameterError(f"{what} must return shape ({n},) or ({n}, 2), one row per "
                                    f"X-ray; got {p.shape}.")
    p = p.astype(np.float64)
    if not np.isfinite(p).all():
        raise InvalidParameterError(f"{what} returned {int((~np.isfinite(p)).sum())} NaN or "
                                    f"infinite values; every X-ray needs a probability.")
    if p.min() < 0 or p.max() > 1:
        raise InvalidParameterError(f"{what} must return probabilities in [0, 1]; got values "
                                    f"from {p.min():.3g} to {p.max():.3g} (logits? apply a "
                                    f"sigmoid or softmax).")
    if np.isin(p, (0.0, 1.0)).all():
        raise InvalidParameterError(f"{what} returned labels (only 0 and 1) instead of "
                                    f"probabilities; return the probability of pneumonia "
                                    f"(e.g. predict_proba).")
    if p.ndim == 2:
        if not np.allclose(p.sum(1), 1.0, atol=1e-3):
            raise InvalidParameterError(f"{what} returned two columns that do not sum to 1; "
                                        f"return the probability of pneumonia, shape ({n},).")
        p = p[:, 1]
    return p


def check_scores(s, n: int, *, what: str) -> np.ndarray:
    """Membership scores (n,) from an attack's ``score`` output, or InvalidParameterError."""
    n = check_int("n", n, low=0)
    if not isinstance(s, np.ndarray):
        raise InvalidParameterError(f"{what} must return a numpy array; got {type(s).__name__}.")
    if s.dtype == bool:
        raise InvalidParameterError(f"{what} returned True/False guesses; the arena judges the "
                                    f"whole ROC, so return a score per example (higher = "
                                    f"member).")
    if not np.issubdtype(s.dtype, np.number):
        raise InvalidParameterError(f"{what} must return numbers; got dtype {s.dtype}.")
    if s.shape != (n,):
        raise InvalidParameterError(f"{what} must return shape ({n},), one score per X-ray; got "
                                    f"{s.shape}.")
    s = s.astype(np.float64)
    if not np.isfinite(s).all():
        raise InvalidParameterError(f"{what} returned {int((~np.isfinite(s)).sum())} NaN or "
                                    f"infinite scores; every X-ray needs a score.")
    return s


def logit_scores(p_pneumonia: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """LiRA's score log(p_y / (1 − p_y)) of the true label, (N, 1), from probabilities
    (clipped to [1e-12, 1 − 1e-12]: saturated probabilities give ±27.6, not ±∞)."""
    p = check_array("p_pneumonia", p_pneumonia, ndim=1, min_size=0,
                    hint="Give one probability of pneumonia per X-ray.")
    y = check_array("labels", labels, ndim=1, min_size=0,
                    hint="Give one label (0 normal, 1 pneumonia) per X-ray.")
    if y.shape != p.shape:
        raise InvalidParameterError(f"`p_pneumonia` and `labels` must be of equal length, one per "
                                    f"X-ray; got {p.size} and {y.size}.")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise InvalidParameterError("`p_pneumonia` must hold probabilities in [0, 1]; apply a "
                                    "sigmoid to logits first.")
    if not np.isin(y, (0, 1)).all():
        raise InvalidParameterError("`labels` must hold only 0 (normal) and 1 (pneumonia).")
    p = np.clip(p.astype(float), 1e-12, 1 - 1e-12)
    py = np.where(y == 1, p, 1 - p)
    return (np.log(py) - np.log1p(-py))[:, None]


# ---------------------------------------------------------------------------- parent side

def _numpy(images) -> np.ndarray:
    return images.detach().cpu().numpy().astype(np.float32)


def _evaluate(board, key: dict, payload: dict, *, cache, time_limit_s, startup_limit_s) -> dict:
    """The sandbox's outcome for ``payload``, from ``cache`` when this submission ran before."""
    from .sandbox import run_in_sandbox

    store = cache.namespace(NAMESPACE) if cache is not None else None
    hit = store.get(key) if store is not None else None
    # a run stopped by a shorter time limit than this one's is tried again
    if hit is not None and not (hit["timed_out"] and hit["time_limit_s"] < time_limit_s):
        return hit
    out = run_in_sandbox(payload, time_limit_s=time_limit_s, startup_limit_s=startup_limit_s)
    record = {"ok": out.ok, "value": out.value, "reason": out.reason, "seconds": out.seconds,
              "timed_out": out.timed_out, "time_limit_s": time_limit_s}
    if store is not None:
        store.put(key, record)
    return record


def _limits(time_limit_s, startup_limit_s) -> tuple[float, float]:
    return (check_real("time_limit_s", time_limit_s, low=0.0, low_inclusive=False),
            check_real("startup_limit_s", startup_limit_s, low=0.0, low_inclusive=False))


def _record(leaderboard, rows, *, entry, submitter, fp) -> None:
    if leaderboard is None:
        return
    from .leaderboard import Leaderboard

    if not isinstance(leaderboard, Leaderboard):
        raise InvalidParameterError(
            f"`leaderboard` must be a Leaderboard or None; got {type(leaderboard).__name__}.")
    leaderboard.record(rows, entry=entry, submitter=submitter, fingerprint=fp)


def submit_defence(defence, *, name: str, board: Board, cache=None, leaderboard=None,
                   submitter: str = "you", time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                   startup_limit_s: float = 180.0) -> list[CellResult]:
    """Train ``defence`` (a class or instance with ``fit``/``predict``) on the board's members
    in its own process, attack it with every membership attack of ``board``, and return (and
    record in ``leaderboard``) one row per attack. Its name on the board is
    ``"<name> #<fingerprint>"``. Bad *arguments* raise; anything the submission does wrong
    gives rows marked failed."""
    _check_name(name)
    if not isinstance(board, Board):
        raise InvalidParameterError(f"`board` must be a Board; got {type(board).__name__}.")
    _check_methods(defence, ("fit", "predict"), "defence")
    limit, startup = _limits(time_limit_s, startup_limit_s)
    fp = fingerprint(defence)
    label = f"{name} #{fp[:6]}"
    sc, data = board.scenario, board.data
    attacks = [get_attack(a) for a in board.attacks if get_attack(a).kind == "membership"]
    if not attacks:
        raise InvalidParameterError("The board has no membership attack to judge a defence by.")
    pop, test = data.population, data.test
    members = data.members
    payload = {"run": run_defence, "submission": defence, "seed": sc.seed,
               "X_train": _numpy(members.images), "y_train": members.labels.numpy(),
               "X_population": _numpy(pop.data.images), "X_test": _numpy(test.images)}
    key = {"kind": "defence", "fingerprint": fp, "scenario": sc.key(), "data": data.fingerprint}
    outcome = _evaluate(board, key, payload, cache=cache, time_limit_s=limit,
                        startup_limit_s=startup)
    base = dict(scenario=sc.name, defence=label, synthetic=data.synthetic)
    try:
        if not outcome["ok"]:
            raise InvalidParameterError(outcome["reason"])
        value = outcome["value"]
        p_pop = check_probabilities(value["population"], len(pop.patient_ids),
                                    what="predict() on the population")
        p_test = check_probabilities(value["test"], len(test), what="predict() on the test set")
        claimed = value["epsilon"]
        claimed = math.inf if claimed is None else check_real(
            "epsilon", claimed, low=0.0, low_inclusive=False, allow_inf=True,
            hint="A defence's `epsilon` attribute is the ε it claims.")
    except InvalidParameterError as why:
        rows = [failed_cell(kind=a.kind, attack=a.name, reason=_sentence(why), **base)
                for a in attacks]
        _record(leaderboard, rows, entry="defence", submitter=submitter, fp=fp)
        return rows
    from ..training.evaluate import binary_metrics

    model = DefendedModel(
        defence=label, scores=logit_scores(p_pop, pop.data.labels.numpy()),
        trained_on=data.is_member, utility=binary_metrics(p_test, test.labels.numpy()),
        epsilon=float(claimed), delta=float(sc.membership.delta), noise_multiplier=math.nan,
        sample_rate=math.nan, steps=0, seconds=float(outcome["seconds"]))
    rows = [_membership_row(model, a, board=board, cache=cache, base=base) for a in attacks]
    _record(leaderboard, rows, entry="defence", submitter=submitter, fp=fp)
    return rows


def _sentence(exc: Exception) -> str:
    text = str(exc).strip()
    return text[0].upper() + text[1:] if text else type(exc).__name__


def _membership_row(model: DefendedModel, attack, *, board, cache, base) -> CellResult:
    """One built-in membership attack against a submitted defence. Its cost is the attacker's
    shadow models (read from the cache: the same number every time, so the same submission
    gives the same row); scoring itself takes milliseconds."""
    from .scoring import membership_fields

    sc, data = board.scenario, board.data
    bank = data.shadows.result(cache=cache) if attack.needs_shadows else None
    scores = attack.scores(target_scores=model.scores, bank=bank)
    fields = membership_fields(scores=scores, is_member=model.trained_on, delta=model.delta,
                               seed=sc.seed)
    k = sc.membership.n_shadows
    shadow = bank.seconds * k / (k + 1) if bank is not None else 0.0
    return CellResult(**base, attack=attack.name, kind=attack.kind,
                      epsilon_claimed=model.epsilon, delta=model.delta,
                      seconds_defence=model.seconds,
                      seconds_attack=shadow,
                      **utility_fields(model.utility), **fields)


def attack_split(data) -> dict:
    """The patient-disjoint halves an attacker sees, for a scenario's ScenarioData: population
    positions of the members and non-members it knows (``known_members``,
    ``known_nonmembers``) and of those it is judged on (``eval_members``,
    ``eval_nonmembers``; together ``eval``, shuffled, with ``eval_is_member`` — kept by the
    judge). Submitted attacks and the AnoMed challenge use it."""
    from ..data import patient_split
    from .data import check_scenario_data

    pop = check_scenario_data(data).population
    ids = np.asarray(pop.patient_ids)
    seed = data.scenario.seed
    out = {}
    for tag, group in (("members", np.asarray(pop.members)),
                       ("nonmembers", np.asarray(pop.non_members))):
        a, b = patient_split(ids[group], fractions=(0.5, 0.5), seed=seed + 31, n=len(group))
        out[f"known_{tag}"], out[f"eval_{tag}"] = group[a], group[b]
    rng = np.random.default_rng([seed, 77])
    ev = np.concatenate([out["eval_members"], out["eval_nonmembers"]])
    truth = np.isin(ev, pop.members)
    order = rng.permutation(len(ev))
    out["eval"], out["eval_is_member"] = ev[order], truth[order]
    return out


def submit_attack(attack, *, name: str, board: Board, defence: str = "none", cache=None,
                  leaderboard=None, submitter: str = "you",
                  time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                  startup_limit_s: float = 180.0) -> CellResult:
    """Run ``attack`` (a class or instance with ``fit(members, nonmembers, target)`` and
    ``score(X, y)``) against the board's ``defence`` model in its own process; return (and
    record) its row, named ``"<name> #<fingerprint>"``. The board's defended target must be
    computed (``board.run``) first, or it is trained here."""
    from .defences import get_defence
    from .targets import DefendedTarget

    _check_name(name)
    if not isinstance(board, Board):
        raise InvalidParameterError(f"`board` must be a Board; got {type(board).__name__}.")
    if defence not in board.defences:
        raise InvalidParameterError(f"`defence` must be one of the board's {board.defences}; "
                                    f"got {defence!r}.")
    _check_methods(attack, ("fit", "score"), "attack")
    limit, startup = _limits(time_limit_s, startup_limit_s)
    fp = fingerprint(attack)
    label = f"{name} #{fp[:6]}"
    sc, data = board.scenario, board.data
    model = DefendedTarget(sc, get_defence(defence), data=data).result(cache=cache)
    base = dict(scenario=sc.name, defence=defence, attack=label, kind="membership",
                synthetic=data.synthetic, epsilon_claimed=float(model.epsilon),
                delta=float(model.delta), seconds_defence=float(model.seconds),
                **utility_fields(model.utility))
    if model.state_dict is None:
        raise InvalidParameterError(f"The defence {defence!r} released no SmallCNN to query.")
    split = attack_split(data)
    pop = data.population.data
    images, labels = _numpy(pop.images), pop.labels.numpy()
    m = data.scenario.membership
    payload = {"run": run_attack, "submission": attack, "seed": sc.seed, "torch": True,
               "members": (images[split["known_members"]], labels[split["known_members"]]),
               "nonmembers": (images[split["known_nonmembers"]],
                              labels[split["known_nonmembers"]]),
               "X_eval": images[split["eval"]], "y_eval": labels[split["eval"]],
               "target": {"size": m.size, "width": m.width, "activation": m.activation,
                          "state_dict": {k: v.detach().cpu() for k, v in
                                         model.state_dict.items()}}}
    key = {"kind": "attack", "fingerprint": fp, "scenario": sc.key(), "data": data.fingerprint,
           "defence": get_defence(defence).key()}
    outcome = _evaluate(board, key, payload, cache=cache, time_limit_s=limit,
                        startup_limit_s=startup)
    try:
        if not outcome["ok"]:
            raise InvalidParameterError(outcome["reason"])
        scores = check_scores(outcome["value"]["scores"], len(split["eval"]),
                              what="score()")
    except InvalidParameterError as why:
        row = failed_cell(reason=_sentence(why), **base)
        _record(leaderboard, [row], entry="attack", submitter=submitter, fp=fp)
        return row
    from .scoring import membership_fields

    truth = split["eval_is_member"] & model.trained_on[split["eval"]]
    fields = membership_fields(scores=scores, is_member=truth, delta=model.delta, seed=sc.seed)
    row = CellResult(**base, **fields, seconds_attack=float(outcome["seconds"]))
    _record(leaderboard, [row], entry="attack", submitter=submitter, fp=fp)
    return row


__all__ = ["BlackBox", "DEFAULT_TIME_LIMIT_S", "attack_split", "check_probabilities",
           "check_scores", "fingerprint", "logit_scores", "submit_attack", "submit_defence"]
