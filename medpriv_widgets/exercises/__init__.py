"""Exercises with checks that answer in words, for the end of every lesson.

In a lesson::

    from medpriv_widgets.exercises import check
    answer_02_budget = 3          # the learner's answer (None until answered)
    check("02-budget", answer_02_budget)

:func:`check` recomputes, with the package's own code, what the answer leads to and returns a
:class:`Feedback`: right, or why not and a hint. It never raises — not for a wrong answer type,
an unknown exercise or a failure inside the recomputation.

- :mod:`.core`: :class:`Exercise`, :class:`AnswerForm`, :class:`Feedback`.
- :mod:`.lesson01` … :mod:`.lesson08`: the exercises, one module per lesson.
- :mod:`.notebooks`: the exercise cells appended to each lesson and the instructors' solution
  notebooks, generated from these definitions.
- :mod:`.grading`: a class's submitted notebooks graded with otter-grader.
"""

from __future__ import annotations

from typing import Any

from . import lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07, lesson08
from .core import KINDS, AnswerForm, Exercise, Feedback, Outcome, run_check, unknown

#: Every exercise by id, in lesson order.
EXERCISES: dict[str, Exercise] = {
    ex.id: ex for module in (lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07,
                             lesson08)
    for ex in module.EXERCISES}


def check(exercise_id: str, answer: Any = None) -> Feedback:
    """Judge ``answer`` to exercise ``exercise_id`` ('02-budget'); a :class:`Feedback` in words.

    Never raises: None is 'not answered yet', an answer of the wrong form or type is said so
    (with the form wanted), and an unknown id lists the exercises.
    """
    exercise = EXERCISES.get(exercise_id) if isinstance(exercise_id, str) else None
    if exercise is None:
        return unknown(exercise_id, list(EXERCISES))
    return run_check(exercise, answer)


def verdict(exercise_id: str, answer: Any = None) -> str:
    """'right', or the whole feedback (why not and the hint): what an otter-grader test compares."""
    feedback = check(exercise_id, answer)
    return "right" if feedback.correct else str(feedback)


def list_exercises(*, lesson: str | None = None) -> list[dict]:
    """One dict per exercise (id, lesson, title, kind, notebook, variable), optionally of one
    lesson ('02')."""
    return [ex.summary() for ex in EXERCISES.values() if lesson is None or ex.lesson == lesson]


def lessons() -> list[str]:
    """The lessons that have exercises, in order ('01', '02', …)."""
    return sorted({ex.lesson for ex in EXERCISES.values()})


__all__ = ["EXERCISES", "KINDS", "AnswerForm", "Exercise", "Feedback", "Outcome", "check",
           "lessons", "list_exercises", "verdict"]
