"""The membership attacks by name: what each one computes from what the attacker sees.

The attacker sees the target model's scores on candidate X-rays (``target_scores``, (N, A):
logit-scaled confidences) and its own shadow models' scores on the same X-rays
(``shadow_scores``, (K, N, A), with ``in_mask`` (K, N) saying which shadow trained on which).
Nothing here knows who really was a member; scoring against the truth is
:func:`medpriv_widgets.attacks.membership.roc.roc_curve` and friends.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..._validate import check_choice
from .lira import lira_scores
from .loss_attack import loss_threshold_scores


def _lira_online(target_scores, shadow_scores, in_mask):
    return lira_scores(target_scores=target_scores, shadow_scores=shadow_scores, in_mask=in_mask,
                       online=True)


def _lira_offline(target_scores, shadow_scores, in_mask):
    return lira_scores(target_scores=target_scores, shadow_scores=shadow_scores, in_mask=in_mask,
                       online=False)


def _loss(target_scores, shadow_scores, in_mask):
    return loss_threshold_scores(target_scores=target_scores)


#: name → attack(target_scores, shadow_scores, in_mask) → membership score (N,), higher =
#: "more likely a member".
ATTACK_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "lira_online": _lira_online, "lira_offline": _lira_offline, "loss": _loss}
#: Attack names, in the order results list them.
ATTACKS = tuple(ATTACK_FUNCTIONS)


def run_attacks(*, target_scores, shadow_scores, in_mask, attacks=ATTACKS) -> dict[str, np.ndarray]:
    """{name: membership scores (N,)} of each named attack, from the attacker's view only."""
    out = {}
    for name in attacks:
        check_choice("attacks", name, ATTACKS)
        out[name] = ATTACK_FUNCTIONS[name](target_scores, shadow_scores, in_mask)
    return out


__all__ = ["ATTACKS", "ATTACK_FUNCTIONS", "run_attacks"]
