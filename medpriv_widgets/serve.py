"""``medpriv serve``: the lessons as code-free dashboards (Voila), for a workshop of clinicians.

Voila runs each notebook in a fresh kernel and shows only its outputs: the text, the figures and
the working widgets, no code. We serve *copies* of the lessons from a folder of their own (by
default ``~/medpriv-dashboards``), made without the exercise cells — exercises need code to be
edited, which a dashboard does not offer — so nothing a dashboard does can touch the
repository's notebooks. Each lesson is then at ``http://<ip>:<port>/voila/render/<lesson>``, and
the tree of lessons at ``/``.

Kernels inherit this process's environment: set ``MEDPRIV_CACHE_DIR`` (after ``medpriv
precompute --profile workshop``), ``MEDPRIV_DATA_DIR`` and ``MEDPRIV_CLASSROOM_LEDGER`` before
serving.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nbformat

from ._validate import check_int
from .paths import check_path

DEFAULT_PORT = 8866


def lessons_source() -> Path:
    """The repository's ``notebooks/`` folder (a source checkout), where the lessons live."""
    return Path(__file__).resolve().parent.parent / "notebooks"


def prepare(folder: str | os.PathLike, *, source: str | os.PathLike | None = None) -> list[Path]:
    """Copy every lesson of ``source`` (default :func:`lessons_source`) into ``folder`` without
    its exercise cells, replacing older copies; returns the copies."""
    from .errors import DataError
    from .exercises.notebooks import without_exercises

    src = lessons_source() if source is None else check_path("source", source, what="a folder")
    dest = check_path("folder", folder, what="a folder")
    try:
        lessons = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise DataError(f"Cannot read the lessons in {str(src)[:200]} ({exc.strerror or exc}): "
                        f"pass the folder that holds them (a source checkout's notebooks/).") from None
    if not lessons:
        raise DataError(f"No lesson notebooks (NN_name.ipynb) in {src}: pass the folder that "
                        f"holds them (a source checkout's notebooks/).")
    out = []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for path in lessons:
            nb = without_exercises(nbformat.read(path, as_version=4))
            target = dest / path.name
            nbformat.write(nb, target)
            out.append(target)
    except OSError as exc:  # unwritable, or a name longer than the file system allows
        from .errors import InvalidParameterError

        raise InvalidParameterError(
            f"`folder` cannot take the dashboards: {str(dest)[:200]} gives "
            f"'{exc.strerror or exc}'. Choose a writable folder with a shorter name.") from None
    return out


def voila_command(folder: str | os.PathLike, *, port: int = DEFAULT_PORT, ip: str = "127.0.0.1",
                  open_browser: bool = False) -> list[str]:
    """The command line that serves ``folder`` with Voila (code hidden, tracebacks hidden)."""
    port = check_int("port", port, low=1, high=65535)
    ip = _check_ip(ip)
    cmd = [sys.executable, "-m", "voila", str(folder), f"--port={port}", f"--Voila.ip={ip}",
           "--strip_sources=True", "--show_tracebacks=False",
           # one lesson may take minutes to compute outside FAST mode: do not give up on it
           "--NotebookClient.timeout=3600"]
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def _check_ip(ip) -> str:
    if not isinstance(ip, str) or not ip.strip() or any(c.isspace() for c in ip):
        from .errors import InvalidParameterError

        raise InvalidParameterError(f"`ip` must be the address to listen on, such as "
                                    f"'127.0.0.1' or '0.0.0.0'; got {ip!r:.60}.")
    return ip


def default_folder() -> Path:
    return Path(os.environ.get("MEDPRIV_DASHBOARDS_DIR", "") or Path.home() / "medpriv-dashboards")


def serve(*, folder: str | os.PathLike | None = None, port: int = DEFAULT_PORT,
          ip: str = "127.0.0.1", open_browser: bool = False) -> int:
    """Prepare the dashboards and run Voila in the foreground until Ctrl-C; its exit status."""
    import subprocess

    # checked before the copies are made: a wrong port should not cost a minute of copying
    port = check_int("port", port, low=1, high=65535)
    ip = _check_ip(ip)
    target = default_folder() if folder is None else check_path("folder", folder, what="a folder")
    copies = prepare(target)
    print(f"medpriv serve: {len(copies)} lessons as dashboards from {target}; open "
          f"http://{ip}:{port}/ (one lesson: http://{ip}:{port}/voila/render/{copies[0].name}). "
          f"Ctrl-C stops.", flush=True)
    if shutil.which("voila") is None and not _voila_importable():
        from .errors import InvalidParameterError

        raise InvalidParameterError("Voila is not installed: `pip install voila==0.5.13` (it is "
                                    "in requirements.txt).")
    return subprocess.call(voila_command(target, port=port, ip=ip, open_browser=open_browser))


def _voila_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("voila") is not None


__all__ = ["DEFAULT_PORT", "default_folder", "prepare", "serve", "voila_command"]
