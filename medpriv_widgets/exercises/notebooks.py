"""The exercise cells at the end of each lesson, and the instructors' solution notebooks, made
from the exercise definitions so that questions, answer variables and checks never drift apart.

Every generated cell carries the tag ``medpriv-exercises`` (answer cells also
``medpriv-exercise-answer``, which the grader keeps) and a fixed cell id, so regenerating an
unchanged lesson changes nothing and ``git diff`` shows only real edits. Maintainers run::

    python -m medpriv_widgets.exercises.notebooks notebooks      # lessons + notebooks/solutions

A test (tests/test_exercises_notebooks.py) fails when a committed notebook differs from what
this module makes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ..errors import InvalidParameterError
from ..paths import check_path
from . import EXERCISES, lessons
from .core import KINDS, LESSON_NOTEBOOKS, Exercise

TAG = "medpriv-exercises"
ANSWER_TAG = "medpriv-exercise-answer"
#: Generated cells that are a lab, not an exercise: kept in the code-free dashboards.
CLASSROOM_TAG = "medpriv-classroom"
SOLUTIONS_FOLDER = "solutions"

#: Lesson 02's classroom budget: a lab on the ledger a workshop hub shares (medpriv_widgets.classroom).
CLASSROOM_INTRO = """## The classroom's budget

In a workshop the whole class can share **one** privacy budget, as the researchers of one
hospital share one dataset's budget. The lab below spends from it when your instructor has set
one up (on the workshop's JupyterHub, every learner's server is told where it is); otherwise it
is a second budget of your own. Ask a question and watch the bar: in a shared budget it also
moves when others ask. When it is spent, the dataset is locked for everyone, and only the
instructor can give it back."""

CLASSROOM_CODE = """from medpriv_widgets.classroom import classroom_ledger, classroom_note

shared = classroom_ledger(epsilon=5.0, delta=1e-5)   # None unless MEDPRIV_CLASSROOM_LEDGER is set
print(classroom_note(shared))
classroom = BudgetLab(ledger=shared, epsilon=5.0, delta=1e-5, query_epsilon=0.05, labels=labels,
                      seed=0)
classroom"""

INTRO = """## Exercises

Two kinds of exercise: **predict, then reveal** — write down what you expect *before* you look,
then let the check compute the truth — and **change one setting to reach a goal** — try settings
in the labs above, then give the one that reaches the goal.

Write your answer in place of `None` (a number or a word, not code), run that cell, then run the
check under it. The check recomputes what your answer leads to and answers in words: right, or
why not, with a hint. Change your answer and check again as often as you like."""

COLAB = """# Set-up: on Colab this installs medpriv; elsewhere it does nothing.
try:
    import medpriv_widgets
except ImportError:
    %pip install -q "git+https://github.com/medpriv/medpriv.git\""""


def _cell(kind: str, source: str, cell_id: str, *, answer_of: str | None = None,
          tag: str = TAG) -> NotebookNode:
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source)
    cell.id = cell_id
    cell.metadata = {"tags": [tag, ANSWER_TAG] if answer_of else [tag]}
    if answer_of:
        cell.metadata["medpriv"] = {"exercise": answer_of}
    return cell


def _check_lesson(lesson) -> str:
    """``lesson`` when it is a lesson with exercises ('02'), else InvalidParameterError."""
    known = lessons()
    if not isinstance(lesson, str) or lesson not in known:
        raise InvalidParameterError(f"`lesson` must be one of {', '.join(known)} (the lessons with "
                                    f"exercises); got {lesson!r:.60}.")
    return lesson


def _form_comment(ex: Exercise) -> str:
    return f"your answer: {ex.form.expected}"


def _exercise_cells(ex: Exercise, *, solved: bool) -> list[NotebookNode]:
    base = f"ex-{ex.id}"
    answer = repr(ex.solution) if solved else "None"
    cells = [
        _cell("markdown", f"### Exercise {ex.id} · {ex.title}\n\n*{KINDS[ex.kind]}.* "
                          f"{ex.question}", f"{base}-question"),
        _cell("code", f"{ex.variable} = {answer}   # {_form_comment(ex)}", f"{base}-answer",
              answer_of=ex.id),
        _cell("code", f'check("{ex.id}", {ex.variable})', f"{base}-check"),
    ]
    if solved:
        cells.append(_cell("markdown", f"**Why:** {ex.explanation}", f"{base}-why"))
    return cells


def exercise_cells(lesson: str, *, solved: bool = False) -> list[NotebookNode]:
    """The cells appended to lesson ``lesson`` ('02'): the intro, the import and, per exercise,
    the question, the answer cell (``None``, or the solution when ``solved``) and the check."""
    lesson = _check_lesson(lesson)
    chosen = [ex for ex in EXERCISES.values() if ex.lesson == lesson]
    cells = [_cell("markdown", INTRO, f"ex-{lesson}-intro"),
             _cell("code", "from medpriv_widgets.exercises import check", f"ex-{lesson}-import")]
    for ex in chosen:
        cells += _exercise_cells(ex, solved=solved)
    return cells


def extra_cells(lesson: str) -> list[NotebookNode]:
    """Generated cells before a lesson's exercises that are labs (lesson 02's classroom budget)."""
    if lesson != "02":
        return []
    return [_cell("markdown", CLASSROOM_INTRO, "classroom-intro", tag=CLASSROOM_TAG),
            _cell("code", CLASSROOM_CODE, "classroom-lab", tag=CLASSROOM_TAG)]


def is_generated(cell) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return TAG in tags or CLASSROOM_TAG in tags


def with_exercises(nb: NotebookNode, lesson: str) -> NotebookNode:
    """``nb`` without any earlier generated cells, with the current ones at its end."""
    out = nbformat.from_dict(nb)
    out.cells = [c for c in nb.cells if not is_generated(c)] + extra_cells(lesson) + \
        exercise_cells(lesson)
    return out


def without_exercises(nb: NotebookNode) -> NotebookNode:
    """``nb`` without its exercise cells (the code-free dashboards: no code to edit there)."""
    out = nbformat.from_dict(nb)
    out.cells = [c for c in nb.cells if TAG not in c.get("metadata", {}).get("tags", [])]
    return out


def _title(lesson: str) -> str:
    name = LESSON_NOTEBOOKS[lesson].removesuffix(".ipynb").split("_", 1)[1]
    return name.replace("_", " ").capitalize()


def solution_notebook(lesson: str, *, metadata: dict | None = None) -> NotebookNode:
    """The instructors' notebook of lesson ``lesson``: every exercise answered and checked, with
    the reason; it runs on its own (no lesson cells needed)."""
    lesson = _check_lesson(lesson)
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidParameterError(f"`metadata` must be a dict (a notebook's metadata) or None; "
                                    f"got {type(metadata).__name__}.")
    ids = ", ".join(ex.id for ex in EXERCISES.values() if ex.lesson == lesson)
    head = [
        _cell("markdown", f"# Solutions · {lesson} {_title(lesson)}\n\n*For instructors.* The "
                          f"exercises at the end of `{LESSON_NOTEBOOKS[lesson]}` ({ids}), each "
                          f"answered and checked by the same call the learners run.",
              f"sol-{lesson}-title"),
        _cell("markdown", "## Learning objectives\n\nThe exercises practise the lesson's "
                          "objectives; this notebook shows a right answer to each, why it is "
                          "right, and that the check accepts it.", f"sol-{lesson}-objectives"),
        _cell("code", COLAB, f"sol-{lesson}-colab"),
    ]
    body = exercise_cells(lesson, solved=True)[1:]   # no learner intro
    tail = [
        _cell("markdown", "## What you just saw\n\nEvery check above says *Right*: the checks "
                          "recompute what each answer leads to, so they accept these answers "
                          "and refuse wrong ones with a reason and a hint.",
              f"sol-{lesson}-saw"),
        _cell("markdown", "## Key points\n\n- Ask learners to write their prediction down "
                          "before they run a check: the surprise is the lesson.\n- A goal "
                          "exercise has one right answer at the precision asked; the check says "
                          "whether a wrong one overshoots or undershoots.\n- Grade a class's "
                          "notebooks with `medpriv exercises grade` (otter-grader).",
              f"sol-{lesson}-key"),
    ]
    nb = nbformat.v4.new_notebook(cells=head + body + tail)
    nb.metadata = dict(metadata or {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                                   "language": "python", "name": "python3"},
                                    "language_info": {"name": "python"}})
    return nb


def _write_if_changed(nb: NotebookNode, path: Path) -> bool:
    text = nbformat.writes(nb) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def solution_path(notebooks: Path, lesson: str) -> Path:
    """Where :func:`update` writes the solution notebook of ``lesson`` under ``notebooks``."""
    notebooks = check_path("notebooks", notebooks, what="the lessons' folder")
    lesson = _check_lesson(lesson)
    return notebooks / SOLUTIONS_FOLDER / LESSON_NOTEBOOKS[lesson].replace(
        ".ipynb", "_solutions.ipynb")


def update(notebooks: str | Path, *, lessons_only: list[str] | None = None) -> list[Path]:
    """Append the current exercises to every lesson in ``notebooks`` that has them, and write
    the solution notebooks to ``notebooks/solutions``; returns the files that changed."""
    folder = check_path("notebooks", notebooks, what="the lessons' folder")
    if lessons_only is not None and (isinstance(lessons_only, (str, bytes))
                                     or not isinstance(lessons_only, Iterable)):
        raise InvalidParameterError(f"`lessons_only` must be a list of lessons such as ['02'], or "
                                    f"None for all; got {lessons_only!r:.60}.")
    chosen = [_check_lesson(lesson) for lesson in lessons_only or lessons()]
    try:
        is_folder = folder.is_dir()
    except OSError:  # e.g. a name longer than the file system allows
        is_folder = False
    if not is_folder:
        raise InvalidParameterError(f"`notebooks` must be the folder that holds the lessons; "
                                    f"{str(folder)[:200]} is not a folder. Pass e.g. 'notebooks'.")
    changed = []
    for lesson in chosen:
        path = folder / LESSON_NOTEBOOKS[lesson]
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        if _write_if_changed(with_exercises(nb, lesson), path):
            changed.append(path)
        sol = solution_path(folder, lesson)
        if _write_if_changed(solution_notebook(lesson, metadata=dict(nb.metadata)), sol):
            changed.append(sol)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path("notebooks")
    for path in update(folder, lessons_only=args[1:] or None):
        print(f"updated {path}")
    return 0


__all__ = ["ANSWER_TAG", "CLASSROOM_TAG", "TAG", "exercise_cells", "extra_cells", "is_generated",
           "solution_notebook", "solution_path", "update", "with_exercises", "without_exercises"]

if __name__ == "__main__":
    sys.exit(main())
