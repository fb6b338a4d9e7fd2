"""The benchmark arena: scenarios × defences × attacks, a leaderboard, and the AnoMed protocol.

- :mod:`.scenarios`: what is attacked (pneumonia at 28 / 64 px, patient-disjoint members,
  non-members and population), registered by name.
- :mod:`.defences` / :mod:`.attacks`: the registries (none, DP-SGD, clipping only, top-k
  pruning, large batches, FedAvg; loss, LiRA offline/online, reconstruction from an update,
  re-identification of the reconstruction).
- :mod:`.targets`, :mod:`.update_attack`, :mod:`.cells`: every piece a cached, stoppable
  stage; :class:`~.cells.CellResult` is the one result type of a cell.
- :mod:`.scoring`: the full ROC, TPR at 0.1 % / 1 % FPR with Clopper–Pearson intervals (and
  whether they are resolved), the audited ε lower bound.
- :mod:`.board`: a board of cells, run as one computation.
- :mod:`.leaderboard`: SQLite (one file, WAL); :mod:`.views`: Pareto front and heat-map.
- :mod:`.submissions`: a defence or attack written in a notebook, checked, run in its own
  time-limited process.
- :mod:`.anomed`: the AnoMed challenge / anonymizer / deanonymizer protocol.

Names are imported lazily, so ``python -m medpriv_widgets.arena.sandbox`` (the process a
submission runs in) starts without loading torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Scenario": ".scenarios", "SCENARIOS": ".scenarios", "get_scenario": ".scenarios",
    "register_scenario": ".scenarios",
    "Defence": ".defences", "DEFENCES": ".defences", "DefendedModel": ".defences",
    "get_defence": ".defences", "register_defence": ".defences",
    "ArenaAttack": ".attacks", "ATTACKS": ".attacks", "get_attack": ".attacks",
    "register_attack": ".attacks",
    "ArenaCell": ".cells", "CellResult": ".cells",
    "Board": ".board", "DEFAULT_ATTACKS": ".board", "DEFAULT_DEFENCES": ".board",
    "Leaderboard": ".leaderboard",
    "pareto_front": ".views", "heatmap": ".views",
    "submit_defence": ".submissions", "submit_attack": ".submissions",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted(_EXPORTS)
