"""The leaderboard: every scored cell and submission, in one SQLite file.

One row per (scenario, defence, attack): the :class:`~.cells.CellResult` and where it came from
(``entry``: 'builtin', 'defence' or 'attack' submission; ``submitter``; the submission's
``fingerprint``; ``first_seen``, set when the row first appears and kept afterwards).

Why SQLite, and how it stays whole. Two notebook kernels (or a class of them on one
JupyterHub) may submit at the same time. The file uses SQLite's write-ahead log; every
:meth:`Leaderboard.record` is one ``BEGIN IMMEDIATE`` transaction (all its rows or none; a
killed process leaves the previous state), writers wait for each other (busy timeout) instead
of failing, and readers never block writers. Recording the same rows again replaces them with
identical values: the same submission gives the same row.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import DataError, InvalidParameterError
from ..paths import check_path, results_dir
from .cells import CellResult

#: Seconds a writer waits for another writer before giving up.
BUSY_TIMEOUT_S = 60.0
ENTRIES = ("builtin", "defence", "attack")
_SCHEMA_VERSION = 1

_FLOAT = {f.name for f in fields(CellResult) if f.type in ("float", float)}
_BOOL = {f.name for f in fields(CellResult) if f.type in ("bool", bool)}
_INT = {f.name for f in fields(CellResult) if f.type in ("int", int)}
_COLUMNS = CellResult.field_names()


def _sql_type(name: str) -> str:
    return "REAL" if name in _FLOAT else "INTEGER" if name in _BOOL | _INT else "TEXT"


@dataclass(frozen=True)
class LeaderboardRow:
    """One row: the cell's result and its provenance."""

    result: CellResult
    entry: str
    submitter: str
    fingerprint: str
    first_seen: str

    def comparable(self) -> tuple:
        """Everything but ``first_seen`` (NaN compared as equal), to test reproducibility."""
        values = tuple("nan" if isinstance(v, float) and math.isnan(v) else v
                       for v in self.result.as_dict().values())
        return values + (self.entry, self.submitter, self.fingerprint)


def default_leaderboard_path() -> Path:
    """``<results cache>/arena/leaderboard.sqlite`` (entry points only)."""
    return results_dir() / "arena" / "leaderboard.sqlite"


class Leaderboard:
    """The leaderboard in the SQLite file ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_path("path", path, what="a file")
        try:
            is_dir = self.path.is_dir()
        except OSError as exc:  # e.g. a name longer than the file system allows
            raise InvalidParameterError(f"`path` must be a file name the file system accepts; "
                                        f"{str(self.path)[:100]!r} is not "
                                        f"({exc.strerror or exc}). Choose a shorter path.") \
                from None
        if is_dir:
            raise InvalidParameterError(f"`path` must be a file, not the folder {self.path}; "
                                        f"use e.g. {self.path / 'leaderboard.sqlite'}.")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"Cannot create the leaderboard's folder {self.path.parent} "
                            f"({exc.strerror or exc}). Choose a folder you may write to.") from None
        with self._transaction(write=True) as con:
            cols = ", ".join(f"{c} {_sql_type(c)}" for c in _COLUMNS)
            con.execute(f"CREATE TABLE IF NOT EXISTS rows ({cols}, entry TEXT NOT NULL, "
                        "submitter TEXT NOT NULL, fingerprint TEXT NOT NULL, "
                        "first_seen TEXT NOT NULL, PRIMARY KEY (scenario, defence, attack))")
            con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(_SCHEMA_VERSION),))
            have = {r[1] for r in con.execute("PRAGMA table_info(rows)")}
            missing = [c for c in _COLUMNS if c not in have]
            if missing:
                raise DataError(f"The leaderboard {self.path} was written by another version "
                                f"(columns {missing} missing). Use a new file, or delete it.")

    def __repr__(self) -> str:
        return f"Leaderboard({str(self.path)!r})"

    # ------------------------------------------------------------------ sqlite
    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            con.execute("PRAGMA synchronous=FULL")
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise DataError(f"The leaderboard {self.path} cannot be opened as a database "
                            f"({exc}). Delete it (a new one is made) or choose another file.") \
                from None
        if str(mode).lower() != "wal":
            con.close()
            raise DataError(f"SQLite cannot keep a write-ahead log for {self.path} ({mode}); "
                            f"put the leaderboard on a local disk.")
        return con

    @contextlib.contextmanager
    def _transaction(self, *, write: bool):
        con = self._connect()
        try:
            try:
                con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:
                raise DataError(f"The leaderboard {self.path} stayed busy for "
                                f"{BUSY_TIMEOUT_S:.0f} s ({exc}); try again.") from None
            try:
                yield con
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise DataError(f"The leaderboard {self.path} could not be used ({exc}).") from None
        finally:
            con.close()

    # ------------------------------------------------------------------ writing
    def record(self, results: Iterable[CellResult], *, entry: str = "builtin",
               submitter: str = "medpriv", fingerprint: str = "") -> int:
        """Write ``results`` in one transaction (each replaces the row of its scenario,
        defence and attack, keeping that row's ``first_seen``); returns how many."""
        if entry not in ENTRIES:
            raise InvalidParameterError(f"`entry` must be one of {ENTRIES}; got {entry!r}.")
        for name, value in (("submitter", submitter), ("fingerprint", fingerprint)):
            if not isinstance(value, str):
                raise InvalidParameterError(f"`{name}` must be a string; got {value!r}.")
        rows = list(results)
        for r in rows:
            if not isinstance(r, CellResult):
                raise InvalidParameterError(
                    f"`results` must hold CellResult objects; got {type(r).__name__}.")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        names = list(_COLUMNS) + ["entry", "submitter", "fingerprint", "first_seen"]
        update = ", ".join(f"{c}=excluded.{c}" for c in names if c != "first_seen")
        sql = (f"INSERT INTO rows ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
               f"ON CONFLICT (scenario, defence, attack) DO UPDATE SET {update}")
        with self._transaction(write=True) as con:
            for r in rows:
                values = [getattr(r, c) for c in _COLUMNS]
                con.execute(sql, values + [entry, submitter, fingerprint, now])
        return len(rows)

    # ------------------------------------------------------------------ reading
    def rows(self, *, scenario: str | None = None) -> list[LeaderboardRow]:
        """All rows (of ``scenario`` when given), ordered by scenario, defence, attack."""
        where, args = ("WHERE scenario = ?", (scenario,)) if scenario is not None else ("", ())
        with self._transaction(write=False) as con:
            cur = con.execute(f"SELECT {', '.join(_COLUMNS)}, entry, submitter, fingerprint, "
                              f"first_seen FROM rows {where} ORDER BY scenario, defence, attack",
                              args)
            raw = cur.fetchall()
        out = []
        for values in raw:
            cell = {}
            for name, v in zip(_COLUMNS, values):
                if name in _FLOAT:
                    v = math.nan if v is None else float(v)  # SQLite stores NaN as NULL
                elif name in _BOOL:
                    v = bool(v)
                elif name in _INT:
                    v = int(v or 0)
                cell[name] = v
            entry, submitter, fingerprint, first_seen = values[len(_COLUMNS):]
            out.append(LeaderboardRow(CellResult(**cell), entry, submitter, fingerprint,
                                      first_seen))
        return out

    def results(self, *, scenario: str | None = None) -> list[CellResult]:
        return [r.result for r in self.rows(scenario=scenario)]

    def __len__(self) -> int:
        with self._transaction(write=False) as con:
            return int(con.execute("SELECT COUNT(*) FROM rows").fetchone()[0])


__all__ = ["BUSY_TIMEOUT_S", "ENTRIES", "Leaderboard", "LeaderboardRow",
           "default_leaderboard_path"]
