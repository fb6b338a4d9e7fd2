"""``medpriv data status [--json]`` and ``medpriv data fetch --size 28 64 128``.

Registered on the main parser by :func:`add_parser` (called from :mod:`medpriv_widgets.cli`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .. import paths
from ..errors import MedprivError
from .loader import download, verify
from .registry import OFFICIAL, SIZES, data_status


def _verified_text(value) -> str:
    return {True: "yes", False: "NO (md5 differs; not used)", None: "not found"}[value]


def _emit(text: str) -> None:
    """Print ``text``; when the reader has gone (``medpriv data status --json | head``), stop
    quietly as Unix tools do, instead of ending in a BrokenPipeError traceback."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would try to flush stdout again at exit and print the error: point it at
        # /dev/null first (the recipe of the Python docs, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None


def _next_steps(rows: list[dict]) -> list[str]:
    """What to do about the files that are not usable, in words (empty when every size has a
    verified file)."""
    usable = {r["size"] for r in rows if r["selected"]}
    missing = [size for size in SIZES if size not in usable]
    steps = []
    if any(r["verified"] is False for r in rows):
        steps.append("A file marked NO has the wrong md5 and is never used: replace it with an "
                     "intact copy, or delete it and run `medpriv data fetch --size N`.")
    if missing:
        sizes = " ".join(map(str, missing))
        steps.append(
            f"No usable file for {', '.join(f'{s} px' for s in missing)}: the lessons fall back "
            f"to SYNTHETIC phantoms there. Next step: `medpriv data fetch --size {sizes}` "
            f"(needs internet; the files go to {paths.download_dir()}), or set MEDPRIV_DATA_DIR "
            f"to a folder that already holds them (`make fetch-data` fetches all sizes).")
    return steps


def _cmd_status(args: argparse.Namespace) -> int:
    rows = data_status()
    if args.json:
        _emit(json.dumps(rows, indent=2))
        return 0
    search = paths.data_search_dir()
    lines = [f"MEDPRIV_DATA_DIR: {search if search is not None else '(not set)'}",
             f"download cache:   {paths.download_dir()}", ""]
    header = ("name", "size", "kind", "verified", "bytes", "path")
    table = [header] + [
        (r["name"] + (" *" if r["selected"] else ""), str(r["size"]), r["kind"],
         _verified_text(r["verified"]), "" if r["bytes"] is None else f"{r['bytes']:,}",
         r["path"] or "-")
        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    lines.append("\n* = the file load_dataset() uses for that size.")
    lines += _next_steps(rows)
    _emit("\n".join(lines))
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    failed = []
    for size in args.size:
        entry = OFFICIAL[size]
        # An intact copy in MEDPRIV_DATA_DIR makes a download unnecessary.
        search = paths.data_search_dir()
        if search is not None and (search / entry.filename).is_file():
            try:
                verify(search / entry.filename, entry, place="MEDPRIV_DATA_DIR")
                print(f"{size} px: {entry.filename} already present and verified in "
                      f"MEDPRIV_DATA_DIR ({search}).")
                continue
            except MedprivError as exc:
                print(f"{size} px: {exc} Downloading to the cache instead.", file=sys.stderr)
        try:
            path = download(size, progress=not args.quiet, base_url=args.base_url)
        except MedprivError as exc:
            print(f"{size} px: FAILED. {exc}", file=sys.stderr)
            failed.append(size)
            continue
        print(f"{size} px: {entry.filename} verified (md5 {entry.md5}) at {path}")
    if failed:
        print(f"Could not fetch size(s) {', '.join(map(str, failed))}; see the messages above.",
              file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``data`` with sub-commands ``status`` and ``fetch`` to the ``medpriv`` parser."""
    data = subparsers.add_parser(
        "data", help="check and download the chest X-ray files",
        description="Chest X-ray data: where the files are, whether their md5 is right, and "
                    "downloading the official PneumoniaMNIST files before a workshop.")
    sub = data.add_subparsers(dest="data_command", required=True)

    status = sub.add_parser("status", help="list known files, where they are, and whether they verify")
    status.add_argument("--json", action="store_true",
                        help="print a JSON list (name, size, path, verified, ...) and nothing else")
    status.set_defaults(func=_cmd_status)

    fetch = sub.add_parser("fetch", help="download the official PneumoniaMNIST files (md5-checked)")
    fetch.add_argument("--size", type=int, nargs="+", choices=SIZES, default=list(SIZES),
                       help="image sizes to fetch (default: 28 64 128)")
    fetch.add_argument("--base-url", default=None,
                       help="server folder holding the files (default: MEDPRIV_DATA_URL or Zenodo)")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(func=_cmd_fetch)
    return data
