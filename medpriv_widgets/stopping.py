"""A stop token shared by every long computation.

Long computations are generators that take ``stop: StopToken | None``; they check
``stop.requested`` between steps and return cleanly (yielding a final record) when it is set.
A widget's Stop button, Ctrl-C in the CLI, or a test can set it from another thread.
"""

from __future__ import annotations

import threading


class StopToken:
    """Thread-safe flag: ``request()`` from anywhere, ``requested`` inside the loop."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def reset(self) -> None:
        self._event.clear()


def stop_requested(stop: StopToken | None) -> bool:
    """True when a token was given and has been set (None means 'never stop early')."""
    return stop is not None and stop.requested
