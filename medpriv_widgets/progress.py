"""The one progress record every long computation yields.

Training, shadow models, reconstruction attacks, audits and pre-computation are generators of
:class:`Progress`. A widget's progress bar reads ``fraction`` and ``message``, the CLI prints
them, a test iterates to the end; what the computation has produced so far (a training epoch's
record, a reconstruction frame, the final result) travels in ``partial``.

A generator ends with a record whose ``done == total`` (finished; ``partial`` is the result) or
whose ``stopped`` is True (a :class:`~medpriv_widgets.stopping.StopToken` was set; ``partial``
is what there was, and nothing unfinished is cached).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from .errors import InvalidParameterError, MedprivError


@dataclass(frozen=True)
class Progress:
    """One step of a long computation.

    Attributes
    ----------
    stage : str
        What is running, in a few words ("shadow models", "DP-SGD at ε = 8").
    done, total : float
        Units of work done and planned in this stage (steps, epochs, iterations or estimated
        seconds; the stage chooses). ``total > 0``.
    message : str
        One sentence for people ("epoch 3 of 12, loss 0.41").
    partial : any
        What exists so far: an epoch record, a reconstruction frame, or, on the last record of a
        finished stage, its result. None when there is nothing to show.
    stopped : bool
        True on the last record of a stage that a stop request ended early.
    """

    stage: str
    done: float
    total: float
    message: str
    partial: Any = None
    stopped: bool = False

    @property
    def fraction(self) -> float:
        """Share done, in [0, 1], for progress bars."""
        if not self.total or not math.isfinite(self.total):
            return 1.0 if not self.stopped else 0.0
        return min(1.0, max(0.0, self.done / self.total))

    @property
    def finished(self) -> bool:
        """True on the last record of a stage that ran to the end."""
        return not self.stopped and self.done >= self.total

    def with_(self, **changes) -> "Progress":
        return replace(self, **changes)


class StoppedEarly(MedprivError):
    """A computation was stopped before it finished, so it has no result to give."""


def last_record(records: Iterable[Progress]) -> Progress:
    """Run a progress generator to its end; return its last record."""
    if isinstance(records, (str, bytes, Progress)) or not isinstance(records, Iterable):
        raise InvalidParameterError(f"`records` must be a generator of Progress records (what a "
                                    f"long computation returns); got {type(records).__name__}.")
    try:
        iterator = iter(records)
    except TypeError as exc:  # claims to be iterable but is not (a 0-d tensor)
        raise InvalidParameterError(f"`records` must be a generator of Progress records; got "
                                    f"{type(records).__name__} ({exc}).") from None
    last = None
    for last in iterator:
        pass
    if last is None:
        raise StoppedEarly("The computation yielded nothing, so it has no result; check that "
                           "it yields at least one Progress record.")
    if not isinstance(last, Progress):
        raise InvalidParameterError(f"`records` must yield Progress records; its last item is "
                                    f"{type(last).__name__}. Pass the generator a long "
                                    f"computation returns.")
    return last


def final_result(records: Iterable[Progress]) -> Any:
    """Run a progress generator to its end and return its result (``partial`` of the last record).

    Raises :class:`StoppedEarly` when it was stopped before it finished.
    """
    last = last_record(records)
    if last.stopped:
        raise StoppedEarly(f"{last.stage} was stopped before it finished "
                           f"({last.message.rstrip('.')}); run it again to the end to get its "
                           f"result.")
    return last.partial


__all__ = ["Progress", "StoppedEarly", "final_result", "last_record"]
