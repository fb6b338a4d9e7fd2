"""A persistent privacy budget per (institution, dataset) that locks the dataset when spent.

The budget is spent like money. Every spend is recorded (what, when, mechanism, parameters, ε,
δ); a spend the remaining budget cannot cover raises :class:`~medpriv_widgets.errors.BudgetExhausted`
(nothing is recorded for it) and *locks* the dataset: every later query or training run refuses
with :class:`~medpriv_widgets.errors.DatasetLocked`, in words, until an instructor calls
``ledger.reset(confirm=True)``. A kernel restart does not reset anything: the ledger lives on disk.

Where: one JSON file per (institution, dataset), by default
``results_dir()/ledgers/<institution>/<dataset>.json`` (``path=None``); ``path`` may also be a
directory (the same layout below it) or an explicit ``.json`` file.

Composition (how spends add up):

- *Basic* spends (``spend``: Laplace, randomized response, any (ε, δ) mechanism): ε and δ add
  (basic composition).
- *Gaussian* spends (``spend_gaussian``: one Gaussian-mechanism answer; ``spend_dpsgd``: a
  DP-SGD run, i.e. a Poisson-subsampled Gaussian mechanism) are composed *jointly and tightly*
  with the PRV accountant (:func:`.accounting.compose_epsilon`). This part is charged all the δ
  not committed by basic spends (δ_G = δ_budget − Σδ_basic), and its ε is evaluated at δ_G; the
  total is (Σε_basic + ε_G(δ_G), δ_budget). So ten DP-SGD epochs recorded one by one cost exactly
  what one ten-epoch run costs, and far less than ten times one epoch.

``remaining() = budget − spent()`` (never below 0).

On-disk safety: every change is a read-check-write transaction under a ``filelock.FileLock``
(``<file>.lock``); the new content is written to a temporary file in the same folder, flushed,
fsync'ed and moved over the old file with ``os.replace`` (atomic), so a process killed at any
moment leaves either the old or the new ledger, never half of one. The file stores a sha256 of
its canonical content; a hand-edited or truncated file raises
:class:`~medpriv_widgets.errors.LedgerCorrupt`. (The checksum detects accidents and casual edits,
not a determined forger, who could recompute it: it is an integrity check, not a signature.)
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import json
import math
import os
import re
import tempfile
import uuid
from pathlib import Path

import filelock

from .._validate import check_open_unit, check_positive, check_real
from ..errors import (BudgetExhausted, DatasetLocked, InvalidParameterError, LedgerCorrupt,
                      PrivacyBudgetError)

__all__ = ["PrivacyLedger", "default_ledger_path", "LEDGER_FORMAT"]

LEDGER_FORMAT = "medpriv-privacy-ledger"
_VERSION = 1
_LOCK_TIMEOUT_S = 60.0
# Float sums of e.g. ten spends of 0.1 land a hair above 1.0; this slack absorbs that rounding only.
_REL_SLACK = 1e-9


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unnamed"


def default_ledger_path(*, dataset: str, institution: str, root: str | os.PathLike | None = None) -> Path:
    """``<root>/<institution>/<dataset>.json``; root defaults to ``results_dir()/ledgers``."""
    if root is None:
        from ..paths import results_dir

        root = results_dir() / "ledgers"
    return Path(root) / _safe_name(institution) / f"{_safe_name(dataset)}.json"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def _digest(content: dict) -> str:
    return hashlib.sha256(_canonical(content)).hexdigest()


def _num(x: float) -> str:
    """ε and δ for people: 0.3 not 0.30000000000000004; 1e-5 not 1e-05; tiny float dust is 0."""
    if abs(x) < 1e-12:
        return "0"
    text = f"{x:.3g}"
    return text.replace("e-0", "e-") if "e" in text else text


def _check_text(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(f"`{name}` must be a non-empty string; got {value!r}.")
    return value


class PrivacyLedger:
    """The privacy budget of one dataset at one institution, kept on disk.

    Parameters
    ----------
    path : str, Path or None
        The ledger's ``.json`` file; or a directory (any path not ending in ``.json``), under
        which ``<institution>/<dataset>.json`` is used; or None for ``results_dir()/ledgers``.
    epsilon, delta : float
        The total budget (ε > 0 finite, 0 < δ < 1). Needed to create a new ledger; for an
        existing one they must match what is stored (or be None to use the stored budget).
    dataset, institution : str
        Whose budget this is; stored in the file and used in every message.

    Every method re-reads the file, so several notebooks or processes share one budget.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, epsilon: float | None = None,
                 delta: float | None = None, dataset: str = "pneumoniamnist",
                 institution: str = "local") -> None:
        self.dataset = _check_text("dataset", dataset)
        self.institution = _check_text("institution", institution)
        eps = None if epsilon is None else check_positive(
            "epsilon", epsilon, hint="The budget ε must be a positive, finite number, e.g. 1.0.")
        dlt = None if delta is None else check_open_unit(
            "delta", delta, hint="Choose δ well below 1/(number of patients), e.g. 1e-5.")
        if path is None:
            file = default_ledger_path(dataset=dataset, institution=institution)
        else:
            p = Path(path).expanduser()
            file = (default_ledger_path(dataset=dataset, institution=institution, root=p)
                    if p.is_dir() or p.suffix.lower() != ".json" else p)
        self.path = file
        self._lock_path = file.with_name(file.name + ".lock")
        file.parent.mkdir(parents=True, exist_ok=True)

        with self._locked_file():
            if not file.exists():
                if eps is None or dlt is None:
                    raise InvalidParameterError(
                        f"There is no ledger at {file} yet; pass `epsilon` and `delta` to create "
                        f"one (got epsilon={epsilon!r}, delta={delta!r}).")
                self._write(self._fresh_content(eps, dlt))
                self._budget = (eps, dlt)
                return
            try:
                content = self._read()
            except LedgerCorrupt:
                if eps is None or dlt is None:
                    raise
                # Keep going so that an instructor can still call reset(confirm=True); every
                # other method raises LedgerCorrupt.
                self._budget = (eps, dlt)
                return
        if content["dataset"] != self.dataset or content["institution"] != self.institution:
            raise InvalidParameterError(
                f"The ledger at {file} belongs to dataset {content['dataset']!r} at institution "
                f"{content['institution']!r}, not dataset {self.dataset!r} at {self.institution!r}; "
                f"use another path or the matching names.")
        stored = (content["budget"]["epsilon"], content["budget"]["delta"])
        if (eps is not None and eps != stored[0]) or (dlt is not None and dlt != stored[1]):
            raise InvalidParameterError(
                f"The ledger at {file} was created with the budget epsilon={stored[0]}, "
                f"delta={stored[1]}; got epsilon={epsilon!r}, delta={delta!r}. Pass the stored "
                f"budget (or None), or have an instructor call "
                f"reset(confirm=True, epsilon=..., delta=...) to start a new budget.")
        self._budget = stored

    # ------------------------------------------------------------------ file plumbing
    @contextlib.contextmanager
    def _locked_file(self):
        lock = filelock.FileLock(str(self._lock_path), timeout=_LOCK_TIMEOUT_S, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise PrivacyBudgetError(
                f"Another process has held the ledger lock {self._lock_path} for "
                f"{_LOCK_TIMEOUT_S:.0f} s; wait for it to finish and try again.") from None
        try:
            yield
        finally:
            lock.release()

    def _fresh_content(self, eps: float, dlt: float) -> dict:
        return {"format": LEDGER_FORMAT, "version": _VERSION, "dataset": self.dataset,
                "institution": self.institution, "budget": {"epsilon": eps, "delta": dlt},
                "created": _now(), "locked": None, "next_seq": 1, "spends": [], "resets": []}

    def _corrupt(self, why: str) -> LedgerCorrupt:
        return LedgerCorrupt(
            f"The privacy ledger {self.path} {why}. It was edited by hand or damaged, so the "
            f"budget it records cannot be trusted and dataset {self.dataset!r} at "
            f"{self.institution!r} stays closed. An instructor can keep the file for inspection "
            f"and start a fresh budget with ledger.reset(confirm=True).")

    def _read(self) -> dict:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise self._corrupt("is missing") from None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._corrupt("is not valid JSON (perhaps truncated)") from None
        if not isinstance(doc, dict) or set(doc) != {"content", "sha256"}:
            raise self._corrupt("does not have the ledger layout (content + sha256)")
        content = doc["content"]
        if not isinstance(content, dict):
            raise self._corrupt("does not have the ledger layout")
        try:
            digest = _digest(content)
        except (TypeError, ValueError):
            raise self._corrupt("contains values a ledger never writes") from None
        if digest != doc["sha256"]:
            raise self._corrupt("does not match its checksum")
        try:
            self._check_schema(content)
        except (KeyError, TypeError, ValueError, AssertionError):
            raise self._corrupt("has a valid checksum but an unexpected structure") from None
        # Another process (an instructor's reset) may have changed the budget.
        self._budget = (float(content["budget"]["epsilon"]), float(content["budget"]["delta"]))
        return content

    @staticmethod
    def _check_schema(c: dict) -> None:
        assert c["format"] == LEDGER_FORMAT and c["version"] == _VERSION
        assert isinstance(c["dataset"], str) and isinstance(c["institution"], str)
        b = c["budget"]
        assert 0 < float(b["epsilon"]) < math.inf and 0 < float(b["delta"]) < 1
        assert isinstance(c["spends"], list) and isinstance(c["resets"], list)
        assert c["locked"] is None or isinstance(c["locked"], dict)
        seqs = [s["seq"] for s in c["spends"]]
        assert seqs == sorted(set(seqs)) and all(isinstance(s, int) for s in seqs)
        assert isinstance(c["next_seq"], int) and (not seqs or c["next_seq"] > seqs[-1])
        for s in c["spends"]:
            assert s["kind"] in ("basic", "gaussian")
            float(s["epsilon"]), float(s["delta"])
            if s["kind"] == "gaussian":
                p = s["params"]
                float(p["noise_multiplier"]), float(p["sample_rate"]), int(p["steps"])

    def _write(self, content: dict) -> None:
        doc = {"content": content, "sha256": _digest(content)}
        data = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False).encode("utf-8")
        folder = self.path.parent
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)  # atomic: readers see the old or the new file
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        # Temporary files of writers killed mid-write: safe to remove while we hold the lock.
        for stale in folder.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()

    # ------------------------------------------------------------------ composition
    def _totals(self, spends: list[dict]) -> tuple[float, float]:
        """(ε, δ) of all spends together (see the module docstring for the rule)."""
        basic = [s for s in spends if s["kind"] == "basic"]
        gauss = [s for s in spends if s["kind"] == "gaussian"]
        eps_b = math.fsum(float(s["epsilon"]) for s in basic)
        dlt_b = math.fsum(float(s["delta"]) for s in basic)
        if not gauss:
            return eps_b, dlt_b
        delta_g = self._budget[1] - dlt_b
        if delta_g <= 0:
            return math.inf, self._budget[1]
        from .accounting import compose_epsilon

        events = [(float(s["params"]["noise_multiplier"]), float(s["params"]["sample_rate"]),
                   int(s["params"]["steps"])) for s in gauss]
        return eps_b + compose_epsilon(events=events, delta=delta_g), self._budget[1]

    def _affordable(self, total: tuple[float, float]) -> bool:
        eps_b, dlt_b = self._budget
        return (total[0] <= eps_b * (1 + _REL_SLACK) + 1e-15
                and total[1] <= dlt_b * (1 + _REL_SLACK) + 1e-300)

    # ------------------------------------------------------------------ messages
    def _whose(self) -> str:
        return f"the dataset {self.dataset!r} at institution {self.institution!r}"

    def _locked_message(self, content: dict | None = None) -> str:
        why = ""
        if content and isinstance(content.get("locked"), dict) and content["locked"].get("reason"):
            why = f" (the request {content['locked']['reason']!r} asked for more than was left)"
        return (f"The privacy budget of {self._whose()} is used up{why}, so the dataset is "
                f"locked: no further questions or training. An instructor can reset it with "
                f"ledger.reset(confirm=True).")

    def _refusal_message(self, record: dict, need: tuple[float, float],
                         left: tuple[float, float]) -> str:
        """Why a spend was refused, in words: what it would spend, what is left, what now."""
        note = record["note"]
        eps_budget, dlt_budget = _num(self._budget[0]), _num(self._budget[1])
        where = (f" (dataset {self.dataset!r}, institution {self.institution!r}; whole budget "
                 f"ε = {eps_budget}, δ = {dlt_budget})")
        if need[0] == math.inf and record["kind"] == "gaussian" and left[1] <= 0:
            cost = (f"The request {note!r} needs part of δ (the small chance that the guarantee "
                    f"fails), but all of it is already used{where}")
        elif need[0] == math.inf and record["kind"] == "basic":
            cost = (f"The request {note!r} would spend δ = {_num(float(record['delta']))} (the "
                    f"small chance that the guarantee fails), but the training runs already "
                    f"recorded use all of δ{where}")
        elif need[0] == math.inf:
            cost = (f"The request {note!r} has no privacy guarantee at all (ε = ∞, for example "
                    f"training without noise), so no budget can cover it{where}")
        elif need[0] > left[0] * (1 + _REL_SLACK) + 1e-15:
            left_text = ("nothing is left" if _num(left[0]) == "0" else
                         f"only ε = {_num(left[0])} is left")
            cost = (f"The request {note!r} would spend ε = {_num(need[0])} of the privacy "
                    f"budget, but {left_text} for {self._whose()} (whole budget "
                    f"ε = {eps_budget})")
        else:  # ε fits; δ does not (a basic spend with δ > 0)
            cost = (f"The request {note!r} would spend δ = {_num(need[1])} (the small chance that "
                    f"the guarantee fails), but only δ = {_num(left[1])} is left for "
                    f"{self._whose()} (whole budget ε = {eps_budget}, δ = {dlt_budget})")
        return (f"{cost}. Nothing was spent. The dataset is now locked: no further questions or "
                f"training. An instructor can reset it with ledger.reset(confirm=True).")

    # ------------------------------------------------------------------ spending
    def _spend(self, record: dict) -> dict:
        with self._locked_file():
            content = self._read()
            if content["locked"] is not None:
                raise DatasetLocked(self._locked_message(content))
            before = self._totals(content["spends"])
            record = dict(record, seq=content["next_seq"], id=uuid.uuid4().hex, when=_now())
            after = self._totals(content["spends"] + [record])
            if not self._affordable(after):
                rem = self._remaining_from(before)
                content["locked"] = {"when": _now(), "reason": record["note"],
                                     "refused": {"mechanism": record["mechanism"],
                                                 "params": record["params"]}}
                self._write(content)
                need = (after[0] - before[0], after[1] - before[1])
                raise BudgetExhausted(self._refusal_message(record, need, rem))
            if record["kind"] == "gaussian":
                # What this spend added to the total, given everything before it.
                record["epsilon"] = max(after[0] - before[0], 0.0)
                record["delta"] = after[1] - before[1]
            record["total_epsilon"], record["total_delta"] = after
            content["spends"].append(record)
            content["next_seq"] += 1
            self._write(content)
            return copy.deepcopy(record)

    def spend(self, epsilon: float, delta: float = 0.0, *, note: str,
              mechanism: str = "laplace") -> dict:
        """Record an (ε, δ)-DP release (basic composition). Returns the stored record.

        Raises DatasetLocked when the dataset is already locked; BudgetExhausted (and locks the
        dataset, recording nothing for this spend) when the budget cannot cover it.
        """
        eps = check_positive("epsilon", epsilon, hint="Each release spends a positive, finite ε.")
        dlt = check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False)
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

        ``noise_multiplier`` 0 means no noise: it cannot be covered (BudgetExhausted, locks).
        """
        record = self._dpsgd_record(noise_multiplier=noise_multiplier, sample_rate=sample_rate,
                                    steps=steps, note=note)
        return self._spend(record)

    def _dpsgd_record(self, *, noise_multiplier, sample_rate, steps, note) -> dict:
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
        spends = self._read()["spends"]
        return self._totals(spends + [record])[0] - self._totals(spends)[0]

    # ------------------------------------------------------------------ reading
    def _remaining_from(self, total: tuple[float, float]) -> tuple[float, float]:
        return (max(self._budget[0] - total[0], 0.0), max(self._budget[1] - total[1], 0.0))

    @property
    def budget(self) -> tuple[float, float]:
        """The total budget (ε, δ)."""
        return self._budget

    def spent(self) -> tuple[float, float]:
        """(ε, δ) spent so far, composed as described in the module docstring."""
        return self._totals(self._read()["spends"])

    def remaining(self) -> tuple[float, float]:
        """(ε, δ) still available (budget − spent, floored at 0)."""
        return self._remaining_from(self.spent())

    def fraction_used(self) -> float:
        """Spent ε as a fraction of the ε budget, in [0, 1] (1 once locked)."""
        content = self._read()
        if content["locked"] is not None:
            return 1.0
        return min(self._totals(content["spends"])[0] / self._budget[0], 1.0)

    @property
    def locked(self) -> bool:
        """True once a spend was refused; cleared only by ``reset(confirm=True)``."""
        return self._read()["locked"] is not None

    @property
    def history(self) -> list[dict]:
        """Every recorded spend, oldest first: seq, id, when (UTC ISO), note, mechanism, kind,
        params, epsilon, delta (what it added), total_epsilon, total_delta (after it)."""
        return copy.deepcopy(self._read()["spends"])

    def check_open(self) -> None:
        """Raise DatasetLocked (or LedgerCorrupt) unless queries and training may proceed."""
        content = self._read()
        if content["locked"] is not None:
            raise DatasetLocked(self._locked_message(content))

    def reset(self, *, confirm: bool = False, epsilon: float | None = None,
              delta: float | None = None) -> None:
        """Instructors only: clear spends and the lock (optionally set a new budget).

        The old spends are kept in the file's ``resets`` list for the record. A corrupt file is
        moved aside to ``<name>.corrupt-<time>`` and a fresh ledger is started.
        """
        if confirm is not True:
            raise InvalidParameterError(
                "reset() erases the spent privacy budget and unlocks the dataset; only an "
                "instructor should do this, by calling reset(confirm=True).")
        eps = self._budget[0] if epsilon is None else check_positive("epsilon", epsilon)
        dlt = self._budget[1] if delta is None else check_open_unit("delta", delta)
        with self._locked_file():
            try:
                content = self._read()
            except LedgerCorrupt:
                stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.path, self.path.with_name(f"{self.path.name}.corrupt-{stamp}"))
                content = self._fresh_content(eps, dlt)
            else:
                content["resets"].append({"when": _now(), "budget": content["budget"],
                                          "locked": content["locked"],
                                          "spends": content["spends"]})
                content["spends"] = []
                content["locked"] = None
                content["budget"] = {"epsilon": eps, "delta": dlt}
            self._write(content)
        self._budget = (eps, dlt)

    def __repr__(self) -> str:
        return (f"PrivacyLedger({str(self.path)!r}, epsilon={self._budget[0]!r}, "
                f"delta={self._budget[1]!r}, dataset={self.dataset!r}, "
                f"institution={self.institution!r})")

