"""Run a submitted defence or attack in its own process, with a time limit that really stops it.

Why a separate process: a submission written in a notebook may loop forever, eat memory or
crash the interpreter; a thread cannot be stopped from outside, a process can. Why a fresh one
(``python -m medpriv_widgets.arena.sandbox``, not ``fork``): the child holds only what it was
sent — the submission and the X-rays it may see — never the kernel's memory with the truth of
who was a member, and it inherits no threads of the kernel or of torch. The submission's class
travels by value with cloudpickle (a class defined in a notebook cannot be imported by name).

Protocol: the parent writes one cloudpickled payload to the child's stdin; the child answers
with length-prefixed pickled messages on its original stdout (the submission's own ``print``
goes to stderr): ``("ready",)`` once the submission is unpickled, then ``("result", value)``
or ``("error", text)``. The time limit counts from "ready", so starting Python and importing
torch (seconds on a busy machine) is not charged to the submission; a separate, generous
start-up limit covers that. When a limit passes, the child's whole process group is killed.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass

_HEADER = struct.Struct("!Q")


@dataclass(frozen=True)
class SandboxOutcome:
    """``ok``: the child returned ``value``; else ``reason`` (a sentence) says what went wrong.
    ``seconds``: wall time from "ready" to the answer (or to the kill)."""

    ok: bool
    value: object
    reason: str
    seconds: float
    timed_out: bool = False


def _write(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read(stream):
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (n,) = _HEADER.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def _kill(proc: subprocess.Popen) -> None:
    """Kill the child and everything it started (its own process group), by its id."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _tail(path: str, n: int = 600) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _local_module(obj):
    """The module that defines ``obj``'s class when a fresh interpreter may not be able to
    import it (a script or test file, not an installed package); None otherwise."""
    cls = obj if isinstance(obj, type) else type(obj)
    module = sys.modules.get(getattr(cls, "__module__", ""))
    path = getattr(module, "__file__", None)
    if module is None or module.__name__ == "__main__" or path is None:
        return None  # __main__ (a notebook) travels by value anyway
    if module.__name__.split(".")[0] == "medpriv_widgets" or "-packages" in path:
        return None
    return module


def _dumps(payload: dict) -> bytes:
    """cloudpickle the payload; the submission's own module travels by value when the child
    could not import it by name."""
    import cloudpickle

    module = _local_module(payload.get("submission"))
    if module is not None:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        if module is not None:
            cloudpickle.unregister_pickle_by_value(module)


def run_in_sandbox(payload: dict, *, time_limit_s: float, startup_limit_s: float = 180.0
                   ) -> SandboxOutcome:
    """Run ``payload`` (see :func:`_child`) in a fresh Python process.

    ``time_limit_s`` bounds the submission's own work; ``startup_limit_s`` the interpreter's
    start and the unpickling. Never raises for what the submission does: a crash, a timeout
    or an unreadable answer is an outcome with a reason.
    """
    blob = _dumps(payload)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    with tempfile.NamedTemporaryFile(prefix="medpriv-sandbox-", suffix=".log",
                                     delete=False) as log:
        log_path = log.name
    err = open(log_path, "wb")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "medpriv_widgets.arena.sandbox"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                env=env, start_new_session=True)
    except OSError as exc:
        err.close()
        os.unlink(log_path)
        return SandboxOutcome(False, None, f"its process could not be started ({exc}).", 0.0)
    messages: queue.Queue = queue.Queue()

    def reader() -> None:
        while True:
            try:
                msg = _read(proc.stdout)
            except Exception as exc:  # noqa: BLE001 - an unreadable answer is an outcome
                messages.put(("error", f"its answer could not be read ({type(exc).__name__})."))
                return
            messages.put(msg)
            if msg is None or msg[0] != "ready":
                return

    def feeder() -> None:
        try:
            proc.stdin.write(blob)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the child died early; the reader reports it

    threading.Thread(target=feeder, daemon=True).start()
    threading.Thread(target=reader, daemon=True).start()
    t_ready = None
    try:
        try:
            first = messages.get(timeout=startup_limit_s)
        except queue.Empty:
            _kill(proc)
            return SandboxOutcome(False, None, f"its process did not start within "
                                  f"{startup_limit_s:.0f} s.", 0.0)
        if first is None or first[0] != "ready":
            _wait(proc)
            why = first[1] if first and first[0] == "error" else _crash(proc, log_path)
            return SandboxOutcome(False, None, why, 0.0)
        t_ready = time.perf_counter()
        try:
            answer = messages.get(timeout=time_limit_s)
        except queue.Empty:
            _kill(proc)
            return SandboxOutcome(False, None, f"it ran past its time limit of "
                                  f"{time_limit_s:g} s and was stopped.",
                                  time.perf_counter() - t_ready, timed_out=True)
        seconds = time.perf_counter() - t_ready
        if answer is None:
            _wait(proc)
            return SandboxOutcome(False, None, _crash(proc, log_path), seconds)
        if answer[0] == "error":
            return SandboxOutcome(False, None, answer[1], seconds)
        return SandboxOutcome(True, answer[1], "", seconds)
    finally:
        if proc.poll() is None:
            _kill(proc)
        err.close()
        try:
            os.unlink(log_path)
        except OSError:
            pass


def _wait(proc: subprocess.Popen) -> None:
    """Give a child that closed its answer channel a moment to exit (then it is killed)."""
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        _kill(proc)


def _crash(proc: subprocess.Popen, log_path: str) -> str:
    code = proc.poll()
    last = _tail(log_path).splitlines()[-1:] if _tail(log_path) else []
    what = f"its process ended without an answer (exit code {code})"
    if code is not None and code < 0:
        what += f", killed by signal {-code}"
    return what + (f": {last[0]}" if last else "") + "."


# ---------------------------------------------------------------------------- the child

def _seed(seed: int, *, torch_needed: bool) -> None:
    """Seed Python's, numpy's and torch's generators. torch is seeded (and held to one thread)
    when the submission imported it at the top of its cell, or the payload needs it; importing
    it only inside a method leaves it unseeded, so its results may vary."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if torch_needed or "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
        torch.set_num_threads(1)


def _error_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(frames):
        if "medpriv_widgets" not in fr.filename.replace("\\", "/"):
            where = f" (in {fr.name}, line {fr.lineno})"
            break
    return f"it raised {type(exc).__name__}: {exc}{where}."


def _child() -> int:
    import cloudpickle

    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the submission's print() goes to stderr, never into the answer
    sys.stdout = sys.stderr
    try:
        payload = cloudpickle.loads(sys.stdin.buffer.read())
        _seed(int(payload["seed"]), torch_needed=bool(payload.get("torch", False)))
    except Exception as exc:  # noqa: BLE001 - reported as the submission's failure
        _write(channel, ("error", f"it could not be loaded in its own process "
                                  f"({type(exc).__name__}: {exc}). Define everything it needs "
                                  f"(imports, helpers) in the cell or at module level."))
        return 1
    _write(channel, ("ready",))
    try:
        value = payload["run"](payload)
    except BaseException as exc:  # noqa: BLE001 - the submission's own error
        _write(channel, ("error", _error_text(exc)))
        return 1
    try:
        _write(channel, ("result", value))
    except Exception as exc:  # noqa: BLE001
        _write(channel, ("error", f"its answer could not be sent back ({type(exc).__name__}: "
                                  f"{exc}); return numpy arrays."))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child())
