"""`make lab` opens copies of the lessons in a folder of the user's, so a workshop (Run All,
autosave with outputs, edits) leaves the checkout as it was: `git status` stays clean."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _make(*args: str) -> subprocess.CompletedProcess:
    make = shutil.which("make")
    if make is None:
        pytest.skip("`make` is not installed here; the Makefile's lessons target needs it.")
    return subprocess.run([make, "-s", "-C", str(REPO), *args], capture_output=True, text=True,
                          timeout=120, check=True)


def test_lab_opens_its_own_copies_of_the_lessons():
    dry = _make("-n", "lab", "LESSONS_DIR=/somewhere/else").stdout
    assert '--notebook-dir="/somewhere/else"' in dry and "00_start_here.ipynb" in dry
    assert f"--notebook-dir={REPO}" not in dry and "notebooks/00_start_here" not in dry


def _git_status(path: Path) -> str:
    return subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", str(path)],
                          capture_output=True, text=True, check=True).stdout


def test_a_workshop_in_the_copies_leaves_the_checkout_unchanged(tmp_path, monkeypatch):
    # Only the lesson run here is compared: other work may edit other notebooks meanwhile.
    original = REPO / "notebooks" / "00_start_here.ipynb"
    before, status_before = _digests(original.parent)[original.name], _git_status(original)
    lessons = tmp_path / "my lessons"
    out = _make("lessons", f"LESSONS_DIR={lessons}").stdout
    copies = sorted(p.name for p in lessons.glob("*.ipynb"))
    assert copies == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert out.count("new lesson:") == len(copies)

    # A learner runs lesson 00 there; JupyterLab's autosave writes the outputs into the copy.
    from nbclient import NotebookClient

    copy = lessons / "00_start_here.ipynb"
    nb = nbformat.read(copy, as_version=4)
    monkeypatch.setenv("MEDPRIV_FAST", "1")  # what the kernel inherits
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(lessons)}}).execute()
    nbformat.write(nb, copy)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")

    # Running `make lab` again keeps the learner's copy (with its outputs) as it is.
    saved = copy.read_bytes()
    again = _make("lessons", f"LESSONS_DIR={lessons}").stdout
    assert f"kept your copy: {copy}" in again and copy.read_bytes() == saved

    # The repository's lesson did not change, and git sees nothing new there.
    assert _digests(original.parent)[original.name] == before
    assert _git_status(original) == status_before
    assert _git_status(REPO / "notebooks" / ".ipynb_checkpoints") == ""
