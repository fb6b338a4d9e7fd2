"""A board: one scenario, some defences, some attacks — every cell a stage of the experiment layer.

Wiring in a few visible lines::

    board = Board(scenario="pneumonia-28")                 # the default defences and attacks
    for p in board.run(cache=store, stop=token):           # trains what is not cached yet
        print(p.message)
    rows = board.results(cache=store)                      # list of CellResult, instantly

:meth:`Board.stages` lists, in order, the defended targets (the undefended one first: it
trains the attacker's shadow models with it), the update attacks, then the cells, so every
piece is computed once and ``run_stages`` shows one progress bar over all of it. A board is
what ``medpriv bench arena``, the arena lab's Compute button, the notebook and the tests run.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..cache import ResultStore
from ..errors import InvalidParameterError, NotComputedYet
from ..experiments.stage import Stage, run_stages
from ..progress import Progress
from ..stopping import StopToken
from .attacks import get_attack
from .cells import ArenaCell, CellResult
from .data import scenario_data
from .defences import get_defence
from .scenarios import Scenario, get_scenario
from .targets import DefendedTarget
from .update_attack import UpdateAttack

#: The default board's defences and attacks (28 px: 7 defences × 5 attacks).
DEFAULT_DEFENCES = ("none", "dpsgd-eps1", "dpsgd-eps8", "clip-only", "topk-10", "large-batch",
                    "fedavg")
DEFAULT_ATTACKS = ("loss", "lira_offline", "lira_online", "reconstruction", "reidentification")
#: The small scenario's board (MEDPRIV_FAST lessons, CI): its 100 members are too few for
#: batches of 256 or four hospitals.
SMALL_DEFENCES = ("none", "dpsgd-eps8", "clip-only", "topk-10")


def _names(kind: str, names, get) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise InvalidParameterError(f"`{kind}` must be a non-empty list of names; got {names!r}.")
    out = tuple(names)
    for n in out:
        get(n)  # an unknown name is an error naming the registry
    if len(set(out)) != len(out):
        raise InvalidParameterError(f"`{kind}` lists a name twice: {list(out)}.")
    return out


@dataclass(frozen=True)
class Board:
    """``scenario`` (a name or a Scenario) × ``defences`` × ``attacks`` (registry names).

    None for defences or attacks takes the defaults (:data:`DEFAULT_DEFENCES`, or
    :data:`SMALL_DEFENCES` for the 'pneumonia-28-small' scenario; :data:`DEFAULT_ATTACKS`).
    """

    scenario: Scenario | str = "pneumonia-28"
    defences: tuple[str, ...] | None = None
    attacks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        sc = self.scenario if isinstance(self.scenario, Scenario) else get_scenario(self.scenario)
        object.__setattr__(self, "scenario", sc)
        default = SMALL_DEFENCES if sc.name == "pneumonia-28-small" else DEFAULT_DEFENCES
        object.__setattr__(self, "defences", _names(
            "defences", default if self.defences is None else self.defences, get_defence))
        object.__setattr__(self, "attacks", _names(
            "attacks", DEFAULT_ATTACKS if self.attacks is None else self.attacks, get_attack))

    @functools.cached_property
    def data(self):
        """The scenario's X-rays (loaded once, shared by every stage of this board)."""
        return scenario_data(self.scenario)

    # ------------------------------------------------------------------ stages
    def targets(self) -> list[DefendedTarget]:
        # 'none' first: it trains the attacker's shadow models in the same run
        order = sorted(self.defences, key=lambda d: d != "none")
        return [DefendedTarget(self.scenario, get_defence(d), data=self.data) for d in order]

    def update_attacks(self) -> list[UpdateAttack]:
        kinds = {get_attack(a).kind for a in self.attacks}
        if not kinds & {"reconstruction", "reidentification"}:
            return []
        return [UpdateAttack(self.scenario, get_defence(d), data=self.data)
                for d in self.defences]

    def cells(self) -> list[ArenaCell]:
        """One cell per defence × attack, in the board's order."""
        return [ArenaCell(self.scenario, get_defence(d), get_attack(a), data=self.data)
                for d in self.defences for a in self.attacks]

    def stages(self) -> list[Stage]:
        """Everything the board needs, in the order it is computed."""
        extra: list[Stage] = []
        if "none" not in self.defences and any(get_attack(a).needs_shadows for a in self.attacks):
            extra.append(self.data.shadows)
        return extra + self.targets() + self.update_attacks() + self.cells()

    # ------------------------------------------------------------------ running
    def seconds_left(self, *, cache: ResultStore | None) -> float:
        return float(sum(s.seconds_left(cache) for s in self.stages()))

    def is_done(self, *, cache: ResultStore | None) -> bool:
        return all(c.is_done(cache) for c in self.cells())

    def run(self, *, cache: ResultStore | None, stop: StopToken | None = None,
            device=None) -> Iterator[Progress]:
        """Compute every cell that is not cached (one progress scale; stoppable)."""
        return run_stages(self.stages(), cache=cache, stop=stop, device=device)

    def results(self, *, cache: ResultStore | None) -> list[CellResult]:
        """Every cell's result from ``cache`` (never computes); NotComputedYet if one is missing."""
        out = []
        for cell in self.cells():
            res = cell.load(cache)
            if res is None:
                raise NotComputedYet(
                    f"The arena board ({self.scenario.title}) is not computed yet: "
                    f"{cell.title} is missing. Press 'Compute' (or run `medpriv bench arena`) "
                    f"first.")
            out.append(res)
        return out


__all__ = ["Board", "DEFAULT_ATTACKS", "DEFAULT_DEFENCES", "SMALL_DEFENCES"]
