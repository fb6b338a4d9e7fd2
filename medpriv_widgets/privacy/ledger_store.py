"""The file under a privacy ledger: an append-only, hash-chained event log in SQLite (WAL mode).

Why SQLite: each spend used to rewrite and fsync a whole JSON file (0.64 s after 4,000
spends). SQLite appends one row per event, and gives what the ledger needs from a file without
hand-written locking: a write transaction (``BEGIN IMMEDIATE``) serialises writers across
processes; a process killed at any moment leaves every committed event and none of an
uncommitted one; ``synchronous=FULL`` makes a commit survive a power cut too. WAL lets readers
read while one process writes. (WAL needs a local file system: not NFS.)

The log (table ``events``): rows ``(seq, kind, body, prev, hash)`` with ``seq`` = 1, 2, 3, … and
``hash = sha256(prev, seq, kind, body)`` chained to the previous row, so an edited, removed or
reordered row breaks the chain and every read refuses with
:class:`~medpriv_widgets.errors.LedgerCorrupt`. Rows are never updated or deleted. The chain
detects accidents and casual edits, not a determined forger, who could recompute it; the
ledger's schema checks (sign, type, budget) then still refuse a negative or impossible spend.

Births: each folder of ledgers keeps a small register (``.medpriv-ledgers.sqlite``) of the
ledgers created in it, so a ledger file that goes missing is noticed instead of silently
starting over with a full budget. (Deleting the folder deletes both: that cannot be noticed.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: a polled lock file (filelock) instead
    fcntl = None

from ..errors import LedgerCorrupt, PrivacyBudgetError
from ..explain.budget import budget_busy_message, budget_unwritable_message

__all__ = ["Event", "LedgerStore", "REGISTER_NAME"]

#: ``PRAGMA application_id`` of a ledger file ('MPLG'), so another SQLite file is not mistaken
#: for one.
_APPLICATION_ID = 0x4D504C47
_SCHEMA_VERSION = 2
REGISTER_NAME = ".medpriv-ledgers.sqlite"
_LOCK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Event:
    """One verified row of the log: ``body`` is the parsed JSON object."""

    seq: int
    kind: str
    body: dict
    hash: str


def _canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def _chain(prev: str, seq: int, kind: str, body_text: str) -> str:
    return hashlib.sha256(f"{prev}\x1f{seq}\x1f{kind}\x1f{body_text}".encode()).hexdigest()


def _wait_for_flock(path: str, timeout: float, store: "LedgerStore") -> int:
    """An fd holding an exclusive ``flock`` on ``path`` (a held ``filelock.FileLock`` where
    there is no ``fcntl``); raises PrivacyBudgetError after ``timeout`` seconds, or at once when
    the lock file cannot be opened."""
    if fcntl is None:
        import filelock

        lock = filelock.FileLock(path, timeout=timeout)
        try:
            lock.acquire(poll_interval=0.005)
        except filelock.Timeout:
            raise PrivacyBudgetError(budget_busy_message(path=store.path, seconds=timeout)) from None
        return lock
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PrivacyBudgetError(budget_unwritable_message(
            folder=Path(path).parent, reason=exc.strerror or str(exc))) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    except OSError as exc:
        os.close(fd)
        raise PrivacyBudgetError(budget_unwritable_message(
            folder=Path(path).parent, reason=exc.strerror or str(exc))) from None
    # Contended: block in the kernel on a helper thread, so this one can give up in time.
    got, guard, state = threading.Event(), threading.Lock(), {"abandoned": False}

    def wait() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            return
        with guard:
            if state["abandoned"]:  # too late: hand the lock straight on
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            else:
                got.set()

    threading.Thread(target=wait, name="medpriv-ledger-lock", daemon=True).start()
    if got.wait(timeout):
        return fd
    with guard:
        if got.is_set():
            return fd
        state["abandoned"] = True
    raise PrivacyBudgetError(budget_busy_message(path=store.path, seconds=timeout))


def _release_flock(fd) -> None:
    if fcntl is None:
        fd.release()
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class LedgerStore:
    """The event log of one ledger file. Each thread of each process keeps its own connection
    (opened again after ``fork``, and when the file at ``path`` was replaced), so an object may
    be shared by threads and used in child processes. (Closing a connection checkpoints the
    write-ahead log: one connection per call cost 23 ms a spend, a kept one 6 ms, the fsync.)

    ``on_corrupt(why) -> Exception`` builds the error raised when the file cannot be trusted
    (the ledger words it).
    """

    def __init__(self, path: Path, *, on_corrupt) -> None:
        from ..paths import check_path

        if not callable(on_corrupt):
            from ..errors import InvalidParameterError

            raise InvalidParameterError(f"`on_corrupt` must be a function (why) -> Exception; "
                                        f"got {on_corrupt!r}.")
        self.path = check_path("path", path, what="a ledger file")
        self.register = self.path.parent / REGISTER_NAME
        self._on_corrupt = on_corrupt
        self._parsed: dict[str, dict] = {}  # row hash → parsed body (rows never change)
        self._local = threading.local()

    # ------------------------------------------------------------------ connections
    def ensure_folder(self) -> None:
        """Create the folder, or say at once why it cannot hold a ledger."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PrivacyBudgetError(budget_unwritable_message(
                folder=folder, reason=exc.strerror or str(exc))) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PrivacyBudgetError(budget_unwritable_message(
                folder=folder, reason="this user may not write there (permission denied)"))

    def _connect(self, file: Path) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(file, timeout=_LOCK_TIMEOUT_S, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise PrivacyBudgetError(budget_unwritable_message(folder=file.parent,
                                                               reason=str(exc))) from None
        try:
            con.execute("PRAGMA synchronous=FULL")
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:  # cannot open, create or lock the file
            con.close()
            raise PrivacyBudgetError(budget_unwritable_message(folder=file.parent,
                                                               reason=str(exc))) from None
        except sqlite3.DatabaseError as exc:  # the bytes are not a database
            con.close()
            if file == self.path:
                raise self._on_corrupt(f"cannot be read as a ledger database ({exc})") from None
            raise
        if str(mode).lower() != "wal":
            con.close()
            raise PrivacyBudgetError(budget_unwritable_message(
                folder=file.parent, reason=f"SQLite cannot keep a write-ahead log there ({mode})"))
        return con

    def _ledger_connection(self) -> sqlite3.Connection:
        """This thread's connection to the ledger file: a new one after ``fork``, and whenever
        the main file changed on disk (replaced, rewritten, or checkpointed: SQLite's own
        commits go to the write-ahead log and leave it alone), so a file damaged or edited from
        outside is read, and checked, afresh."""
        st = os.stat(self.path)
        ident = (os.getpid(), st.st_ino, st.st_size, st.st_mtime_ns)
        cached = getattr(self._local, "con", None)
        if cached is not None and cached[0] == ident:
            return cached[1]
        if cached is not None and cached[0][0] == ident[0]:
            with contextlib.suppress(sqlite3.Error):
                cached[1].close()  # the file was replaced: this connection reads the old one
        self._check_header()
        con = self._connect(self.path)
        self._local.con = (ident, con)
        return con

    def _forget_connection(self) -> None:
        cached = getattr(self._local, "con", None)
        self._local.con = None
        self._local.known = None
        if cached is not None and cached[0][0] == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                cached[1].close()

    @contextlib.contextmanager
    def _transaction(self, file: Path, *, write: bool):
        keep = file == self.path and file.exists()
        con = self._ledger_connection() if keep else self._connect(file)
        try:
            try:
                con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise PrivacyBudgetError(budget_busy_message(path=file,
                                                                 seconds=_LOCK_TIMEOUT_S)) from None
                raise PrivacyBudgetError(budget_unwritable_message(folder=file.parent,
                                                                   reason=str(exc))) from None
            try:
                yield con
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
            try:
                con.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise PrivacyBudgetError(budget_unwritable_message(folder=file.parent,
                                                                   reason=str(exc))) from None
        except sqlite3.DatabaseError as exc:
            if keep:
                self._forget_connection()
                raise self._on_corrupt(f"cannot be read as a ledger database ({exc})") from None
            raise
        finally:
            if not keep:
                con.close()

    # ------------------------------------------------------------------ the log
    def exists(self) -> bool:
        return self.path.is_file()

    def create(self, body: dict) -> Event:
        """Write a new file whose first event is ``create`` (``body``); refuses to overwrite."""
        if self.path.exists():
            raise FileExistsError(self.path)
        self._forget_connection()
        with self._transaction(self.path, write=True) as con:
            con.execute(f"PRAGMA application_id={_APPLICATION_ID}")
            con.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            con.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                        "body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)")
            return self._append(con, [], "create", body)

    def _check_header(self) -> None:
        with open(self.path, "rb") as fh:
            head = fh.read(16)
        if head and head != b"SQLite format 3\x00":
            old = " (it is in the old JSON format, which this version no longer reads)" \
                if head.lstrip()[:1] == b"{" else ""
            raise self._on_corrupt(f"is not a ledger database{old}")

    @contextlib.contextmanager
    def reading(self, *, full: bool = False):
        """The verified events, oldest first, in a consistent snapshot (see :meth:`_verified`
        for ``full``). Do not modify the list."""
        if not self.path.is_file():
            raise FileNotFoundError(self.path)
        with self._transaction(self.path, write=False) as con:
            yield self._verified(con, full=full)

    @contextlib.contextmanager
    def _writer_turn(self):
        """Wait for this file's writer lock (``<file>.lock``), asleep in the kernel.

        SQLite serialises writers too, but its busy handler backs off to 100 ms sleeps, so with
        8 writers some waited seconds while others went again and again (p99 4.0 s, measured);
        polling a lock file every millisecond or faster instead spent the two cores on polling
        and starved the writer holding the lock (p99 2.0 s, 55 spends/s). Here a waiter blocks
        in ``flock`` (no CPU) and the kernel wakes it when the lock is free. A waiting thread
        keeps the 60 s time-out. Like SQLite's lock, it is released when its process dies.
        """
        fd = _wait_for_flock(str(self.path) + ".lock", _LOCK_TIMEOUT_S, self)
        try:
            yield
        finally:
            _release_flock(fd)

    @contextlib.contextmanager
    def writing(self):
        """``(events, append)`` under the write lock: ``append(kind, body)`` adds an event; all
        appended events are committed together when the block ends without an exception."""
        if not self.path.is_file():
            raise FileNotFoundError(self.path)
        with self._writer_turn(), self._transaction(self.path, write=True) as con:
            events = list(self._verified(con, full=False))

            def append(kind: str, body: dict) -> Event:
                return self._append(con, events, kind, body)

            yield events, append
            self._local.known = events  # committed below, unless COMMIT fails (then forgotten)

    def _append(self, con, events: list[Event], kind: str, body: dict) -> Event:
        text = _canonical(body)
        prev = events[-1].hash if events else ""
        seq = events[-1].seq + 1 if events else 1
        digest = _chain(prev, seq, kind, text)
        con.execute("INSERT INTO events (seq, kind, body, prev, hash) VALUES (?, ?, ?, ?, ?)",
                    (seq, kind, text, prev, digest))
        parsed = json.loads(text)
        self._parsed[digest] = parsed
        event = Event(seq, kind, parsed, digest)
        events.append(event)
        return event

    def _verified(self, con, *, full: bool) -> list[Event]:
        """Every event, checked. ``full=False`` re-checks the last event this thread saw (it
        must still be there, unchanged: the log only grows) and chains only what was appended
        since, so a spend stays fast however long the log is; ``full=True`` re-checks the whole
        chain (done when a ledger is opened and when its history is read)."""
        corrupt = self._on_corrupt
        seen = getattr(self._local, "known", None)
        known = None if full else seen
        try:
            app = con.execute("PRAGMA application_id").fetchone()[0]
            if app != _APPLICATION_ID:
                raise corrupt("is not a medpriv privacy ledger (another kind of file)")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version != _SCHEMA_VERSION:
                raise corrupt(f"has ledger format {version}, not {_SCHEMA_VERSION}")
            if known:
                first = con.execute("SELECT hash FROM events WHERE seq = 1").fetchone()
                if first is None or first[0] != known[0].hash:
                    known = None  # another ledger at this path (an instructor's reset)
            if known:
                anchor = known[-1]
                rows = con.execute("SELECT seq, kind, body, prev, hash FROM events WHERE seq >= ? "
                                   "ORDER BY seq", (anchor.seq,)).fetchall()
                if not rows or rows[0][0] != anchor.seq or rows[0][4] != anchor.hash:
                    raise corrupt(f"no longer holds record {anchor.seq} as it was read before "
                                  f"(records were removed or edited)")
            else:
                rows = con.execute("SELECT seq, kind, body, prev, hash FROM events "
                                   "ORDER BY seq").fetchall()
        except sqlite3.DatabaseError as exc:
            raise corrupt(f"cannot be read as a ledger database ({exc})") from None
        if known:
            events = list(known[:-1])
            prev = known[-2].hash if len(known) > 1 else ""
        else:
            events, prev = [], ""
        for row in rows:
            seq, kind, text, row_prev, digest = row
            expected_seq = len(events) + 1
            if not (isinstance(seq, int) and isinstance(kind, str) and isinstance(text, str)
                    and isinstance(row_prev, str) and isinstance(digest, str)):
                raise corrupt("has a record of the wrong type")
            if seq != expected_seq:
                raise corrupt(f"misses record {expected_seq} (records were removed)")
            if row_prev != prev or _chain(prev, seq, kind, text) != digest:
                raise corrupt(f"does not match its checksum at record {seq}")
            body = self._parsed.get(digest)
            if body is None:
                try:
                    body = json.loads(text)
                except ValueError:
                    raise corrupt(f"has an unreadable record {seq}") from None
                if not isinstance(body, dict):
                    raise corrupt(f"has an unreadable record {seq}")
                self._parsed[digest] = body
            events.append(Event(seq, kind, body, digest))
            prev = digest
        if not events:
            raise corrupt("holds no records")
        if full and seen and events[0].hash == seen[0].hash and (
                len(events) < seen[-1].seq or events[seen[-1].seq - 1].hash != seen[-1].hash):
            raise corrupt(f"no longer holds record {seen[-1].seq} as it was read before "
                          f"(records were removed or edited)")
        self._local.known = events
        return events

    def move_aside(self, stamp: str) -> Path | None:
        """Rename a damaged file (and its WAL side files) to ``<name>.corrupt-<stamp>``; its
        writer lock file stays (it holds no data)."""
        self._forget_connection()
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        moved = None
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                os.replace(src, target.with_name(target.name + suffix))
                moved = moved or target
        return moved

    # ------------------------------------------------------------------ births
    @contextlib.contextmanager
    def births(self):
        """The folder's register of created ledgers, under its write lock: yields
        ``(born, record)``: ``born`` is the latest birth of this file (dict or None);
        ``record(body)`` registers a new one."""
        try:
            with self._transaction(self.register, write=True) as con:
                con.execute("CREATE TABLE IF NOT EXISTS births (name TEXT NOT NULL, "
                            "ledger_id TEXT NOT NULL, body TEXT NOT NULL)")
                row = con.execute("SELECT body FROM births WHERE name = ? ORDER BY rowid DESC "
                                  "LIMIT 1", (self.path.name,)).fetchone()
                born = None
                if row is not None:
                    with contextlib.suppress(ValueError, TypeError):
                        born = json.loads(row[0])

                def record(body: dict) -> None:
                    con.execute("INSERT INTO births (name, ledger_id, body) VALUES (?, ?, ?)",
                                (self.path.name, str(body["ledger_id"]), _canonical(body)))

                yield born, record
        except sqlite3.DatabaseError as exc:
            raise PrivacyBudgetError(budget_unwritable_message(
                folder=self.path.parent,
                reason=f"its register of ledgers {self.register} cannot be used ({exc})")) from None
