"""Process-level settings read from the environment, in one place.

``MEDPRIV_FAST=1`` makes lessons and tests use smaller iteration counts (same code paths).
Functions never read this themselves: notebooks and the CLI read it and pass explicit arguments.
"""

from __future__ import annotations

import os


def fast_mode() -> bool:
    """True when ``MEDPRIV_FAST`` is set to 1/true/yes (tests and CI)."""
    return os.environ.get("MEDPRIV_FAST", "").strip().lower() in {"1", "true", "yes"}


def offline() -> bool:
    """True when ``MEDPRIV_OFFLINE`` is set: never try to download anything."""
    return os.environ.get("MEDPRIV_OFFLINE", "").strip().lower() in {"1", "true", "yes"}
