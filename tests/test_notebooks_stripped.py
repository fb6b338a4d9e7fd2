"""Every committed lesson notebook is stripped of outputs and has the lesson frame.

Outputs in a committed notebook go stale, bloat the repository and can carry data (an X-ray
rendered as PNG is a copy of the data). The frame (title, "Learning objectives", "Key points",
and a first code cell that installs the package on Colab) is what every lesson promises.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (REPO / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
IDS = [str(p.relative_to(REPO)) for p in NOTEBOOKS]
HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.M)


def _headings(nb) -> list[str]:
    out = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            out += [m.group(1).strip() for m in HEADING.finditer(cell.source)]
    return out


def test_start_here_notebook_exists():
    assert (REPO / "notebooks" / "00_start_here.ipynb").is_file()


@pytest.fixture(params=NOTEBOOKS, ids=IDS)
def notebook(request):
    nb = nbformat.read(request.param, as_version=4)
    nbformat.validate(nb)  # raises on a malformed notebook
    return request.param, nb


def test_no_outputs_committed(notebook):
    path, nb = notebook
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; "
                       "strip them before committing (e.g. `jupyter nbconvert --clear-output "
                       "--inplace`).")
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in metadata; strip it"


def test_lesson_frame(notebook):
    path, nb = notebook
    assert nb.cells and nb.cells[0].cell_type == "markdown", f"{path.name}: start with a title cell"
    assert re.match(r"^#\s+\S", nb.cells[0].source.lstrip()), (
        f"{path.name}: the first cell must open with a level-1 title ('# ...')")
    headings = [h.lower() for h in _headings(nb)]
    for wanted in ("learning objectives", "what you just saw", "key points"):
        assert any(h.startswith(wanted) for h in headings), (
            f"{path.name}: missing a '{wanted.capitalize()}' heading; found {headings}")
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec must be python3")


def test_first_code_cell_installs_package_on_colab(notebook):
    path, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name}: no code cells"
    first = code[0].source
    assert "import medpriv_widgets" in first and "%pip install" in first, (
        f"{path.name}: the first code cell must be the Colab set-up cell (try: import "
        "medpriv_widgets / except ImportError: %pip install ...)")
