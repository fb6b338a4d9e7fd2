"""The leaderboard in SQLite: one file, WAL, atomic records, concurrent writers from separate
processes (as two notebook kernels) lose nothing, the same rows give the same board."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from medpriv_widgets.arena.cells import CellResult, failed_cell
from medpriv_widgets.arena.leaderboard import Leaderboard
from medpriv_widgets.errors import DataError, InvalidParameterError


def _row(defence: str, attack: str = "loss", **numbers) -> CellResult:
    base = dict(scenario="s", defence=defence, attack=attack, kind="membership",
                utility_auc=0.9, mia_auc=0.6, tpr_at_1pct=0.05, tpr_at_1pct_low=0.02,
                tpr_at_1pct_high=0.09, resolved_1pct=True, n_members=100, n_nonmembers=100,
                epsilon_audited=0.3, seconds_defence=1.0, seconds_attack=0.5)
    base.update(numbers)
    return CellResult(**base)


def test_rows_round_trip_with_nan_inf_and_booleans(tmp_path):
    lb = Leaderboard(tmp_path / "lb.sqlite")
    rows = [_row("none"), _row("dp", epsilon_claimed=8.0, resolved_0_1pct=False),
            failed_cell(scenario="s", defence="mine #1", attack="loss", kind="membership",
                        reason="It returned NaN.")]
    assert lb.record(rows) == 3 and len(lb) == 3
    back = {r.defence: r for r in lb.results()}
    same = lambda a, b: all(x == y or (x != x and y != y)  # NaN equals NaN here
                            for x, y in zip(a.as_dict().values(), b.as_dict().values()))
    assert all(same(back[r.defence], r) for r in rows)
    assert math.isinf(back["none"].epsilon_claimed) and back["dp"].epsilon_claimed == 8.0
    assert math.isnan(back["none"].psnr_db) and back["none"].resolved_1pct is True
    assert back["mine #1"].status == "failed" and back["mine #1"].reason == "It returned NaN."
    con = sqlite3.connect(tmp_path / "lb.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_the_same_rows_give_the_same_board_and_keep_first_seen(tmp_path):
    lb = Leaderboard(tmp_path / "lb.sqlite")
    lb.record([_row("a"), _row("b")], entry="defence", submitter="ann", fingerprint="f00")
    before = lb.rows()
    time.sleep(1.1)
    lb.record([_row("a"), _row("b")], entry="defence", submitter="ann", fingerprint="f00")
    after = lb.rows()
    assert [r.comparable() for r in before] == [r.comparable() for r in after]
    assert [r.first_seen for r in before] == [r.first_seen for r in after]
    lb.record([_row("a", mia_auc=0.7)])
    assert {r.result.defence: r.result.mia_auc for r in lb.rows()} == {"a": 0.7, "b": 0.6}


def test_bad_input_writes_nothing(tmp_path):
    lb = Leaderboard(tmp_path / "lb.sqlite")
    with pytest.raises(InvalidParameterError, match="CellResult"):
        lb.record([_row("a"), {"defence": "b"}])
    with pytest.raises(InvalidParameterError, match="entry"):
        lb.record([_row("a")], entry="mine")
    assert len(lb) == 0
    with pytest.raises(InvalidParameterError, match="folder"):
        Leaderboard(tmp_path)


def test_a_damaged_file_is_named_with_what_to_do(tmp_path):
    path = tmp_path / "lb.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataError, match="Delete it"):
        Leaderboard(path)


WRITER = textwrap.dedent("""
    import sys
    from medpriv_widgets.arena.cells import CellResult
    from medpriv_widgets.arena.leaderboard import Leaderboard
    lb = Leaderboard(sys.argv[1])
    who, n = sys.argv[2], int(sys.argv[3])
    for i in range(n):
        lb.record([CellResult(scenario="s", defence=f"{who}-{i}", attack=a, kind="membership",
                              mia_auc=i / n) for a in ("loss", "lira_online")],
                  entry="defence", submitter=who, fingerprint=f"{who}{i}")
        lb.rows()  # readers in between must not block the other writer
    print("done")
""")


def test_two_kernels_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "lb.sqlite"
    Leaderboard(path)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    n = 60
    procs = [subprocess.Popen([sys.executable, str(script), str(path), who, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("kernel-a", "kernel-b")]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and "done" in out, err
    rows = Leaderboard(path).rows()
    assert len(rows) == 2 * n * 2
    for who in ("kernel-a", "kernel-b"):
        mine = [r for r in rows if r.submitter == who]
        assert len(mine) == 2 * n
        assert {r.result.defence for r in mine} == {f"{who}-{i}" for i in range(n)}


KILLED = textwrap.dedent("""
    import contextlib, sys, time
    from medpriv_widgets.arena.cells import CellResult
    from medpriv_widgets.arena import leaderboard as L

    plain = L.Leaderboard._transaction

    @contextlib.contextmanager
    def stalls_before_commit(self, *, write):
        with plain(self, write=write) as con:
            yield con
            if write and getattr(self, "armed", False):
                print("inside", con.in_transaction, flush=True)  # rows written, not committed
                time.sleep(600)

    L.Leaderboard._transaction = stalls_before_commit
    lb = L.Leaderboard(sys.argv[1])
    lb.armed = True
    lb.record([CellResult(scenario="s", defence=f"lost-{i}", attack="loss", kind="membership")
               for i in range(50)])
""")


def test_a_writer_killed_mid_transaction_leaves_the_board_as_it_was(tmp_path):
    path = tmp_path / "lb.sqlite"
    Leaderboard(path).record([_row("kept")])
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "inside True"  # 50 rows inserted, no COMMIT yet
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    rows = Leaderboard(path).rows()
    assert [r.result.defence for r in rows] == ["kept"]
