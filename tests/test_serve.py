"""`medpriv serve`: the dashboards are copies of the lessons without exercises, in a folder of
their own, served by Voila with the code hidden (the browser test drives one)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from medpriv_widgets.errors import DataError, InvalidParameterError
from medpriv_widgets.exercises.notebooks import CLASSROOM_TAG, TAG
from medpriv_widgets.serve import prepare, voila_command

REPO = Path(__file__).resolve().parent.parent


def test_dashboards_are_copies_without_exercises(tmp_path):
    before = {p.name: p.read_bytes() for p in (REPO / "notebooks").glob("*.ipynb")}
    copies = prepare(tmp_path / "dash")
    assert sorted(p.name for p in copies) == sorted(before)
    for path in copies:
        nb = nbformat.read(path, as_version=4)
        tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
        assert TAG not in tags, f"{path.name} still has exercise cells"
        assert not any("check(" in c.source for c in nb.cells if c.cell_type == "code")
    lesson02 = nbformat.read(tmp_path / "dash" / "02_differential_privacy_basics.ipynb", 4)
    assert any(CLASSROOM_TAG in c.metadata.get("tags", []) for c in lesson02.cells)
    # the repository's notebooks are untouched
    assert {p.name: p.read_bytes() for p in (REPO / "notebooks").glob("*.ipynb")} == before


def test_voila_command_hides_code_and_binds_where_asked(tmp_path):
    cmd = voila_command(tmp_path, port=9999, ip="0.0.0.0")
    assert "--strip_sources=True" in cmd and "--show_tracebacks=False" in cmd
    assert "--port=9999" in cmd and "--Voila.ip=0.0.0.0" in cmd and "--no-browser" in cmd
    with pytest.raises(InvalidParameterError, match="`port`"):
        voila_command(tmp_path, port=0)


def test_a_folder_without_lessons_is_a_sentence(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No lesson notebooks"):
        prepare(tmp_path / "out", source=tmp_path / "empty")
