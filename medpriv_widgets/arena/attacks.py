"""The arena's attacks, registered by name, and what each one sees.

=================  ===========================================================================
loss               loss threshold (Yeom et al. 2018): the target's confidence alone
lira_offline       LiRA without "in" models (Carlini et al. 2022): the attacker's 8 shadow models
lira_online        LiRA with "in" and "out" shadow models
reconstruction     Inverting Gradients on one shared update (:mod:`.update_attack`)
reidentification   the reconstruction looked up in the hospital's archive (:mod:`.reidentification`)
=================  ===========================================================================

Membership attacks see the target's scores on the candidate X-rays and the attacker's own
shadow models (:func:`medpriv_widgets.attacks.membership.run_attacks`), never who was a member.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._validate import check_choice
from ..errors import InvalidParameterError

KINDS = ("membership", "reconstruction", "reidentification")


@dataclass(frozen=True)
class ArenaAttack:
    """Base class: ``name`` (registry key), ``title`` (a few words for tables)."""

    name: str
    title: str
    kind: ClassVar[str] = ""

    @property
    def needs_shadows(self) -> bool:
        return False

    def key(self) -> dict:
        return {"kind": self.kind, **{f.name: getattr(self, f.name)
                                      for f in dataclasses.fields(self) if f.name != "title"}}


@dataclass(frozen=True)
class MembershipAttack(ArenaAttack):
    """One of :data:`medpriv_widgets.attacks.membership.ATTACKS` (``method``)."""

    method: str = "lira_online"
    kind: ClassVar[str] = "membership"

    def __post_init__(self) -> None:
        from ..attacks.membership import ATTACKS as METHODS

        check_choice("method", self.method, METHODS)

    @property
    def needs_shadows(self) -> bool:
        return self.method != "loss"

    def scores(self, *, target_scores, bank=None) -> np.ndarray:
        """Membership score (N,) from the target's scores (N, A) and the attacker's shadows."""
        from ..attacks.membership import run_attacks

        if self.needs_shadows and bank is None:
            raise InvalidParameterError(f"{self.title} needs the attacker's shadow models.")
        shadow = bank.shadow_scores if bank is not None else None
        mask = bank.in_mask if bank is not None else None
        return run_attacks(target_scores=target_scores, shadow_scores=shadow, in_mask=mask,
                           attacks=(self.method,))[self.method]


@dataclass(frozen=True)
class ReconstructionAttack(ArenaAttack):
    """Gradient inversion of one defended update (PSNR / SSIM of what it rebuilds)."""

    kind: ClassVar[str] = "reconstruction"


@dataclass(frozen=True)
class ReidentificationAttack(ArenaAttack):
    """The reconstruction looked up in the hospital's archive (share of children found)."""

    kind: ClassVar[str] = "reidentification"


ATTACKS: dict[str, ArenaAttack] = {}


def register_attack(attack: ArenaAttack) -> ArenaAttack:
    """Add ``attack`` to :data:`ATTACKS` under its name."""
    if not isinstance(attack, ArenaAttack) or attack.kind not in KINDS:
        raise InvalidParameterError(
            f"`attack` must be an ArenaAttack of kind {KINDS}; got {type(attack).__name__}.")
    if attack.name in ATTACKS and ATTACKS[attack.name] != attack:
        raise InvalidParameterError(f"A different attack is already registered as "
                                    f"{attack.name!r}; choose another name.")
    ATTACKS[attack.name] = attack
    return attack


def get_attack(name: str) -> ArenaAttack:
    """The attack registered as ``name``."""
    if name not in ATTACKS:
        raise InvalidParameterError(
            f"`attack` must be one of {', '.join(map(repr, ATTACKS))}; got {name!r}.")
    return ATTACKS[name]


for _a in (MembershipAttack("loss", "loss threshold", method="loss"),
           MembershipAttack("lira_offline", "LiRA (offline)", method="lira_offline"),
           MembershipAttack("lira_online", "LiRA (online)", method="lira_online"),
           ReconstructionAttack("reconstruction", "reconstruction from an update"),
           ReidentificationAttack("reidentification", "re-identification of the reconstruction")):
    register_attack(_a)

__all__ = ["ATTACKS", "ArenaAttack", "KINDS", "MembershipAttack", "ReconstructionAttack",
           "ReidentificationAttack", "get_attack", "register_attack"]
