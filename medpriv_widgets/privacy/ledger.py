"""A persistent privacy budget per (institution, dataset) that locks the dataset when spent.

The budget is spent like money. Every spend is recorded (what, when, mechanism, parameters, ε,
δ). A spend the remaining budget cannot cover raises :class:`~medpriv_widgets.errors.BudgetExhausted`
and records nothing; the dataset stays open for requests that fit (one oversized request must not
throw away what is left). The spend that uses the budget up *locks* the dataset: every later
query or training run refuses with :class:`~medpriv_widgets.errors.DatasetLocked`, in words,
until an instructor calls ``ledger.reset(confirm=True)``; ``lock(reason=)`` closes a dataset on
purpose (a federation closes a hospital that cannot pay for another round). A kernel restart
does not reset anything: the ledger lives on disk.

Where: one file per (institution, dataset), by default
``ledger_dir()/<institution>/<dataset>.sqlite`` (``path=None``; ``MEDPRIV_LEDGER_DIR``, else the
user data folder — never under a cache folder that a clean-up could empty); ``path`` may also be
a directory (the same layout below it) or an explicit file (``.sqlite``, ``.db`` or ``.json``).

How spends add up: :func:`medpriv_widgets.privacy.accounting.compose_budget` (basic spends add;
Gaussian and DP-SGD spends are composed jointly and tightly with the PRV accountant, charged the
δ the basic spends leave). ``remaining() = budget − spent()`` (never below 0).

The file: :class:`~.ledger_store.LedgerStore`, an append-only, hash-chained log of events
(create, spend, lock, reset) in SQLite, so a spend appends one row instead of rewriting a file,
a process killed at any moment loses no confirmed spend, and concurrent writers are serialised.
Every read verifies the chain and the schema: each value has its type and sign (no negative or
non-finite spend, no spend beyond the budget, totals that only grow), so a file that was edited
by hand, truncated or replaced raises :class:`~medpriv_widgets.errors.LedgerCorrupt`, explicitly
(never an ``assert``). A ledger whose file went missing is noticed (the folder registers every
ledger it created) instead of starting over with a full budget.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import re
import uuid
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

from .._validate import check_positive, check_real
from ..errors import (BudgetExhausted, DatasetLocked, InvalidParameterError, LedgerCorrupt)
from ..explain.budget import (budget_corrupt_message, budget_locked_message,
                              budget_missing_message, budget_refusal_message)
from .ledger_store import Event, LedgerStore

__all__ = ["PrivacyLedger", "default_ledger_path", "LEDGER_FORMAT"]

LEDGER_FORMAT = "medpriv-privacy-ledger"
_VERSION = 2
_FILE_SUFFIXES = (".sqlite", ".sqlite3", ".db", ".json")
# Float sums of e.g. ten spends of 0.1 land a hair above 1.0; this slack absorbs that rounding only.
_REL_SLACK = 1e-9


def _safe_name(text: str) -> str:
    """A file-name-safe form of a dataset or institution name; long names are shortened and
    given a digest of the full name, so two long names never share a ledger."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unnamed"
    if len(name) > 80:
        name = f"{name[:60]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return name


def default_ledger_path(*, dataset: str, institution: str,
                        root: str | os.PathLike | None = None) -> Path:
    """``<root>/<institution>/<dataset>.sqlite``; root defaults to :func:`~medpriv_widgets.paths.ledger_dir`."""
    from ..paths import check_path, ledger_dir

    _check_text("dataset", dataset)
    _check_text("institution", institution)
    root = ledger_dir() if root is None else check_path("root", root, what="a folder")
    return root / _safe_name(institution) / f"{_safe_name(dataset)}.sqlite"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _check_text(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(f"`{name}` must be a non-empty string; got {value!r}.")
    return value


def _check_budget_delta(value) -> float:
    from .accounting import check_delta

    return check_delta(value)


# ---------------------------------------------------------------------------- schema
class _Bad(Exception):
    """A record that breaks the schema (turned into LedgerCorrupt with the record's number)."""


def _num(value, *, low: float = 0.0, high: float = math.inf, low_open: bool = False,
         high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise _Bad(f"a number that is not a finite number ({value!r})")
    v = float(value)
    if v < low or (low_open and v == low) or v > high or (high_open and v == high):
        raise _Bad(f"a number out of range ({value!r})")
    return v


def _int(value, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise _Bad(f"a count that is not a whole number >= {low} ({value!r})")
    return int(value)


def _str(value, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _Bad(f"a text that is not text ({value!r})")
    return value


def _dict(value) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"a field that is not a record ({value!r})")
    return value


def _budget(value) -> tuple[float, float]:
    from .accounting import MIN_DELTA

    b = _dict(value)
    return (_num(b.get("epsilon"), low=0.0, low_open=True),
            _num(b.get("delta"), low=MIN_DELTA, high=0.5, high_open=True))


@dataclass
class _State:
    """What the log says now (the fold of its events)."""

    ledger_id: str
    created: str
    dataset: str
    institution: str
    budget: tuple[float, float]
    spends: list[dict] = field(default_factory=list)  # since the last create/reset
    basic_eps: list[float] = field(default_factory=list)     # of the basic spends, in order
    basic_delta: list[float] = field(default_factory=list)
    gaussian: dict = field(default_factory=dict)      # (σ, q) → steps of the Gaussian spends
    locked: dict | None = None
    n_spends: int = 0                                 # over the whole log (spend numbers)
    last: Event | None = None


def _fold(state: _State | None, event: Event) -> _State:
    """Apply one event, checking its schema (raises _Bad)."""
    b = event.body
    if event.kind == "create":
        if state is not None or event.seq != 1:
            raise _Bad("a second 'create' record")
        if b.get("format") != LEDGER_FORMAT or b.get("version") != _VERSION:
            raise _Bad("a format this version does not read")
        state = _State(ledger_id=_str(b.get("ledger_id")), created=_str(b.get("created")),
                       dataset=_str(b.get("dataset")), institution=_str(b.get("institution")),
                       budget=_budget(b.get("budget")))
    elif state is None:
        raise _Bad("no 'create' record first")
    elif event.kind == "spend":
        _check_spend(state, b)
        state.spends.append(b)
        state.n_spends += 1
        if b["kind"] == "basic":
            state.basic_eps.append(float(b["epsilon"]))
            state.basic_delta.append(float(b["delta"]))
        else:
            key = (float(b["params"]["noise_multiplier"]), float(b["params"]["sample_rate"]))
            state.gaussian[key] = state.gaussian.get(key, 0) + int(b["params"]["steps"])
    elif event.kind == "lock":
        if state.locked is not None:
            raise _Bad("a lock of a dataset that was already locked")
        _str(b.get("when")), _str(b.get("reason"), empty=True), _dict(b.get("refused"))
        if b.get("cause", "refused") not in ("refused", "spent", "closed"):
            raise _Bad(f"a lock of an unknown cause ({b.get('cause')!r})")
        state.locked = b
    elif event.kind == "reset":
        _str(b.get("when"))
        state.budget = _budget(b.get("budget"))
        state.spends, state.locked = [], None
        state.basic_eps, state.basic_delta, state.gaussian = [], [], {}
    else:
        raise _Bad(f"an unknown kind of record ({event.kind!r})")
    state.last = event
    return state


def _check_spend(state: _State, s: dict) -> None:
    from .accounting import MAX_STEPS

    if state.locked is not None:
        raise _Bad("a spend recorded after the dataset was locked")
    if _int(s.get("seq"), low=1) != state.n_spends + 1:
        raise _Bad("spend numbers out of order")
    _str(s.get("id")), _str(s.get("when")), _str(s.get("note")), _str(s.get("mechanism"))
    kind = s.get("kind")
    eps = _num(s.get("epsilon"))
    dlt = _num(s.get("delta"), high=1.0, high_open=True)
    params = _dict(s.get("params"))
    if kind == "basic":
        if eps <= 0:
            raise _Bad("a basic spend of ε ≤ 0")
    elif kind == "gaussian":
        _num(params.get("noise_multiplier"), low=0.0, low_open=True)
        _num(params.get("sample_rate"), low=0.0, high=1.0, low_open=True)
        if _int(params.get("steps"), low=1) > MAX_STEPS:
            raise _Bad("a spend of more steps than any run takes")
    else:
        raise _Bad(f"an unknown kind of spend ({kind!r})")
    total_e = _num(s.get("total_epsilon"))
    total_d = _num(s.get("total_delta"), high=1.0, high_open=True)
    eps_b, dlt_b = state.budget
    if total_e > eps_b * (1 + _REL_SLACK) + 1e-15 or total_d > dlt_b * (1 + _REL_SLACK) + 1e-300:
        raise _Bad("a spend beyond the budget that was not refused")
    if state.spends:
        before = state.spends[-1]["total_epsilon"]
        if total_e < before * (1 - _REL_SLACK) - 1e-12:
            raise _Bad("a total that went down")
    else:
        before = 0.0
    if kind == "basic" and dlt == 0.0 and not math.isclose(total_e, before + eps, rel_tol=1e-9,
                                                           abs_tol=1e-12):
        raise _Bad("a total that does not add up")


# ---------------------------------------------------------------------------- the ledger
class PrivacyLedger:
    """The privacy budget of one dataset at one institution, kept on disk.

    Parameters
    ----------
    path : str, Path or None
        The ledger's file (a name ending in ``.sqlite``, ``.sqlite3``, ``.db`` or ``.json``, or
        an existing file); or a directory, under which ``<institution>/<dataset>.sqlite`` is
        used; or None for :func:`~medpriv_widgets.paths.ledger_dir`.
    epsilon, delta : float
        The total budget (ε > 0 finite, 1e-30 ≤ δ < 0.5). Needed to create a new ledger; for an
        existing one they must match what is stored (or be None to use the stored budget).
    dataset, institution : str
        Whose budget this is; stored in the file and used in every message.

    Every method re-reads the file, so several notebooks or processes share one budget. The
    whole hash chain is verified when the ledger is opened and when ``history`` is read; other
    calls verify what was appended since this object last looked, and that the last record it
    saw is unchanged.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, epsilon: float | None = None,
                 delta: float | None = None, dataset: str = "pneumoniamnist",
                 institution: str = "local") -> None:
        self.dataset = _check_text("dataset", dataset)
        self.institution = _check_text("institution", institution)
        eps = None if epsilon is None else check_positive(
            "epsilon", epsilon, hint="The budget ε must be a positive, finite number, e.g. 1.0.")
        dlt = None if delta is None else _check_budget_delta(delta)
        if path is None:
            file = default_ledger_path(dataset=dataset, institution=institution)
        else:
            from ..paths import check_path

            p = check_path("path", path, what="a ledger file or a folder (or None)")
            is_file = p.is_file() or (p.suffix.lower() in _FILE_SUFFIXES and not p.is_dir())
            file = p if is_file else default_ledger_path(dataset=dataset,
                                                         institution=institution, root=p)
        self.path = file
        self._store = LedgerStore(file, on_corrupt=self._corrupt)
        self._cache: _State | None = None
        self._store.ensure_folder()

        with self._store.births() as (born, record):
            if not self._store.exists():
                if born is not None:
                    if eps is None or dlt is None:
                        raise self._missing(born)
                    self._budget = (eps, dlt)  # opened for an instructor's reset only
                    return
                if eps is None or dlt is None:
                    raise InvalidParameterError(
                        f"There is no ledger at {file} yet; pass `epsilon` and `delta` to "
                        f"create one (got epsilon={epsilon!r}, delta={delta!r}).")
                self._create(eps, dlt, record, replaces=None)
                return
            try:
                state = self._state(full=True)
                if born is None:  # a register lost or older than the file: learn it
                    record(self._birth(state.ledger_id, state.created))
                elif born.get("ledger_id") != state.ledger_id:
                    raise self._corrupt(f"is not the ledger that was created there on "
                                        f"{born.get('created')} (the file was replaced)")
            except LedgerCorrupt:
                if eps is None or dlt is None:
                    raise
                # Keep going so that an instructor can still call reset(confirm=True); every
                # other method raises LedgerCorrupt.
                self._budget = (eps, dlt)
                return
        if state.dataset != self.dataset or state.institution != self.institution:
            raise InvalidParameterError(
                f"The ledger at {file} belongs to dataset {state.dataset!r} at institution "
                f"{state.institution!r}, not dataset {self.dataset!r} at {self.institution!r}; "
                f"use another path or the matching names.")
        stored = state.budget
        if (eps is not None and eps != stored[0]) or (dlt is not None and dlt != stored[1]):
            raise InvalidParameterError(
                f"The ledger at {file} was created with the budget epsilon={stored[0]}, "
                f"delta={stored[1]}; got epsilon={epsilon!r}, delta={delta!r}. Pass the stored "
                f"budget (or None), or have an instructor call "
                f"reset(confirm=True, epsilon=..., delta=...) to start a new budget.")
        self._budget = stored

    # ------------------------------------------------------------------ file plumbing
    def _corrupt(self, why: str) -> LedgerCorrupt:
        return LedgerCorrupt(budget_corrupt_message(path=self.path, why=why, dataset=self.dataset,
                                                    institution=self.institution))

    def _missing(self, born: dict | None) -> LedgerCorrupt:
        created = (born or {}).get("created") or "an earlier date"
        return LedgerCorrupt(budget_missing_message(path=self.path, created=created,
                                                    dataset=self.dataset,
                                                    institution=self.institution))

    def _birth(self, ledger_id: str, created: str) -> dict:
        return {"ledger_id": ledger_id, "created": created, "dataset": self.dataset,
                "institution": self.institution}

    def _create(self, eps: float, dlt: float, record, *, replaces: str | None) -> None:
        body = {"format": LEDGER_FORMAT, "version": _VERSION, "ledger_id": uuid.uuid4().hex,
                "created": _now(), "dataset": self.dataset, "institution": self.institution,
                "budget": {"epsilon": eps, "delta": dlt}, "replaces": replaces}
        self._store.create(body)
        record(self._birth(body["ledger_id"], body["created"]))
        self._budget = (eps, dlt)
        self._cache = None

    def _fold_all(self, events: list[Event]) -> _State:
        """The state after ``events``, folding only what is new since the last call."""
        state = self._cache
        start = 0
        if state is not None and state.last is not None and len(events) >= state.last.seq \
                and events[state.last.seq - 1].hash == state.last.hash:
            start = state.last.seq
        else:
            state = None
        try:
            for event in events[start:]:
                state = _fold(state, event)
        except _Bad as bad:
            self._cache = None
            raise self._corrupt(f"has a valid checksum but record {event.seq} holds {bad}") from None
        except (KeyError, TypeError, AttributeError, ValueError):
            self._cache = None
            raise self._corrupt(f"has a valid checksum but record {event.seq} has an "
                                f"unexpected structure") from None
        self._cache = state
        # Another process (an instructor's reset) may have changed the budget.
        self._budget = state.budget
        return state

    def _state(self, *, full: bool = False) -> _State:
        try:
            with self._store.reading(full=full) as events:
                return self._fold_all(events)
        except FileNotFoundError:
            with self._store.births() as (born, _record):
                raise self._missing(born) from None

    # ------------------------------------------------------------------ composition
    def _totals(self, state: _State, extra: dict | None = None) -> tuple[float, float]:
        """(ε, δ) of the state's spends (and ``extra``, one more) together.

        :func:`~.accounting.compose_budget` is given the basic spends as one (Σε, Σδ) pair
        (they add up, so that is the same composition) and the Gaussian ones merged per (σ, q),
        so a ledger of thousands of spends is charged in microseconds.
        """
        from .accounting import compose_budget

        eps, dlt = state.basic_eps, state.basic_delta
        gauss = dict(state.gaussian)
        if extra is not None and extra["kind"] == "basic":
            eps, dlt = eps + [float(extra["epsilon"])], dlt + [float(extra["delta"])]
        elif extra is not None:
            key = (float(extra["params"]["noise_multiplier"]), float(extra["params"]["sample_rate"]))
            gauss[key] = gauss.get(key, 0) + int(extra["params"]["steps"])
        basic = [(math.fsum(eps), math.fsum(dlt))] if eps else []
        return compose_budget(basic=basic, gaussian=[(s, q, t) for (s, q), t in gauss.items()],
                              delta_budget=self._budget[1])

    def _affordable(self, total: tuple[float, float]) -> bool:
        eps_b, dlt_b = self._budget
        return (total[0] <= eps_b * (1 + _REL_SLACK) + 1e-15
                and total[1] <= dlt_b * (1 + _REL_SLACK) + 1e-300)

    def _locked_message(self, state: _State | None = None) -> str:
        lock = state.locked if state is not None and state.locked else {}
        # Files written before "cause" existed locked only on a refused request.
        return budget_locked_message(dataset=self.dataset, institution=self.institution,
                                     reason=lock.get("reason"),
                                     cause=lock.get("cause", "refused") if lock else "refused")

    def _nothing_left(self, total: tuple[float, float]) -> bool:
        """True when no ε is left after ``total`` (float dust from equal sums counts as none)."""
        return total[0] >= self._budget[0] * (1 - _REL_SLACK) - 1e-12

    # ------------------------------------------------------------------ spending
    def _spend(self, record: dict) -> dict:
        refusal = None
        try:
            with self._store.writing() as (events, append):
                state = self._fold_all(events)
                if state.locked is not None:
                    raise DatasetLocked(self._locked_message(state))
                before = self._totals(state)
                record = dict(record, seq=state.n_spends + 1, id=uuid.uuid4().hex, when=_now())
                after = self._totals(state, record)
                if not self._affordable(after):
                    # Refused, nothing recorded. Only a budget with nothing left is locked:
                    # an oversized request leaves what remains usable by smaller ones.
                    spent_out = self._nothing_left(before)
                    if spent_out:
                        append("lock", {"when": _now(), "reason": record["note"],
                                        "cause": "refused",
                                        "refused": {"mechanism": record["mechanism"],
                                                    "params": record["params"]}})
                    need = (after[0] - before[0], after[1] - before[1])
                    refusal = BudgetExhausted(budget_refusal_message(
                        dataset=self.dataset, institution=self.institution,
                        note=record["note"], kind=record["kind"], need=need,
                        left=self._remaining_from(before), budget=self._budget,
                        request_delta=float(record["delta"]), locks=spent_out))
                else:
                    if record["kind"] == "gaussian":
                        # What this spend added to the total, given everything before it.
                        record["epsilon"] = max(after[0] - before[0], 0.0)
                        record["delta"] = max(after[1] - before[1], 0.0)
                    record["total_epsilon"], record["total_delta"] = after
                    stored = append("spend", record)
                    if self._nothing_left(after):  # this spend used the budget up
                        append("lock", {"when": _now(), "reason": record["note"],
                                        "cause": "spent", "refused": {}})
                self._fold_all(events)
        except FileNotFoundError:
            self._state()  # raises the missing-file error
            raise
        if refusal is not None:
            raise refusal
        return dict(stored.body)

    def spend(self, epsilon: float, delta: float = 0.0, *, note: str,
              mechanism: str = "laplace") -> dict:
        """Record an (ε, δ)-DP release (basic composition). Returns the stored record.

        Raises DatasetLocked when the dataset is already locked; BudgetExhausted (recording
        nothing; the dataset stays open unless nothing is left) when the budget cannot cover it.
        A spend that uses the budget up is recorded and locks the dataset.
        """
        eps = check_positive("epsilon", epsilon, hint="Each release spends a positive, finite ε.")
        dlt = check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False)
        if dlt > 0:
            dlt = _check_budget_delta(dlt)
        _check_text("note", note)
        _check_text("mechanism", mechanism)
        return self._spend({"kind": "basic", "note": note, "mechanism": mechanism,
                            "params": {}, "epsilon": eps, "delta": dlt})

    def spend_gaussian(self, *, sigma: float, sensitivity: float = 1.0, note: str) -> dict:
        """Record one Gaussian-mechanism answer (noise std ``sigma``, L2 sensitivity, same units).

        Composed tightly with every other Gaussian / DP-SGD spend of this ledger.
        """
        from .accounting import gaussian_event

        nm, q, t = gaussian_event(sigma=sigma, sensitivity=sensitivity)
        _check_text("note", note)
        return self._spend({"kind": "gaussian", "note": note, "mechanism": "gaussian",
                            "params": {"sigma": float(sigma), "sensitivity": float(sensitivity),
                                       "noise_multiplier": nm, "sample_rate": q, "steps": t},
                            "epsilon": 0.0, "delta": 0.0})

    def spend_dpsgd(self, *, noise_multiplier: float, sample_rate: float, steps: int,
                    note: str) -> dict:
        """Record a DP-SGD run (or part of one): ``steps`` Poisson-subsampled Gaussian steps.

        ``noise_multiplier`` 0 means no noise: it cannot be covered (BudgetExhausted).
        """
        record = self._dpsgd_record(noise_multiplier=noise_multiplier, sample_rate=sample_rate,
                                    steps=steps, note=note)
        return self._spend(record)

    @staticmethod
    def _dpsgd_record(*, noise_multiplier, sample_rate, steps, note) -> dict:
        from .accounting import _check_q, _check_sigma, _check_steps

        params = {"noise_multiplier": _check_sigma(noise_multiplier),
                  "sample_rate": _check_q(sample_rate), "steps": _check_steps(steps)}
        _check_text("note", note)
        return {"kind": "gaussian", "note": note, "mechanism": "dpsgd", "params": params,
                "epsilon": 0.0, "delta": 0.0}

    def cost_of_dpsgd(self, *, noise_multiplier: float, sample_rate: float, steps: int) -> float:
        """How much total ε a DP-SGD run would add now (nothing is recorded). ``inf`` for σ = 0."""
        record = self._dpsgd_record(noise_multiplier=noise_multiplier, sample_rate=sample_rate,
                                    steps=steps, note="preview")
        state = self._state()
        return self._totals(state, record)[0] - self._totals(state)[0]

    # ------------------------------------------------------------------ reading
    def _remaining_from(self, total: tuple[float, float]) -> tuple[float, float]:
        return (max(self._budget[0] - total[0], 0.0), max(self._budget[1] - total[1], 0.0))

    @property
    def budget(self) -> tuple[float, float]:
        """The total budget (ε, δ)."""
        return self._budget

    def spent(self) -> tuple[float, float]:
        """(ε, δ) spent so far (:func:`~.accounting.compose_budget`)."""
        return self._totals(self._state())

    def remaining(self) -> tuple[float, float]:
        """(ε, δ) still available (budget − spent, floored at 0)."""
        return self._remaining_from(self.spent())

    def fraction_used(self) -> float:
        """Spent ε as a fraction of the ε budget, in [0, 1] (1 once locked)."""
        state = self._state()
        if state.locked is not None:
            return 1.0
        return min(self._totals(state)[0] / self._budget[0], 1.0)

    @property
    def locked(self) -> bool:
        """True once the budget is used up (or :meth:`lock` closed the dataset); cleared only
        by ``reset(confirm=True)``."""
        return self._state().locked is not None

    @property
    def history(self) -> list[dict]:
        """Every recorded spend since the last reset, oldest first: seq, id, when (UTC ISO),
        note, mechanism, kind, params, epsilon, delta (what it added), total_epsilon,
        total_delta (after it)."""
        return [dict(s, params=dict(s["params"])) for s in self._state(full=True).spends]

    def lock(self, *, reason: str) -> None:
        """Close the dataset now, before its budget is used up (a data steward's decision, or a
        federation closing a hospital whose budget cannot pay for another round). Only
        ``reset(confirm=True)`` opens it again. Locking a locked dataset does nothing."""
        _check_text("reason", reason)
        with self._store.writing() as (events, append):
            state = self._fold_all(events)
            if state.locked is None:
                append("lock", {"when": _now(), "reason": reason, "cause": "closed",
                                "refused": {}})
                self._fold_all(events)

    def check_open(self) -> None:
        """Raise DatasetLocked (or LedgerCorrupt) unless queries and training may proceed."""
        state = self._state()
        if state.locked is not None:
            raise DatasetLocked(self._locked_message(state))

    def reset(self, *, confirm: bool = False, epsilon: float | None = None,
              delta: float | None = None) -> None:
        """Instructors only: clear spends and the lock (optionally set a new budget).

        The old spends stay in the file (the log only grows). A damaged, replaced or missing
        file is moved aside to ``<name>.corrupt-<time>`` (when there is one) and a fresh ledger
        is started that names the one it replaces.
        """
        if confirm is not True:
            raise InvalidParameterError(
                "reset() erases the spent privacy budget and unlocks the dataset; only an "
                "instructor should do this, by calling reset(confirm=True).")
        eps = self._budget[0] if epsilon is None else check_positive("epsilon", epsilon)
        dlt = self._budget[1] if delta is None else _check_budget_delta(delta)
        # Lock order everywhere: the folder's register first, then the ledger file.
        with self._store.births() as (born, record):
            try:
                with self._store.writing() as (events, append):
                    state = self._fold_all(events)
                    if born is not None and born.get("ledger_id") != state.ledger_id:
                        raise self._corrupt("was replaced")
                    append("reset", {"when": _now(), "reason": "instructor",
                                     "budget": {"epsilon": eps, "delta": dlt}})
                    self._fold_all(events)
            except (LedgerCorrupt, FileNotFoundError):
                stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
                self._store.move_aside(stamp)
                self._create(eps, dlt, record, replaces=(born or {}).get("ledger_id"))
        self._budget = (eps, dlt)

    def __repr__(self) -> str:
        return (f"PrivacyLedger({str(self.path)!r}, epsilon={self._budget[0]!r}, "
                f"delta={self._budget[1]!r}, dataset={self.dataset!r}, "
                f"institution={self.institution!r})")
