"""The exercise cells at the end of every lesson and the instructors' solution notebooks are
exactly what the exercise definitions make (questions, answer variables and checks never drift
apart); learners' answer cells start as None; solutions are right; the dashboards leave the
exercises out and keep the classroom's budget lab."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from medpriv_widgets.exercises import EXERCISES, check, lessons
from medpriv_widgets.exercises.core import LESSON_NOTEBOOKS
from medpriv_widgets.exercises.grading import AnswerCellsOnly
from medpriv_widgets.exercises.notebooks import (ANSWER_TAG, CLASSROOM_TAG, TAG, solution_notebook,
                                                 solution_path, with_exercises, without_exercises)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
LESSONS = [lesson for lesson in lessons() if (NOTEBOOKS / LESSON_NOTEBOOKS[lesson]).is_file()]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _answers(nb) -> dict[str, str]:
    """{exercise id: source of its answer cell}."""
    return {c.metadata["medpriv"]["exercise"]: c.source for c in nb.cells
            if ANSWER_TAG in c.metadata.get("tags", [])}


def test_every_lesson_with_exercises_is_on_disk():
    assert set(LESSONS) == set(lessons()), "an exercise names a lesson notebook that is missing"


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_ends_with_its_current_exercises(lesson):
    path = NOTEBOOKS / LESSON_NOTEBOOKS[lesson]
    nb = _read(path)
    expected = with_exercises(nb, lesson)
    assert [c.source for c in nb.cells] == [c.source for c in expected.cells], (
        f"{path.name}: the exercise cells differ from the definitions; run "
        f"`python -m medpriv_widgets.exercises.notebooks notebooks`")
    # generated cells are the tail, after everything the lesson itself says
    tags = [bool(set(c.metadata.get("tags", [])) & {TAG, CLASSROOM_TAG}) for c in nb.cells]
    first = tags.index(True)
    assert all(tags[first:]) and not any(tags[:first])
    answers = _answers(nb)
    assert set(answers) == {i for i, ex in EXERCISES.items() if ex.lesson == lesson}
    for exercise_id, source in answers.items():
        assert source.startswith(f"{EXERCISES[exercise_id].variable} = None")
        assert f'check("{exercise_id}", {EXERCISES[exercise_id].variable})' in "".join(
            c.source for c in nb.cells)


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_notebook_is_current_and_its_answers_are_right(lesson):
    lesson_nb = _read(NOTEBOOKS / LESSON_NOTEBOOKS[lesson])
    path = solution_path(NOTEBOOKS, lesson)
    assert path.is_file(), f"missing {path}"
    expected = nbformat.writes(solution_notebook(lesson, metadata=dict(lesson_nb.metadata))) + "\n"
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path.name} is out of date; run `python -m medpriv_widgets.exercises.notebooks notebooks`")
    for exercise_id, source in _answers(_read(path)).items():
        value = ast.literal_eval(source.split("=", 1)[1].split("#", 1)[0].strip())
        assert check(exercise_id, value).correct


def test_the_grader_finds_every_answer_cell_and_nothing_else():
    plugin = AnswerCellsOnly("submission.ipynb", {}, {})
    for lesson in LESSONS:
        nb = _read(NOTEBOOKS / LESSON_NOTEBOOKS[lesson])
        kept = plugin.before_execution(nb)
        assert len(kept.cells) == sum(ex.lesson == lesson for ex in EXERCISES.values())
        assert all(c.source.startswith("answer_") for c in kept.cells)
    # an answer cell that lost its tag (copied by hand) is still found
    loose = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                            nbformat.v4.new_code_cell("answer_02_budget = 3")])
    assert [c.source for c in plugin.before_execution(loose).cells] == ["answer_02_budget = 3"]


def test_dashboards_leave_out_exercises_but_keep_the_classroom_lab():
    nb = _read(NOTEBOOKS / LESSON_NOTEBOOKS["02"])
    bare = without_exercises(nb)
    assert not any(TAG in c.metadata.get("tags", []) for c in bare.cells)
    assert any(CLASSROOM_TAG in c.metadata.get("tags", []) for c in bare.cells)
    assert len(bare.cells) < len(nb.cells)
