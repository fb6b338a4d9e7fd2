"""``medpriv doctor``: one table that says whether a machine is ready for a workshop.

Rows: the chest X-ray data the lessons read, the pre-computed caches of a profile, the device,
the memory for the seats it will serve, the disk, and the classroom's shared privacy ledger
when one is configured. Each row says *ready*, *not ready* or *note*, what was found, and what to
do. Nothing is computed or downloaded: the doctor only looks (reading a profile's cache keys
loads the data files once, a few seconds).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ._validate import check_int

#: Peak memory of one learner's kernel running a lesson (MB): the Binder target that
#: ``medpriv bench memory`` checks every lesson against, plus the Jupyter server's share.
SEAT_MB = 1200
SERVER_MB = 200
#: Free disk the caches and one set of downloads need (MB; measured workshop cache ~60 MB).
DISK_MB = 1024
#: Sizes of chest X-rays the lessons load outside FAST mode.
LESSON_SIZES = (28, 64)

READY, NOT_READY, NOTE = "ready", "not ready", "note"


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table."""

    name: str
    status: str
    found: str
    todo: str = ""


def _data() -> Check:
    from .data import data_status

    rows = data_status()
    verified = {r["size"] for r in rows if r["verified"]}
    corrupt = sorted({r["filename"] for r in rows if r["verified"] is False})
    missing = [s for s in LESSON_SIZES if s not in verified]
    found = ("verified X-rays at " + ", ".join(f"{s} px" for s in sorted(verified))
             if verified else "no verified X-ray file")
    if corrupt:
        found += f"; failing their checksum (never used): {', '.join(corrupt)}"
    if missing:
        return Check("data", NOT_READY, found,
                     f"run `medpriv data fetch --size {' '.join(map(str, missing))}` while "
                     f"online, or set MEDPRIV_DATA_DIR to a folder holding the files (without "
                     f"them the lessons fall back to synthetic phantoms)")
    return Check("data", READY, found)


def _caches(profile: str) -> Check:
    from .cache import default_store
    from .experiments import human_seconds
    from .experiments.profiles import profile_stages

    store = default_store()
    stages = profile_stages(profile)
    todo = [s for s in stages if not s.is_done(store)]
    found = f"{len(stages) - len(todo)} of {len(stages)} pieces of the '{profile}' profile in {store.root}"
    if todo:
        seconds = sum(s.estimate_seconds() for s in todo)
        return Check("caches", NOT_READY, found,
                     f"run `medpriv precompute --profile {profile}` (about "
                     f"{human_seconds(seconds)} on 2 CPU cores), or the labs compute on demand "
                     f"during the session")
    return Check("caches", READY, found)


def _device() -> Check:
    from .device import choose_device, device_label

    device = choose_device()
    found = device_label(device)
    if device.type == "cpu":
        return Check("device", READY, found + " (every lesson runs on a CPU; a GPU is faster)")
    return Check("device", READY, found)


def _available_mb() -> float:
    try:
        import psutil

        return psutil.virtual_memory().available / 2**20
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20


def _memory(seats: int) -> Check:
    need = seats * SEAT_MB + SERVER_MB
    have = _available_mb()
    found = (f"{have / 1024:.1f} GB available; {seats} seat{'s' if seats != 1 else ''} need "
             f"about {need / 1024:.1f} GB ({SEAT_MB} MB per lesson kernel + {SERVER_MB} MB)")
    if have < need:
        fit = max(int((have - SERVER_MB) // SEAT_MB), 0)
        return Check("memory", NOT_READY, found,
                     f"this machine fits about {fit} seat{'s' if fit != 1 else ''}: close other "
                     f"programs, use a larger machine, or spread the class over a JupyterHub "
                     f"(deploy/)")
    return Check("memory", READY, found)


def _disk() -> Check:
    from .paths import results_dir

    folder = results_dir()
    probe = next((p for p in [folder, *folder.parents] if p.exists()), Path.cwd())
    free = shutil.disk_usage(probe).free / 2**20
    found = f"{free / 1024:.1f} GB free where the caches go ({folder})"
    if free < DISK_MB:
        return Check("disk", NOT_READY, found,
                     f"free at least {DISK_MB / 1024:.0f} GB there, or point MEDPRIV_CACHE_DIR "
                     f"elsewhere")
    return Check("disk", READY, found)


def _classroom() -> Check | None:
    from .classroom import CLASSROOM_ENV, classroom_ledger_path, open_classroom_ledger

    path = classroom_ledger_path()
    if path is None:
        return None
    from .errors import MedprivError
    from .explain.numbers import format_number
    try:
        if not path.exists():
            return Check("classroom budget", NOTE, f"{CLASSROOM_ENV}={path}: not created yet",
                         "the first learner to open lesson 02 creates it with the lesson's "
                         "budget")
        ledger = open_classroom_ledger(path)
        left = format_number(ledger.remaining()[0], rounding="down")
        locked = ledger.locked
        state = "LOCKED" if locked else f"ε = {left} of {format_number(ledger.budget[0])} left"
    except MedprivError as exc:
        return Check("classroom budget", NOT_READY, f"{path}: {exc}",
                     "an instructor starts a new budget with medpriv_widgets.classroom."
                     "reset_classroom_budget(epsilon=..., delta=...)")
    if not os.access(path.parent, os.W_OK):
        return Check("classroom budget", NOT_READY, f"{path}: {state}; the folder is read-only",
                     "make the folder writable for every learner (deploy/README.md)")
    if locked:
        return Check("classroom budget", NOTE, f"{path}: {state}",
                     "the class's budget is spent: an instructor resets it before the session "
                     "(medpriv_widgets.classroom.reset_classroom_budget())")
    return Check("classroom budget", READY, f"{path}: {state}")


def diagnose(*, profile: str = "workshop", seats: int = 1) -> list[Check]:
    """Every row of the table (see the module doc). ``profile``: whose caches to look for;
    ``seats``: learners this machine will serve at once."""
    from .experiments.profiles import get_profile

    get_profile(profile)  # a sentence for an unknown profile before anything is looked at
    seats = check_int("seats", seats, low=1, high=10_000)
    rows = [_data(), _caches(profile), _device(), _memory(seats), _disk()]
    room = _classroom()
    return rows + ([room] if room is not None else [])


def _check_rows(rows) -> list[Check]:
    """``rows`` as a non-empty list of :class:`Check`, else InvalidParameterError."""
    from .errors import InvalidParameterError

    try:
        rows = list(rows)
    except TypeError:
        rows = None
    if not rows or not all(isinstance(r, Check) for r in rows):
        raise InvalidParameterError(
            "`rows` must be a non-empty list of Check, as diagnose() returns; got "
            f"{'nothing' if not rows else [type(r).__name__ for r in rows][:4]}. Pass the rows "
            f"of diagnose().")
    return rows


def as_table(rows: list[Check]) -> str:
    """A plain-text table, one line per row, then what to do."""
    rows = _check_rows(rows)
    width = max(len(r.name) for r in rows)
    lines = [f"{'check':<{width}}  {'status':<9}  found"]
    lines += [f"{r.name:<{width}}  {r.status:<9}  {r.found}" for r in rows]
    todo = [r for r in rows if r.todo]
    if todo:
        lines += ["", "To do:"] + [f"- {r.name}: {r.todo}" for r in todo]
    ready = all(r.status != NOT_READY for r in rows)
    lines += ["", "Ready for the workshop." if ready else "Not ready yet: see 'To do' above."]
    return "\n".join(lines)


def as_json(rows: list[Check]) -> dict:
    """The rows as JSON-ready data: ``ready`` (no row is 'not ready') and ``checks``."""
    rows = _check_rows(rows)
    return {"ready": all(r.status != NOT_READY for r in rows), "checks": [asdict(r) for r in rows]}


__all__ = ["Check", "as_json", "as_table", "diagnose"]
