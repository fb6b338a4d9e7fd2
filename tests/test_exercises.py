"""Exercises: every solution passes its check, every unanswered or wrong answer fails with a hint,
and no answer of any type ever makes a check raise. The checks recompute with the real code
(ledgers, accountants, attacks): nothing is mocked."""

from __future__ import annotations

import json
import math

import pytest

from medpriv_widgets.cli import main
from medpriv_widgets.exercises import EXERCISES, check, list_exercises, verdict
from medpriv_widgets.exercises.core import LESSON_NOTEBOOKS, Outcome, run_check

IDS = list(EXERCISES)
#: One wrong answer per exercise, of the right form: the check must refuse it.
WRONG = {"01-unique": 20, "01-k": 6, "02-guarantee": 95, "02-accuracy": 0.5, "02-budget": 4,
         "03-sigma": 0.9, "03-halve": 4.7, "04-bound": 2.0, "04-imprint": 10, "05-bound": 5,
         "05-ceiling": 3.0, "06-dropout": 3, "06-rounds": 5, "07-equal": "A", "07-rero": 2.3,
         "08-resolve": 1000}
#: Answers a learner may type that are of no usable form at all.
UNREADABLE = ["seven", "", [1, 2], {"answer": 3}, object(), float("nan"), math.inf, True,
              b"3", (3,)]


def test_at_least_twelve_exercises_with_one_in_every_lesson_from_02():
    assert len(EXERCISES) >= 12
    lessons = {ex.lesson for ex in EXERCISES.values()}
    assert {"02", "03", "04", "05", "06", "07", "08"} <= lessons
    assert {ex.kind for ex in EXERCISES.values()} == {"predict", "goal"}
    assert set(WRONG) == set(EXERCISES)
    for ex in EXERCISES.values():
        assert ex.notebook == LESSON_NOTEBOOKS[ex.lesson]
        assert ex.variable.isidentifier() and ex.variable.startswith("answer_")
        assert ex.hint and ex.question and ex.explanation


@pytest.mark.parametrize("exercise_id", IDS)
def test_solution_passes_its_check(exercise_id):
    ex = EXERCISES[exercise_id]
    feedback = check(exercise_id, ex.solution)
    assert feedback.status == "right", str(feedback)
    assert feedback.text.startswith("Right.") and not feedback.hint
    assert verdict(exercise_id, ex.solution) == "right"


@pytest.mark.parametrize("exercise_id", IDS)
def test_unanswered_exercise_fails_with_a_hint(exercise_id):
    feedback = check(exercise_id, None)
    assert feedback.status == "unanswered" and not feedback.correct
    assert EXERCISES[exercise_id].variable in feedback.text
    assert feedback.hint == EXERCISES[exercise_id].hint
    assert "Hint:" in str(feedback) and "Hint:" in feedback._repr_html_()


@pytest.mark.parametrize("exercise_id", IDS)
def test_wrong_answer_fails_with_why_not_and_a_hint(exercise_id):
    feedback = check(exercise_id, WRONG[exercise_id])
    assert feedback.status == "wrong", str(feedback)
    assert feedback.text.startswith("Not quite:") and feedback.hint
    assert verdict(exercise_id, WRONG[exercise_id]).startswith(f"Exercise {exercise_id}: Not quite")


@pytest.mark.parametrize("exercise_id", IDS)
def test_answers_of_the_wrong_type_get_a_sentence_never_a_traceback(exercise_id):
    form = EXERCISES[exercise_id].form
    for answer in UNREADABLE:
        feedback = check(exercise_id, answer)   # must not raise
        assert feedback.status == "unreadable", (answer, str(feedback))
        assert f"needs {form.expected}" in feedback.text and feedback.hint
        assert "Traceback" not in str(feedback) and "Error" not in str(feedback)


def test_numbers_typed_as_text_are_read_as_numbers():
    assert check("02-budget", " 3 ").correct
    assert check("02-guarantee", "73,1 %").correct        # a comma and a percent sign
    assert check("07-equal", " 'b' ").correct               # case and quotes do not matter
    assert check("02-budget", 3.0).correct                  # a whole number written as a float
    assert check("02-budget", 3.5).status == "unreadable"   # not a whole number
    assert check("01-unique", 140).status == "unreadable"   # a share above 100 %


def test_unknown_exercise_lists_the_exercises():
    for bad in ("02-nope", 2, None, ["02-budget"]):
        feedback = check(bad, 3)
        assert feedback.status == "unknown" and "02-budget" in feedback.text


def test_a_failing_recomputation_is_a_sentence():
    ex = EXERCISES["02-budget"]

    def broken(_answer):
        raise RuntimeError("the ledger folder is read-only")

    from dataclasses import replace

    feedback = run_check(replace(ex, judge=broken), 3)
    assert feedback.status == "failed"
    assert "could not finish: the ledger folder is read-only." in feedback.text
    ok = run_check(replace(ex, judge=lambda a: Outcome(True, "fine")), 3)
    assert ok.correct and str(ok) == "Exercise 02-budget: Right. fine"


def test_cli_lists_exercises_as_json(capsys):
    assert main(["exercises", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == IDS
    assert all({"id", "lesson", "title"} <= set(r) for r in rows)
    assert main(["exercises", "--lesson", "05", "--json"]) == 0
    assert {r["lesson"] for r in json.loads(capsys.readouterr().out)} == {"05"}
    assert list_exercises(lesson="06") == [EXERCISES[i].summary() for i in IDS if i.startswith("06")]


@pytest.mark.slow
def test_numbers_quoted_in_questions_are_what_the_accountant_says():
    # The questions quote σ values so that learners need no root search; they must be right.
    from medpriv_widgets.exercises import lesson03, lesson07
    from medpriv_widgets.privacy.accounting import dpsgd_epsilon, noise_multiplier_for_epsilon

    for eps, quoted in ((8.0, lesson03.SIGMA_EPS8), (1.0, lesson03.SIGMA_EPS1)):
        sigma = noise_multiplier_for_epsilon(target_epsilon=eps, sample_rate=lesson03.Q,
                                             steps=lesson03.STEPS, delta=lesson03.DELTA)
        assert quoted == pytest.approx(sigma, abs=2e-3)
    for _label, sigma, q, steps in lesson07.RUNS.values():
        assert dpsgd_epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps,
                             delta=1e-5) == pytest.approx(4.0, abs=0.05)
