"""Plumbing every lab widget shares: an in-place message area and a stoppable background job.

Widgets hold no mathematics: they call the core's generators through :class:`BackgroundJob`
and draw what comes out. Errors from the core (``MedprivError``) are shown as sentences in a
:class:`MessageArea`; anything unexpected is shown too, and the widget keeps working.
"""

from __future__ import annotations

import contextlib
import html
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator

import ipywidgets as W

from ..errors import MedprivError
from ..stopping import StopToken

_STYLES = {
    "error": "background:#fdecea;border-left:4px solid #d93025;color:#5f2120",
    "warning": "background:#fff4e5;border-left:4px solid #f29900;color:#663c00",
    "info": "background:#e8f0fe;border-left:4px solid #1a73e8;color:#0b3a75",
    "success": "background:#e6f4ea;border-left:4px solid #188038;color:#0d3d1e",
}


class MessageArea(W.HTML):
    """An HTML box that shows one message at a time (error, warning, info, success)."""

    def show(self, text: str, *, kind: str = "info") -> None:
        style = _STYLES.get(kind, _STYLES["info"])
        self.value = (f"<div style='{style};padding:6px 10px;border-radius:3px;"
                      f"font-size:0.95em'>{html.escape(text)}</div>")

    def show_error(self, exc: BaseException) -> None:
        """Show an exception as words: our own errors verbatim, others with their type."""
        if isinstance(exc, MedprivError):
            self.show(str(exc), kind="error")
        else:
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self.show(f"Something went wrong: {last}. The widget is still usable; "
                      f"try other settings, or report this message.", kind="error")

    def clear(self) -> None:
        self.value = ""


class BackgroundJob:
    """Run a core generator in a thread so the notebook stays responsive and Stop works.

    ``start(make_generator, on_item=..., on_done=..., on_error=...)`` calls
    ``make_generator(stop_token)``, iterates it in a daemon thread, and calls ``on_item(item)``
    for every yielded item. ``stop()`` asks the generator to finish at its next check.
    ``start(..., wait=True)`` runs in the calling thread instead (notebook tests, scripts).
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self.stop_token = StopToken()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, make_generator: Callable[[StopToken], Iterator], *,
              on_item: Callable[[object], None],
              on_done: Callable[[bool], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None,
              wait: bool = False) -> None:
        if self.running:
            return
        self.stop_token = StopToken()
        token = self.stop_token

        def body() -> None:
            try:
                for item in make_generator(token):
                    on_item(item)
            except BaseException as exc:  # shown in the widget; the kernel keeps going
                if on_error is not None:
                    on_error(exc)
                else:
                    raise
            finally:
                if on_done is not None:
                    on_done(token.requested)

        if wait:
            body()
        else:
            self._thread = threading.Thread(target=body, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self.stop_token.request()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


@contextlib.contextmanager
def synthetic_data_notes():
    """Collect the core's :class:`~medpriv_widgets.data.SyntheticDataWarning` sentences instead
    of letting Python print them as a stderr block (with a file path and a source line) into
    the notebook; yields a list that holds them afterwards. A widget shows them as its own
    message. Other warnings pass through unchanged.
    """
    from ..data import SyntheticDataWarning

    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SyntheticDataWarning)
        try:
            yield notes
        finally:
            others = []
            for w in caught:
                if issubclass(w.category, SyntheticDataWarning):
                    if str(w.message) not in notes:
                        notes.append(str(w.message))
                else:
                    others.append(w)
    for w in others:  # re-issued outside the catch, where the usual filters apply
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def synthetic_message(notes: list[str]) -> str:
    """The warning a widget shows when its data are synthetic phantoms (what to do included)."""
    return ("These are SYNTHETIC phantoms drawn by a program, not real X-rays: numbers and "
            "pictures here say nothing about real patients. " + (notes[0] if notes else ""))


def progress_text(record, *, elapsed: float | None = None) -> str:
    """A run_stages record as one line for people: its message, how far, and the time left.

    ``done``/``total`` of :func:`~medpriv_widgets.experiments.run_stages` are estimated seconds;
    once a twentieth is done, the time left comes from the pace so far (``elapsed`` seconds),
    so a machine slower than estimated shows a truthful time left.
    """
    from ..experiments import human_seconds

    if record.stopped or record.finished:
        return record.message
    f = record.fraction
    if elapsed is not None and f >= 0.05:
        left = elapsed * (1 - f) / f
    else:
        left = max(record.total - record.done, 0.0)
    return f"{record.message} — {f:.0%} done, about {human_seconds(left)} left"
