"""Benchmarks run by ``medpriv bench NAME [--quick] [--json]``.

Each benchmark is a module ``medpriv_widgets.bench.<name>`` with one function
``run(*, quick: bool = False, progress: bool = True) -> dict`` returning a JSON-serialisable dict.
Speed and memory targets live here, never in timed tests.
"""

from __future__ import annotations

import importlib
import resource
import sys

from ..errors import InvalidParameterError

def _discover() -> dict[str, str]:
    """{name: first line of its docstring} for every module in this package (read without
    importing it, so ``medpriv --help`` stays fast). A new benchmark is just a new module."""
    import ast
    import pkgutil
    from pathlib import Path

    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("_"):
            continue
        source = (Path(__file__).parent / f"{info.name}.py").read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(source)) or info.name
        found[info.name] = doc.strip().splitlines()[0].removeprefix("Benchmark: ").rstrip(".")
    return dict(sorted(found.items()))


#: name → one line saying what it measures (every module of this package).
BENCHMARKS = _discover()


def run_benchmark(name: str, *, quick: bool = False, progress: bool = True) -> dict:
    """Import ``medpriv_widgets.bench.<name>`` and return its ``run(quick=...)`` result."""
    if name not in BENCHMARKS:
        raise InvalidParameterError(
            f"Unknown benchmark {name!r}. Choose one of: {', '.join(sorted(BENCHMARKS))}.")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.run(quick=quick, progress=progress)


def peak_rss_mb() -> float:
    """Peak resident memory of this process's own address space so far, in MiB.

    ``VmHWM`` of /proc/self/status on Linux; elsewhere ``ru_maxrss``. Not ``ru_maxrss`` on
    Linux: it is carried over fork and exec, so a process started from a 1 GB parent reports at
    least 1 GB before it has done anything (measured here).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
