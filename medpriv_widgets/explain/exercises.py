"""The words an exercise check answers with: right, why not, a hint — never a traceback.

Pure functions of what the check computed. The exercises themselves (questions and the
recomputation behind each verdict) live in :mod:`medpriv_widgets.exercises`.
"""

from __future__ import annotations

import math

__all__ = ["describe_value", "exercise_feedback_text", "not_answered_text",
           "unknown_exercise_text", "unreadable_answer_text", "check_failed_text"]


def describe_value(value) -> str:
    """What a learner wrote, in words ('the text "seven"', 'a list of 2 values', 'True')."""
    if value is None:
        return "None (nothing yet)"
    if isinstance(value, bool):
        return f"{value} (a yes/no value)"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'the text "{shown}"' if value.strip() else "an empty text"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{value} (not a usable number)"
        return f"the number {value!r}"
    if isinstance(value, (list, tuple, set, dict)):
        kind = type(value).__name__
        return f"a {kind} of {len(value)} value{'s' if len(value) != 1 else ''}"
    return f"a {type(value).__name__}"


def not_answered_text(variable: str) -> str:
    return (f"Not answered yet. Replace None in `{variable} = None` with your answer, run that "
            f"cell, then run this one again.")


def unreadable_answer_text(*, expected: str, example: str, got) -> str:
    return (f"This exercise needs {expected}, for example {example}; your answer is "
            f"{describe_value(got)}. Change it and run both cells again.")


def unknown_exercise_text(exercise_id, known: list[str]) -> str:
    return (f"There is no exercise called {exercise_id!r}. The exercises are: "
            f"{', '.join(known)}.")


def check_failed_text(reason: str) -> str:
    return (f"The check could not finish: {reason} Your answer was not judged; try again, or "
            f"ask your instructor.")


def exercise_feedback_text(*, correct: bool, reveal: str, why_not: str = "") -> str:
    """'Right. <what the recomputation found>' or 'Not quite: <why>. <what it found>'."""
    if correct:
        return f"Right. {reveal}".strip()
    return f"Not quite: {why_not} {reveal}".strip()
