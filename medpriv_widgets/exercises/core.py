"""What an exercise is, how an answer is read, and the one call a notebook makes: :func:`check`.

An :class:`Exercise` holds the question, the form its answer takes (:class:`AnswerForm`: a
number, a whole number or one of a few words) and a ``judge``: a function that *recomputes*, with
the package's own code, what the learner's answer leads to (the attack at that k, the ε of that
σ, the bound at that ε …) and returns an :class:`Outcome`. Nothing is compared to a stored
number alone, so a check can fail for a wrong answer and says why.

:func:`check` never raises: an answer of the wrong type, an unknown exercise id or an error
inside the recomputation all come back as a :class:`Feedback` with a sentence — in a notebook it
shows as a coloured box (``_repr_html_``), in a terminal as text.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..explain.exercises import (check_failed_text, exercise_feedback_text, not_answered_text,
                                 unknown_exercise_text, unreadable_answer_text)

#: The lesson notebooks, by lesson number (exercise ids start with the number).
LESSON_NOTEBOOKS = {
    "01": "01_anonymization_is_not_enough.ipynb",
    "02": "02_differential_privacy_basics.ipynb",
    "03": "03_private_training.ipynb",
    "04": "04_reconstruction_attack.ipynb",
    "05": "05_membership_inference.ipynb",
    "06": "06_federated_hospitals.ipynb",
    "07": "07_risk_utility_tradeoff.ipynb",
    "08": "08_benchmark_arena.ipynb",
}

KINDS = {"predict": "Predict, then reveal", "goal": "Change one setting to reach a goal"}


class UnreadableAnswer(Exception):
    """An answer that is not of the form the exercise needs (turned into a sentence)."""


@dataclass(frozen=True)
class AnswerForm:
    """The form of an answer: ``"number"`` (unit e.g. '%'), ``"integer"`` or ``"choice"``.

    Numbers may be written as text ('73.1', '73,1 %'), as clinicians type them; ``choices`` are
    compared without case and surrounding blanks or quotes.
    """

    kind: str
    unit: str = ""
    low: float = -math.inf
    high: float = math.inf
    choices: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        what = "a whole number" if self.kind == "integer" else "a number"
        return what + (f" (in {self.unit})" if self.unit else "")

    @property
    def example(self) -> str:
        if self.kind == "choice":
            return f'"{self.choices[0]}"'
        return "3" if self.kind == "integer" else "0.5"

    def parse(self, value: Any):
        """The answer as a float, int or lower-case choice; UnreadableAnswer when it is not one."""
        if self.kind == "choice":
            if not isinstance(value, str):
                raise UnreadableAnswer()
            word = value.strip().strip("'\"").strip().lower()
            if word not in [c.lower() for c in self.choices]:
                raise UnreadableAnswer()
            return word
        number = _as_number(value)
        if number is None or not (self.low <= number <= self.high):
            raise UnreadableAnswer()
        if self.kind == "integer":
            if number != int(number):
                raise UnreadableAnswer()
            return int(number)
        return float(number)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip().replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


@dataclass(frozen=True)
class Outcome:
    """What a judge found: ``correct``, the recomputed facts (``found``, always said) and, for a
    wrong answer, ``why_not``."""

    correct: bool
    found: str
    why_not: str = ""


@dataclass(frozen=True)
class Exercise:
    """One exercise at the end of a lesson.

    ``id`` ('02-budget': lesson number, a word), ``title`` (a few words), ``kind`` ('predict':
    predict, then reveal; 'goal': change one setting to reach a goal), ``question`` (Markdown,
    shown above the answer cell), ``form`` (:class:`AnswerForm`), ``judge`` (answer → Outcome;
    recomputes with the package), ``hint`` (shown with every wrong or missing answer),
    ``solution`` (a right answer, for the instructors' notebooks and the tests) and
    ``explanation`` (why it is right, for instructors).
    """

    id: str
    title: str
    kind: str
    question: str
    form: AnswerForm
    judge: Callable[[Any], Outcome] = field(repr=False)
    hint: str
    solution: Any
    explanation: str

    @property
    def lesson(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def notebook(self) -> str:
        return LESSON_NOTEBOOKS[self.lesson]

    @property
    def variable(self) -> str:
        """The notebook variable that holds the learner's answer, e.g. ``answer_02_budget``."""
        return "answer_" + self.id.replace("-", "_")

    def summary(self) -> dict:
        """What ``medpriv exercises --json`` lists."""
        return {"id": self.id, "lesson": self.lesson, "title": self.title, "kind": self.kind,
                "notebook": self.notebook, "variable": self.variable}


@dataclass(frozen=True)
class Feedback:
    """The answer to one check, in words.

    ``status``: 'right', 'wrong', 'unanswered', 'unreadable' (wrong type or form), 'unknown'
    (no such exercise) or 'failed' (the recomputation could not run). ``text`` says right / why
    not; ``hint`` comes with everything but 'right'.
    """

    exercise: str
    status: str
    text: str
    hint: str = ""

    @property
    def correct(self) -> bool:
        return self.status == "right"

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        head = f"Exercise {self.exercise}: {self.text}"
        return head + (f"\nHint: {self.hint}" if self.hint and not self.correct else "")

    def _repr_html_(self) -> str:
        colour = {"right": ("#e6f4ea", "#1e7e34"), "wrong": ("#fff4e5", "#b35c00")}.get(
            self.status, ("#e8f0fe", "#1a4d8f"))
        hint = (f"<br><b>Hint:</b> {html.escape(self.hint)}"
                if self.hint and not self.correct else "")
        return (f'<div class="medpriv-exercise-feedback medpriv-exercise-{self.status}" '
                f'style="background:{colour[0]};border-left:4px solid {colour[1]};'
                f'padding:6px 10px;margin:4px 0">'
                f"<b>Exercise {html.escape(self.exercise)}:</b> {html.escape(self.text)}{hint}"
                f"</div>")


def run_check(exercise: Exercise, answer: Any) -> Feedback:
    """Judge ``answer`` for ``exercise``; never raises (see :func:`check`)."""
    if answer is None:
        return Feedback(exercise.id, "unanswered", not_answered_text(exercise.variable),
                        exercise.hint)
    try:
        value = exercise.form.parse(answer)
    except UnreadableAnswer:
        return Feedback(exercise.id, "unreadable", unreadable_answer_text(
            expected=exercise.form.expected, example=exercise.form.example, got=answer),
            exercise.hint)
    try:
        outcome = exercise.judge(value)
    except Exception as exc:  # noqa: BLE001 - a learner must get a sentence, never a traceback
        reason = str(exc).strip() or type(exc).__name__
        if not reason.endswith((".", "!", "?")):
            reason += "."
        return Feedback(exercise.id, "failed", check_failed_text(reason), exercise.hint)
    text = exercise_feedback_text(correct=outcome.correct, reveal=outcome.found,
                                  why_not=outcome.why_not)
    return Feedback(exercise.id, "right" if outcome.correct else "wrong", text,
                    "" if outcome.correct else exercise.hint)


def unknown(exercise_id: Any, known: list[str]) -> Feedback:
    return Feedback(str(exercise_id), "unknown", unknown_exercise_text(exercise_id, known))


__all__ = ["AnswerForm", "Exercise", "Feedback", "KINDS", "LESSON_NOTEBOOKS", "Outcome",
           "run_check", "unknown"]
