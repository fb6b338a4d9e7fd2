"""Grading a class's submitted lesson notebooks with otter-grader (no server, no containers).

Why otter-grader and not nbgrader: nbgrader needs a server extension, a gradebook database and
an exchange folder — a poor fit for workshops and single-user Binder. otter-grader 7 grades a
notebook against an *autograder zip* (``otter_config.json`` + a ``tests/`` folder) in one call,
``otter run -a autograder.zip submission.ipynb``, and the same zip works on Gradescope. Its OK
test format is the standard we write: one test per exercise, whose doctest calls
:func:`medpriv_widgets.exercises.verdict` on the learner's answer variable and expects
``'right'`` (a failure shows the check's sentence and hint to the instructor).

Re-running a whole lesson to grade it would retrain models for minutes per learner, so the
autograder names a small otter plugin, :class:`AnswerCellsOnly`, that keeps only the answer
cells (``answer_… = …``) before otter executes the notebook: grading costs a kernel start and
the checks, seconds per learner.

Instructors::

    medpriv exercises autograder --out graders/            # one zip per lesson
    otter run -a graders/02_autograder.zip anna.ipynb      # the standard tool, one notebook
    medpriv exercises grade --lesson 02 submissions/*.ipynb --csv grades.csv   # a class
"""

from __future__ import annotations

import json
import os
import pprint
import re
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import InvalidParameterError
from ..paths import check_path
from . import EXERCISES
from .notebooks import ANSWER_TAG, _check_lesson

PLUGIN = "medpriv_widgets.exercises.grading.AnswerCellsOnly"
_ANSWER_LINE = re.compile(r"^\s*answer_\d\d_\w+\s*=", re.M)


def test_file(exercise_id: str) -> str:
    """An otter OK-format test (Python source) for one exercise: 1 point when the check says
    right."""
    ex = EXERCISES.get(exercise_id) if isinstance(exercise_id, str) else None
    if ex is None:
        raise InvalidParameterError(
            f"`exercise_id` must be one of the exercises ({', '.join(EXERCISES)}); got "
            f"{exercise_id!r:.60}. See `medpriv exercises list`.")
    code = (">>> from medpriv_widgets.exercises import verdict\n"
            f">>> verdict({ex.id!r}, {ex.variable})\n"
            "'right'")
    test = {"name": ex.variable, "points": 1, "suites": [{
        "cases": [{"code": code, "hidden": False, "locked": False}],
        "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}
    # otter reads the file with exec(): Python literals, and OK_FORMAT to say which format
    return "OK_FORMAT = True\n\ntest = " + pprint.pformat(test, indent=4, width=100) + "\n"


def write_autograder(lesson: str, path: str | Path) -> Path:
    """Write otter's autograder zip for ``lesson`` ('02') to ``path`` (a .zip file or a folder,
    where ``<lesson>_autograder.zip`` is made)."""
    lesson = _check_lesson(lesson)
    target = check_path("path", path, what="a .zip file or a folder")
    if target.suffix != ".zip":
        target = target / f"{lesson}_autograder.zip"
    config = {"lang": "python", "plugins": [PLUGIN], "print_summary": False, "logo": False}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("otter_config.json", json.dumps(config, indent=2))
            for ex in EXERCISES.values():
                if ex.lesson == lesson:
                    zf.writestr(f"tests/{ex.variable}.py", test_file(ex.id))
    except OSError as exc:  # unwritable, or a name longer than the file system allows
        raise InvalidParameterError(
            f"`path` cannot take the autograder: {str(target)[:200]} gives "
            f"'{exc.strerror or exc}'. Choose a writable folder with a shorter name.") from None
    return target


class AnswerCellsOnly:
    """otter plugin: before otter executes a submission, keep only its answer cells.

    A cell is kept when it carries the ``medpriv-exercise-answer`` tag (the lessons' answer
    cells) or assigns an ``answer_NN_…`` variable (an answer cell whose tag was lost in a copy).
    Duck-typed to otter's plugin interface (otter calls the methods it finds), so importing this
    module never imports otter.
    """

    def __init__(self, submission_path, submission_metadata, plugin_config) -> None:
        self.submission_path = submission_path
        self.submission_metadata = submission_metadata
        self.plugin_config = plugin_config

    @staticmethod
    def is_answer(cell) -> bool:
        if cell.get("cell_type") != "code":
            return False
        tags = cell.get("metadata", {}).get("tags", [])
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        return ANSWER_TAG in tags or bool(_ANSWER_LINE.search(source))

    def before_execution(self, submission):
        if isinstance(submission, str):  # a .py submission: graded as written
            return submission
        import nbformat

        out = nbformat.from_dict(submission)
        out.cells = [c for c in submission.cells if self.is_answer(c)]
        return out


def grade(submissions, *, lesson: str, autograder: str | Path | None = None) -> list[dict]:
    """Grade notebooks with otter-grader; one row per submission.

    Each row: ``submission`` (file name), ``score`` and ``possible`` (points, one per
    exercise), one column per exercise id (1 or 0), and ``error`` (a sentence when the notebook
    could not be graded at all, e.g. it is not a notebook). Needs otter-grader
    (requirements-dev.txt, or ``pip install otter-grader==7.0.0``).
    """
    lesson = _check_lesson(lesson)
    if isinstance(submissions, (str, bytes, os.PathLike)) or not isinstance(submissions, Iterable):
        raise InvalidParameterError(
            f"`submissions` must be a list of notebook files, e.g. [Path('anna.ipynb')]; got "
            f"{submissions!r:.60}. Put a single notebook in a list.")
    paths = [check_path("submissions", s, what="a notebook file") for s in submissions]
    if autograder is not None:
        autograder = check_path("autograder", autograder, what="an autograder .zip file")
    if not paths:
        raise InvalidParameterError("`submissions` must name at least one notebook; got none.")
    try:
        from otter.api import grade_submission
    except ImportError:
        raise InvalidParameterError(
            "Grading needs otter-grader: `pip install otter-grader==7.0.0` (it is in "
            "requirements-dev.txt).") from None
    ids = [ex.id for ex in EXERCISES.values() if ex.lesson == lesson]
    rows = []
    with tempfile.TemporaryDirectory(prefix="medpriv-grading-") as tmp:
        ag = Path(autograder) if autograder is not None else write_autograder(lesson, tmp)
        for path in paths:
            row = {"submission": path.name, "score": 0, "possible": len(ids),
                   **{i: 0 for i in ids}, "error": ""}
            try:
                present = path.is_file()
            except OSError:  # e.g. a name longer than the file system allows
                present = False
            if not present:
                row["error"] = f"{path} does not exist."
                rows.append(row)
                continue
            try:
                results = grade_submission(str(path), str(ag), quiet=True)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the class
                row["error"] = f"could not be graded ({type(exc).__name__}: {exc})."
                rows.append(row)
                continue
            if results.catastrophic_error is not None:
                row["error"] = f"could not be graded ({results.catastrophic_error})."
            for ex in EXERCISES.values():
                if ex.lesson == lesson and ex.variable in results.test_files:
                    row[ex.id] = results.get_score(ex.variable)
            row["score"] = sum(row[i] for i in ids)
            rows.append(row)
    return rows


__all__ = ["AnswerCellsOnly", "PLUGIN", "grade", "test_file", "write_autograder"]
