"""Fuzz every public entry point of the core: only typed errors with a sentence, or a result.

The entry points are found, not listed: every module of ``medpriv_widgets`` except the widgets
(views), the benchmarks (``medpriv bench``: two booleans, minutes of work by design) and private
modules (``_validate``), and in each module the callables of its ``__all__`` (or, where a module has none, the public callables
it defines), de-duplicated. A new module is covered without editing this file.

For each entry point hypothesis draws calls in which one or two parameters take an edge value
and the others a valid example (by parameter name) or their default. Edge values are aimed at
what a person or a notebook passes: numbers (NaN, ±inf, 0, −1, 5e-324, 1e300, 10**15, True,
'1', None), counts, texts and paths ('', 'a/b', 3, b'x', None), arrays and images (empty, NaN,
ragged, strings, uint8, 3-channel, wrong size, None). A parameter that takes a library object
(a model, a config, a generator, a stop token) gets a valid example or its default, never a
wrong type: passing a string as a model is a programming error that Python's own TypeError
reports well enough. An entry point whose required object has no example is counted as not
fuzzed. A generator that comes back is advanced twice. Accepted: a result, or an error from
:mod:`medpriv_widgets.errors` whose message is an actionable sentence. Anything else is a
finding. Calls longer than ``CALL_SECONDS`` are stopped and counted, not judged.

The fuzz runs in a child process whose address space is capped (``RLIMIT_AS``: what it holds
after the imports plus 4 GiB), so an input that asks for terabytes fails there with a
MemoryError (a finding) instead of swapping the machine. Examples are derandomised, so a run is
reproducible.

Findings in modules that other work owns are listed in ``KNOWN_RAW_ERRORS`` with what was seen;
the test fails on any other finding, and prints the listed entries that no longer fail (to be
removed from the list).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import math
import os
import pkgutil
import re
import signal
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Examples per entry point, and the longest one call may take before it is stopped.
EXAMPLES = 25
CALL_SECONDS = 2.0
#: Packages left out, with the reason.
SKIPPED_PACKAGES = {
    "medpriv_widgets.widgets": "views over the core (tested through the lessons and the browser)",
    "medpriv_widgets.bench": "benchmarks: run(quick, progress) takes minutes by design",
}

#: Findings left open on purpose (entry point → what the fuzz saw). Empty: the 79 listed on
#: 2026-12-01 were fixed at their boundaries; a new finding fails the test.
KNOWN_RAW_ERRORS: dict[str, str] = {}

_ACTION = re.compile(
    r"\b(must|use|choose|pass|give|try|call|run|set|delete|check|convert|add|allow|wait|reset|"
    r"put|load|make|point|keep|remove|fetch|install|ask|split|take|start|lower|raise|increase|"
    r"decrease|reduce|drop|provide|select|rename|need|needs|expected|only|cannot|should)\b",
    re.IGNORECASE)


def actionable(message: str) -> bool:
    """A sentence that says what is wrong or what to do: ends like a sentence, names an action
    or a requirement, and is not a bare repr."""
    text = message.strip()
    return (len(text) >= 20 and text.endswith((".", ".)", '."', ".'", "?", "!"))
            and bool(_ACTION.search(text)) and "Traceback" not in text)


# ------------------------------------------------------------------------------ discovery
def entry_points() -> dict[str, object]:
    """{'module.qualname': callable} for every public callable of the core."""
    import medpriv_widgets

    names = ["medpriv_widgets"] + sorted(
        m.name for m in pkgutil.walk_packages(medpriv_widgets.__path__, prefix="medpriv_widgets.")
        if not m.name.startswith(tuple(SKIPPED_PACKAGES))
        and not any(part.startswith("_") for part in m.name.split(".")))  # private modules
    found: dict[str, object] = {}
    for name in names:
        module = importlib.import_module(name)
        public = getattr(module, "__all__", None)
        if public is None:
            public = [n for n, o in vars(module).items()
                      if not n.startswith("_") and getattr(o, "__module__", None) == name]
        for attr in public:
            obj = getattr(module, attr, None)
            if obj is None or not callable(obj) or isinstance(obj, type) and issubclass(obj, BaseException):
                continue
            origin = getattr(obj, "__module__", "") or ""
            if not origin.startswith("medpriv_widgets") or origin.startswith(tuple(SKIPPED_PACKAGES)):
                continue
            found.setdefault(f"{origin}.{getattr(obj, '__qualname__', attr)}", obj)
    return dict(sorted(found.items()))


# ------------------------------------------------------------------------------ values
def _valid_examples(tmp: Path) -> dict:
    """A valid value per common parameter name (factories: a fresh object for every call)."""
    import numpy as np
    import torch

    from medpriv_widgets.data import make_phantoms
    from medpriv_widgets.models import make_model

    labels = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    return {
        "epsilon": lambda: 1.0, "target_epsilon": lambda: 1.0, "delta": lambda: 1e-5,
        "noise_multiplier": lambda: 1.0, "sample_rate": lambda: 0.01, "steps": lambda: 10,
        "sigma": lambda: 1.0, "sensitivity": lambda: 1.0, "mu": lambda: 1.0,
        "fpr": lambda: 0.01, "tpr": lambda: 0.5, "tpr_bound": lambda: 0.5, "kappa": lambda: 0.01,
        "prior": lambda: 0.1, "bound": lambda: 0.5, "confidence": lambda: 0.95, "p": lambda: 0.1,
        "value": lambda: 3.0, "n": lambda: 10, "k": lambda: 2, "size": lambda: 28,
        "seed": lambda: 0, "split": lambda: "train", "dataset": lambda: "d",
        "institution": lambda: "i", "note": lambda: "a note", "events": lambda: [(1.0, 0.01, 10)],
        "labels": lambda: labels.copy(), "truth": lambda: labels.copy(),
        "answers": lambda: labels.copy(), "scores": lambda: np.linspace(0.0, 1.0, 8),
        "is_member": lambda: labels.astype(bool), "in_mask": lambda: labels.astype(bool),
        "images": lambda: torch.rand(4, 1, 28, 28), "x": lambda: torch.rand(4, 1, 28, 28),
        "model": lambda: make_model(size=28, width=4),
        "data": lambda: make_phantoms(n=8, size=28, seed=0),
        "patient_ids": lambda: np.array([f"p{i // 2}" for i in range(8)]),
        "successes": lambda: 3, "trials": lambda: 10, "n_members": lambda: 8,
        "n_nonmembers": lambda: 8, "threshold": lambda: 0.5, "batch_size": lambda: 4,
        "path": lambda: tmp / "fuzz-file.npz", "folder": lambda: tmp / "fuzz-folder",
        "root": lambda: tmp / "fuzz-root", "namespace": lambda: "fuzz", "name": lambda: "fuzz",
        "device": lambda: "cpu", "stop": lambda: None, "cache": lambda: None,
        "basic": lambda: [(0.1, 0.0)], "gaussian": lambda: [(1.0, 0.01, 10)],
        "delta_budget": lambda: 1e-5, "eps_error": lambda: 0.01, "digits": lambda: 3,
        "rounding": lambda: "up", "log_factor": lambda: 1.0, "tpr_low": lambda: 0.2,
        "tpr_high": lambda: 0.6, "psnr": lambda: 20.0, "ssim": lambda: 0.5,
    }


def _edges():
    """Edge values, by the kind of parameter they are aimed at."""
    import numpy as np
    import torch

    nan, inf = float("nan"), float("inf")
    number = [nan, inf, -inf, -1.0, 0.0, -0.0, 5e-324, 1e-300, 1e300, 10**15, 10**30, True,
              2.5, "1", None]
    integer = [0, -1, 10**18, 2.5, True, nan, None, "3", 1e300]
    text = ["", " ", "nan", "a/b", "x" * 300, None, 3, b"x"]
    array = [np.array([]), np.array([nan]), np.zeros((2, 2)), np.array(["a", "b"]),
             np.array([1, 0, 2]), torch.tensor(nan), None, [[1, 2], [3]], "abc",
             np.full(8, inf), np.zeros((0, 1, 28, 28), np.float32)]
    image = [torch.full((2, 1, 28, 28), nan), torch.zeros((2, 1, 28, 28), dtype=torch.uint8),
             torch.rand(2, 3, 28, 28), torch.rand(2, 1, 64, 64), torch.rand(28, 28),
             torch.rand(2, 1, 28, 28, dtype=torch.float64), None, np.zeros((2, 1, 28, 28)), "x"]
    return {"number": number, "integer": integer, "text": text, "array": array, "image": image}


_NUMBER = re.compile(r"\b(float|Real|int|Integral)\b")
_IMAGE_NAMES = {"images", "image", "x", "public_images", "reconstruction", "target", "batch"}
_ARRAY_NAMES = {"labels", "scores", "is_member", "truth", "answers", "values", "patient_ids",
                "in_mask", "target_scores", "shadow_scores", "events", "basic", "gaussian",
                "sigmas", "epsilons", "fprs", "kappa", "fpr", "records", "positive", "counts"}


def _kind(param: inspect.Parameter) -> str:
    annotation = "" if param.annotation is inspect.Parameter.empty else str(param.annotation)
    default = param.default
    if param.name in _IMAGE_NAMES:
        return "image"
    if param.name in _ARRAY_NAMES and not annotation:
        return "array"
    if isinstance(default, bool) or re.search(r"\bbool\b", annotation):
        return "flag"
    if isinstance(default, int) or re.search(r"\bint\b", annotation):
        return "integer"
    if isinstance(default, float) or _NUMBER.search(annotation):
        return "number"
    if isinstance(default, str) or re.search(r"\bstr\b", annotation):
        return "text"
    if re.search(r"ndarray|Tensor|Sequence|list|tuple|Iterable|ArrayLike", annotation):
        return "array"
    return "other"


# ------------------------------------------------------------------------------ the fuzz
class _Timeout(BaseException):
    """Raised by the alarm: the call ran longer than CALL_SECONDS."""


class _Found(Exception):
    """Ends an entry point's run at its first finding."""


def _call(func, params, kwargs, positional):
    result = func(*positional, **kwargs)
    if inspect.isgenerator(result) or (hasattr(result, "__next__") and hasattr(result, "__iter__")
                                       and not isinstance(result, (str, bytes))):
        for _ in range(2):
            try:
                next(result)
            except StopIteration:
                break
    return result


def fuzz(*, examples: int = EXAMPLES, only: str | None = None, out=None) -> dict:
    """Run the fuzz in this process; returns the report (see the module docstring)."""
    import tempfile

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from medpriv_widgets.errors import MedprivError

    tmp = Path(tempfile.mkdtemp(prefix="medpriv-fuzz-"))
    valid = _valid_examples(tmp)
    edges = _edges()
    report = {"entry_points": 0, "examples": 0, "findings": {}, "slow": {}, "not_callable": {},
              "not_fuzzed": {}, "seconds": 0.0}
    start = time.monotonic()

    def on_alarm(signum, frame):
        raise _Timeout()

    signal.signal(signal.SIGALRM, on_alarm)
    for name, func in entry_points().items():
        if only and only not in name:
            continue
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError) as exc:
            report["not_callable"][name] = str(exc)
            continue
        params = [p for p in sig.parameters.values()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]
        kinds = {p.name: _kind(p) for p in params}
        needs = [p.name for p in params if kinds[p.name] in ("other", "flag")
                 and p.name not in valid and p.default is inspect.Parameter.empty]
        if needs:
            report["not_fuzzed"][name] = f"needs a {', '.join(needs)}"
            continue
        targets = [p for p in params if kinds[p.name] in edges]
        report["entry_points"] += 1
        tried = [0]

        @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(st.data())
        def run_one(draw):
            tried[0] += 1
            broken = set()
            if targets:
                first = draw.draw(st.sampled_from(targets), label="break")
                broken.add(first.name)
                if len(targets) > 1 and draw.draw(st.booleans(), label="two"):
                    broken.add(draw.draw(st.sampled_from(targets), label="also").name)
            kwargs, positional, shown = {}, [], {}
            for p in params:
                if p.name in broken:
                    value = draw.draw(st.sampled_from(edges[kinds[p.name]]), label=p.name)
                elif p.name in valid:
                    value = valid[p.name]()
                elif p.default is not inspect.Parameter.empty:
                    continue
                else:
                    value = draw.draw(st.sampled_from(edges[kinds[p.name]]), label=p.name)
                shown[p.name] = value
                if p.kind is p.POSITIONAL_ONLY:
                    positional.append(value)
                else:
                    kwargs[p.name] = value
            signal.setitimer(signal.ITIMER_REAL, CALL_SECONDS)
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    warnings.simplefilter("ignore")
                    _call(func, params, kwargs, positional)
            except _Timeout:
                report["slow"].setdefault(name, _show(shown))
            except MedprivError as exc:
                if not actionable(str(exc)):
                    report["findings"][name] = {"error": type(exc).__name__,
                                                "message": str(exc)[:300],
                                                "call": _show(shown), "why": "not a sentence"}
                    raise _Found() from None
            except SystemExit:
                if not name.startswith("medpriv_widgets.cli."):
                    report["findings"][name] = {"error": "SystemExit", "message": "",
                                                "call": _show(shown), "why": "raw error"}
                    raise _Found() from None
            except Exception as exc:  # noqa: BLE001 — every other error is the finding
                report["findings"][name] = {
                    "error": type(exc).__name__, "message": str(exc)[:300], "call": _show(shown),
                    "why": "raw error", "where": traceback.format_exc(limit=-2)[-600:]}
                raise _Found() from None
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)

        try:
            run_one()
        except _Found:
            pass
        except Exception as exc:  # hypothesis itself gave up on this entry point
            report["findings"].setdefault(name, {"error": type(exc).__name__,
                                                 "message": str(exc)[:300], "call": "",
                                                 "why": "harness"})
        report["examples"] += tried[0]
        if out is not None:
            print(f"{name}: {tried[0]} examples"
                  + (" FINDING" if name in report["findings"] else ""), file=out, flush=True)
    report["seconds"] = round(time.monotonic() - start, 1)
    return report


def _show(values: dict) -> str:
    parts = []
    for k, v in values.items():
        text = repr(v)
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            text = f"{type(v).__name__}(shape={tuple(v.shape)}, dtype={v.dtype})"
        parts.append(f"{k}={text[:60]}")
    return ", ".join(parts)[:400]


def _child(out_path: str, examples: int, only: str | None) -> None:
    """The fuzz in this (child) process, under an address-space cap."""
    import resource

    import medpriv_widgets.privacy.accounting  # noqa: F401 — imports torch and opacus first
    import opacus  # noqa: F401

    entry_points()  # import every module before the cap
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    cap = vm + 4 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    report = fuzz(examples=examples, only=only, out=sys.stderr)
    report["address_space_cap_gib"] = round(cap / 2**30, 1)
    Path(out_path).write_text(json.dumps(report, indent=1, default=str))


# ------------------------------------------------------------------------------ the test
@pytest.mark.slow
def test_every_entry_point_gives_a_result_or_a_typed_sentence(tmp_path):
    out = tmp_path / "fuzz.json"
    env = dict(os.environ, MEDPRIV_LEDGER_DIR=str(tmp_path / "ledgers"),
               MEDPRIV_CACHE_DIR=str(tmp_path / "results"),
               MEDPRIV_DOWNLOAD_DIR=str(tmp_path / "downloads"), MEDPRIV_OFFLINE="1",
               OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("MEDPRIV_DEVICE", None)
    # serve.serve copies the lessons to a dashboards folder before Voila starts: not $HOME.
    env["MEDPRIV_DASHBOARDS_DIR"] = str(tmp_path / "dashboards")
    proc = subprocess.run([sys.executable, __file__, str(out), str(EXAMPLES)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-3000:]
    report = json.loads(out.read_text())
    findings = report["findings"]
    print(f"\nfuzzed {report['entry_points']} entry points with {report['examples']} examples "
          f"in {report['seconds']} s (address space capped at {report['address_space_cap_gib']} "
          f"GiB); {len(report['not_fuzzed'])} need an object with no example; "
          f"{len(report['slow'])} had a call stopped after {CALL_SECONDS} s; "
          f"{len(findings)} findings, {len(KNOWN_RAW_ERRORS)} known.")
    for name, f in findings.items():
        print(f"  {'known' if name in KNOWN_RAW_ERRORS else 'NEW  '} {name}: {f['error']}: "
              f"{f['message'][:160]} [{f['call'][:160]}]")
    assert report["entry_points"] >= 100 and report["examples"] >= 10 * report["entry_points"] // 2
    new = {n: f for n, f in findings.items() if n not in KNOWN_RAW_ERRORS}
    assert not new, "raw errors or wordless typed errors:\n" + json.dumps(new, indent=1)[:6000]
    fixed = [n for n in KNOWN_RAW_ERRORS if n not in findings]
    if fixed:
        print(f"no longer failing (remove from KNOWN_RAW_ERRORS): {fixed}")


def test_actionable_sentences_are_recognised():
    assert actionable("`delta` must be in (0, 1); got 2. Choose δ well below 1/N.")
    assert not actionable("must")  # too short
    assert not actionable("division by zero")
    assert not actionable("KeyError: 'x'")


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
