"""One cell of the board (scenario × defence × attack) as a stage, and its one result type.

A cell reads what it needs from the cache (the defended target, the attacker's shadow models,
the update attack; a board lists those stages before its cells, so each trains once), runs the
attack from the attacker's view and scores it against the truth (:mod:`.scoring`). Its result,
:class:`CellResult`, has the same fields for every kind of attack: what does not apply to a cell
is NaN (never missing), so tables, the leaderboard and sentences read any row the same way.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidParameterError
from ..experiments.stage import Stage
from ..progress import Progress
from .attacks import ArenaAttack
from .data import ScenarioData, scenario_data
from .defences import Defence
from .scenarios import Scenario

NAN = math.nan
#: Recognisable reconstruction (see medpriv_widgets.attacks.reconstruction.metrics).
PSNR_RECOGNISABLE_DB, SSIM_RECOGNISABLE = 25.0, 0.7


@dataclass(frozen=True)
class CellResult:
    """Everything the arena reports about one defence against one attack on one scenario.

    Identity: ``scenario``, ``defence``, ``attack`` (names), ``kind`` of attack
    ('membership', 'reconstruction', 'reidentification'); ``status`` 'ok' or 'failed' (then
    ``reason`` says why, in a sentence, and the numbers are NaN).

    Utility of the released model on the official test split: ``utility_auc``,
    ``utility_sensitivity``, ``utility_specificity``.

    Membership (NaN otherwise): ``mia_auc``; ``tpr_at_0_1pct`` / ``tpr_at_1pct`` with
    Clopper–Pearson ``…_low`` / ``…_high`` (95 %); ``resolved_0_1pct`` / ``resolved_1pct``:
    whether enough non-members were scored to resolve that FPR; ``n_members``,
    ``n_nonmembers``; ``epsilon_audited``: lower bound on ε the attack proves (95 %).

    Reconstruction and re-identification: ``psnr_db``, ``ssim`` (means over the attacked
    X-rays), ``recognisable`` (share with PSNR ≥ 25 dB and SSIM ≥ 0.7), ``reidentified``
    (share found in the archive; ``reidentified_truth`` with the true X-ray as query).

    Privacy claim: ``epsilon_claimed`` (∞ without DP) at ``delta``. Cost:
    ``seconds_defence`` (training the released model), ``seconds_attack`` (the attack,
    including the attacker's shadow models). ``synthetic``: computed on phantoms.
    """

    scenario: str
    defence: str
    attack: str
    kind: str
    status: str = "ok"
    reason: str = ""
    utility_auc: float = NAN
    utility_sensitivity: float = NAN
    utility_specificity: float = NAN
    mia_auc: float = NAN
    tpr_at_0_1pct: float = NAN
    tpr_at_0_1pct_low: float = NAN
    tpr_at_0_1pct_high: float = NAN
    tpr_at_1pct: float = NAN
    tpr_at_1pct_low: float = NAN
    tpr_at_1pct_high: float = NAN
    resolved_0_1pct: bool = False
    resolved_1pct: bool = False
    n_members: int = 0
    n_nonmembers: int = 0
    epsilon_audited: float = NAN
    psnr_db: float = NAN
    ssim: float = NAN
    recognisable: float = NAN
    reidentified: float = NAN
    reidentified_truth: float = NAN
    epsilon_claimed: float = math.inf
    delta: float = NAN
    seconds_defence: float = NAN
    seconds_attack: float = NAN
    synthetic: bool = False

    def __post_init__(self) -> None:
        if self.status not in ("ok", "failed"):
            raise InvalidParameterError(f"`status` must be 'ok' or 'failed'; got {self.status!r}.")
        if self.status == "failed" and not self.reason:
            raise InvalidParameterError("A failed cell needs a `reason` (a sentence).")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def risk(self) -> float:
        """Share of attacked patients exposed: members found at 1 % false accusations
        (membership), recognisable reconstructions, or children re-identified. NaN if failed."""
        return {"membership": self.tpr_at_1pct, "reconstruction": self.recognisable,
                "reidentification": self.reidentified}.get(self.kind, NAN)

    @property
    def seconds(self) -> float:
        return float(np.nansum([self.seconds_defence, self.seconds_attack]))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))


def failed_cell(*, scenario: str, defence: str, attack: str, kind: str, reason: str,
                **numbers) -> CellResult:
    """A row marked failed, with the reason (numbers NaN unless given)."""
    return CellResult(scenario=scenario, defence=defence, attack=attack, kind=kind,
                      status="failed", reason=reason, **numbers)


def utility_fields(utility: dict) -> dict:
    return {"utility_auc": float(utility.get("auc", NAN)),
            "utility_sensitivity": float(utility.get("sensitivity", NAN)),
            "utility_specificity": float(utility.get("specificity", NAN))}


def reconstruction_fields(attack) -> dict:
    """PSNR, SSIM and the recognisable share of an :class:`~.update_attack.UpdateAttackResult`."""
    psnr, ssim = np.asarray(attack.psnr, float), np.asarray(attack.ssim, float)
    return {"psnr_db": float(psnr.mean()), "ssim": float(ssim.mean()),
            "recognisable": float(np.mean((psnr >= PSNR_RECOGNISABLE_DB)
                                          & (ssim >= SSIM_RECOGNISABLE)))}


def result_of(stage, *, cache, stop, device, title: str):
    """Yield ``stage``'s records (re-titled, no partials) and return its result, or None when
    it was stopped (its last record, stopped, has been yielded)."""
    last = None
    for last in stage.run(cache=cache, stop=stop, device=device):
        if last.stopped:
            yield last.with_(stage=title, partial=None)
            return None
        if not last.finished:
            yield last.with_(stage=title, partial=None)
    return None if last is None else last.partial


@dataclass(frozen=True)
class ArenaCell(Stage):
    """``attack`` against ``defence`` on ``scenario``. Result: :class:`CellResult`."""

    scenario: Scenario
    defence: Defence
    attack: ArenaAttack
    data: Any = field(default=None, compare=False, repr=False, metadata={"key": False})

    namespace: ClassVar[str] = "arena"

    def __post_init__(self) -> None:
        if not isinstance(self.defence, Defence) or not isinstance(self.attack, ArenaAttack):
            raise InvalidParameterError("`defence` must be a Defence and `attack` an ArenaAttack.")
        if self.data is None:
            object.__setattr__(self, "data", scenario_data(self.scenario))
        elif not isinstance(self.data, ScenarioData):
            raise InvalidParameterError("`data` must be a ScenarioData.")

    @property
    def title(self) -> str:
        return f"{self.attack.title} vs {self.defence.title}"

    def key(self) -> dict:
        return {"stage": "ArenaCell", "scenario": self.scenario.key(),
                "defence": self.defence.key(), "attack": self.attack.key(),
                "data": self.data.fingerprint}

    def estimate_seconds(self) -> float:
        return 0.5  # the stages it reads are listed before it on a board

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        from .targets import DefendedTarget
        from .update_attack import UpdateAttack

        sc, data, attack = self.scenario, self.data, self.attack
        model = yield from result_of(DefendedTarget(sc, self.defence, data=data), cache=cache,
                                     stop=stop, device=device, title=self.title)
        if model is None:
            return
        base = dict(scenario=sc.name, defence=self.defence.name, attack=attack.name,
                    kind=attack.kind, epsilon_claimed=float(model.epsilon),
                    delta=float(model.delta), seconds_defence=float(model.seconds),
                    synthetic=data.synthetic, **utility_fields(model.utility))
        t0 = time.perf_counter()
        if attack.kind == "membership":
            bank, shadow_seconds = None, 0.0
            if attack.needs_shadows:
                bank = yield from result_of(data.shadows, cache=cache, stop=stop, device=device,
                                            title=self.title)
                if bank is None:
                    return
                k = sc.membership.n_shadows
                shadow_seconds = bank.seconds * k / (k + 1)
            from .scoring import membership_fields

            scores = attack.scores(target_scores=model.scores, bank=bank)
            fields = membership_fields(scores=scores, is_member=model.trained_on,
                                       delta=model.delta, seed=sc.seed)
            seconds = time.perf_counter() - t0 + shadow_seconds
        else:
            res = yield from result_of(UpdateAttack(sc, self.defence, data=data), cache=cache,
                                       stop=stop, device=device, title=self.title)
            if res is None:
                return
            fields = reconstruction_fields(res)
            if attack.kind == "reidentification":
                from .reidentification import reidentification

                found = reidentification(attack=res, population=data.population)
                fields.update(reidentified=found["reidentified"],
                              reidentified_truth=found["reidentified_truth"])
            seconds = res.seconds + time.perf_counter() - t0
        cell = CellResult(**base, **fields, seconds_attack=float(seconds))
        yield Progress(self.title, 1, 1, f"{self.title}: done.", partial=cell)


__all__ = ["ArenaCell", "CellResult", "failed_cell", "reconstruction_fields", "result_of",
           "utility_fields"]
