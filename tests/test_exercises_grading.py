"""Grading a class with otter-grader: the autograder zip is otter's format, and a class's
submitted lesson notebooks (right, wrong, blank, broken) get the scores the checks give."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from medpriv_widgets.cli import main
from medpriv_widgets.exercises import EXERCISES
from medpriv_widgets.exercises.grading import PLUGIN, write_autograder
from medpriv_widgets.exercises.notebooks import ANSWER_TAG

REPO = Path(__file__).resolve().parent.parent
LESSON = REPO / "notebooks" / "02_differential_privacy_basics.ipynb"
IDS = [i for i in EXERCISES if i.startswith("02-")]


def _submission(path: Path, answers: dict[str, str]) -> Path:
    nb = nbformat.read(LESSON, as_version=4)
    for cell in nb.cells:
        if ANSWER_TAG in cell.metadata.get("tags", []):
            ex = EXERCISES[cell.metadata["medpriv"]["exercise"]]
            if ex.id in answers:
                cell.source = f"{ex.variable} = {answers[ex.id]}"
    nbformat.write(nb, path)
    return path


def test_autograder_is_otter_format(tmp_path):
    zip_path = write_autograder("02", tmp_path)
    assert zip_path.name == "02_autograder.zip"
    with zipfile.ZipFile(zip_path) as zf:
        config = json.loads(zf.read("otter_config.json"))
        assert config["plugins"] == [PLUGIN]
        tests = sorted(n for n in zf.namelist() if n.startswith("tests/"))
        assert tests == sorted(f"tests/{EXERCISES[i].variable}.py" for i in IDS)
        env: dict = {}
        exec(zf.read(tests[0]).decode(), env)   # what otter does with a test file
    assert env["OK_FORMAT"] is True and env["test"]["points"] == 1
    assert "verdict(" in env["test"]["suites"][0]["cases"][0]["code"]


@pytest.mark.slow
def test_a_class_is_graded_by_otter(tmp_path, capsys):
    pytest.importorskip("otter", reason="otter-grader is not installed (requirements-dev.txt)")
    right = _submission(tmp_path / "anna.ipynb", {"02-guarantee": "73", "02-accuracy": "'0.30'",
                                                  "02-budget": "3"})
    mixed = _submission(tmp_path / "ben.ipynb", {"02-guarantee": "95", "02-budget": "3"})
    blank = _submission(tmp_path / "cleo.ipynb", {})
    broken = tmp_path / "dan.ipynb"
    broken.write_text("this is not a notebook")
    csv_path = tmp_path / "grades.csv"
    code = main(["exercises", "grade", "--lesson", "02", str(right), str(mixed), str(blank),
                 str(broken), "--json", "--csv", str(csv_path)])
    assert code == 0
    rows = {r["submission"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["anna.ipynb"]["score"] == 3 and not rows["anna.ipynb"]["error"]
    assert rows["ben.ipynb"]["score"] == 1
    assert rows["ben.ipynb"]["02-budget"] == 1 and rows["ben.ipynb"]["02-guarantee"] == 0
    assert rows["cleo.ipynb"]["score"] == 0 and not rows["cleo.ipynb"]["error"]
    assert rows["dan.ipynb"]["score"] == 0 and "could not be graded" in rows["dan.ipynb"]["error"]
    assert all(r["possible"] == len(IDS) for r in rows.values())
    assert csv_path.read_text().splitlines()[0].startswith("submission,score,possible")


def test_grading_an_unknown_lesson_is_a_sentence(tmp_path, capsys):
    with pytest.raises(SystemExit):   # argparse refuses it, with the choices
        main(["exercises", "grade", "--lesson", "99", str(tmp_path / "x.ipynb")])
    assert "invalid choice" in capsys.readouterr().err
