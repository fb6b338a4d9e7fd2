"""`medpriv doctor`: one table that says whether data, caches, device, memory and disk (and the
classroom's budget, when one is set up) are ready; exit status 0 only when they are."""

from __future__ import annotations

import json

import pytest

from medpriv_widgets.cli import main
from medpriv_widgets.doctor import NOT_READY, NOTE, READY, as_table, diagnose

NAMES = ["data", "caches", "device", "memory", "disk"]


def _row(rows, name):
    return next(r for r in rows if r.name == name)


def test_empty_machine_is_not_ready_and_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDPRIV_DATA_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.delenv("MEDPRIV_CLASSROOM_LEDGER", raising=False)
    rows = diagnose(profile="fast")
    assert [r.name for r in rows] == NAMES
    data, caches = _row(rows, "data"), _row(rows, "caches")
    assert data.status == NOT_READY and "medpriv data fetch --size 28 64" in data.todo
    assert caches.status == NOT_READY and "0 of " in caches.found
    assert "medpriv precompute --profile fast" in caches.todo
    assert _row(rows, "device").status == READY
    table = as_table(rows)
    assert table.splitlines()[0].split() == ["check", "status", "found"]
    assert "Not ready yet" in table and "To do:" in table
    # the command: one JSON object, exit status 1 while not ready
    assert main(["doctor", "--profile", "fast", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ready"] is False
    assert [c["name"] for c in report["checks"]] == NAMES


def test_memory_for_more_seats_than_fit_is_not_ready():
    rows = diagnose(profile="fast", seats=10_000)
    memory = _row(rows, "memory")
    assert memory.status == NOT_READY and "10000 seats need about" in memory.found
    assert "fits about" in memory.todo
    assert _row(diagnose(profile="fast", seats=1), "memory").status == READY


def test_bad_arguments_get_a_sentence(capsys):
    assert main(["doctor", "--seats", "0"]) == 2
    assert "`seats` must be" in capsys.readouterr().err


def test_classroom_budget_row(tmp_path, monkeypatch):
    from medpriv_widgets.classroom import classroom_ledger

    path = tmp_path / "classroom" / "budget.sqlite"
    monkeypatch.setenv("MEDPRIV_CLASSROOM_LEDGER", str(path))
    row = _row(diagnose(profile="fast"), "classroom budget")
    assert row.status == NOTE and "not created yet" in row.found
    ledger = classroom_ledger(epsilon=1.0)
    ledger.spend(0.25, note="a question")
    row = _row(diagnose(profile="fast"), "classroom budget")
    assert row.status == READY and "ε = 0.75 of 1 left" in row.found
    ledger.spend(0.75, note="the last question")
    row = _row(diagnose(profile="fast"), "classroom budget")
    assert row.status == NOTE and "LOCKED" in row.found and "reset" in row.todo
    path.write_bytes(b"not a ledger")
    row = _row(diagnose(profile="fast"), "classroom budget")
    assert row.status == NOT_READY and row.todo


@pytest.mark.slow
def test_prepared_machine_is_ready(shared_data, fast_cache, monkeypatch, capsys):
    monkeypatch.delenv("MEDPRIV_CLASSROOM_LEDGER", raising=False)
    rows = diagnose(profile="fast")
    assert all(r.status == READY for r in rows), as_table(rows)
    assert main(["doctor", "--profile", "fast"]) == 0
    assert "Ready for the workshop." in capsys.readouterr().out
