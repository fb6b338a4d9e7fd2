"""The classroom's privacy budget: one ledger shared by every learner of a workshop.

On a JupyterHub the spawner gives every learner's server the environment variable
``MEDPRIV_CLASSROOM_LEDGER`` = a ledger file on storage all of them can write (deploy/). Lesson
02 then opens its classroom budget lab on that file (:func:`classroom_ledger`), so a question
asked in any learner's kernel — or in a second window of the same learner — spends from the
same budget, and everyone sees it shrink and lock. Without the variable the lab gets a budget of
its own, as on a laptop.

Sharing is safe because :class:`~medpriv_widgets.privacy.ledger.PrivacyLedger` serialises
writers and appends one checksummed record per spend: concurrent spends never overspend and
never lose a confirmed spend, and a kernel killed in the middle of one leaves either the whole
record or none (tests/test_jupyterhub_classroom.py runs this with real kernels).

Only an instructor may give the class its budget back: the learners' ledger object refuses
``reset`` with a sentence that says how the instructor does it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._validate import check_positive
from .errors import InvalidParameterError, MedprivError
from .paths import check_path
from .explain.classroom import classroom_note_text, classroom_reset_refused_text
from .privacy.accounting import check_delta
from .privacy.ledger import PrivacyLedger

#: The environment variable a hub's spawner sets to the shared ledger file.
CLASSROOM_ENV = "MEDPRIV_CLASSROOM_LEDGER"
DATASET, INSTITUTION = "pneumoniamnist-train", "classroom"


def classroom_ledger_path() -> Path | None:
    """The shared ledger file named by ``MEDPRIV_CLASSROOM_LEDGER``, or None when unset."""
    value = os.environ.get(CLASSROOM_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _ledger_file(path) -> Path | None:
    """``path`` (default :func:`classroom_ledger_path`) checked to be a usable path, or None."""
    if path is None:
        return classroom_ledger_path()
    file = check_path("path", path, what="the classroom ledger file")
    try:
        file.is_file()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise InvalidParameterError(_unusable(file, exc)) from None
    return file


def _unusable(file: Path, exc: OSError) -> str:
    return (f"`path` cannot hold the classroom ledger: {str(file)[:120]} gives "
            f"'{exc.strerror or exc}'. Choose a shorter path in a folder every learner can write, "
            f"and set {CLASSROOM_ENV} to it.")


class ClassroomLedger(PrivacyLedger):
    """A learner's handle on the shared budget: spends and reads like any ledger, but
    ``reset`` is refused (one learner must not give the whole class its budget back)."""

    def reset(self, *, confirm: bool = False, epsilon=None, delta=None) -> None:
        raise InvalidParameterError(classroom_reset_refused_text(self.path))


def classroom_ledger(*, epsilon: float = 5.0, delta: float = 1e-5,
                     path: str | os.PathLike | None = None) -> ClassroomLedger | None:
    """The classroom's shared ledger, or None when no classroom is set up (then a lab makes a
    budget of its own).

    ``path``: the ledger file; default :func:`classroom_ledger_path`. The first learner to open
    it creates it with budget ``epsilon``, ``delta``; everyone after that (and every kernel
    restart) reopens it with the budget stored in the file, whatever they pass.
    """
    # checked even when the file exists and its own budget wins: a wrong value is a mistake
    epsilon = check_positive("epsilon", epsilon, hint="The class's budget ε, e.g. 5.0.")
    delta = check_delta(delta)
    file = _ledger_file(path)
    if file is None:
        return None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        try:
            return ClassroomLedger(file, dataset=DATASET, institution=INSTITUTION)
        except InvalidParameterError:
            if file.exists():
                raise
        # Not there yet: create it. Two learners racing here are serialised by the ledger's
        # lock; the second finds the file and opens it with the same budget.
        return ClassroomLedger(file, epsilon=epsilon, delta=delta, dataset=DATASET,
                               institution=INSTITUTION)
    except OSError as exc:
        raise InvalidParameterError(_unusable(file, exc)) from None


def open_classroom_ledger(path: str | os.PathLike | None = None) -> PrivacyLedger:
    """The shared ledger as an instructor opens it (an ordinary PrivacyLedger: it can reset).
    ``path``: default :func:`classroom_ledger_path`."""
    file = _ledger_file(path)
    if file is None:
        raise InvalidParameterError(
            f"No classroom ledger is set up: set {CLASSROOM_ENV} to its file, or pass `path`.")
    try:
        return PrivacyLedger(file, dataset=DATASET, institution=INSTITUTION)
    except OSError as exc:
        raise InvalidParameterError(_unusable(file, exc)) from None


def reset_classroom_budget(*, path: str | os.PathLike | None = None,
                           epsilon: float | None = None, delta: float | None = None) -> None:
    """Instructors: give the class its budget back (optionally a new ε, δ). The spends stay in
    the file's history; a damaged file is moved aside and a fresh ledger started."""
    file = _ledger_file(path)
    if file is None:
        raise InvalidParameterError(
            f"No classroom ledger is set up: set {CLASSROOM_ENV} to its file, or pass `path`.")
    try:
        try:
            # opened with the budget it holds: a new ε, δ is the reset's to set, and opening
            # with a budget other than the stored one is refused
            ledger = PrivacyLedger(file, dataset=DATASET, institution=INSTITUTION)
        except MedprivError:
            if epsilon is None or delta is None:
                raise
            # damaged or missing: opened with the new budget, so reset can start afresh
            ledger = PrivacyLedger(file, dataset=DATASET, institution=INSTITUTION,
                                   epsilon=epsilon, delta=delta)
        ledger.reset(confirm=True, epsilon=epsilon, delta=delta)
    except OSError as exc:
        raise InvalidParameterError(_unusable(file, exc)) from None


def classroom_note(ledger: PrivacyLedger | None) -> str:
    """One sentence for the lesson: shared with the class (where) or a budget of one's own."""
    return classroom_note_text(shared=ledger is not None,
                               path=None if ledger is None else ledger.path, env=CLASSROOM_ENV)


__all__ = ["CLASSROOM_ENV", "ClassroomLedger", "classroom_ledger", "classroom_ledger_path",
           "classroom_note", "open_classroom_ledger", "reset_classroom_budget"]
