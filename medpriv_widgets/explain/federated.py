"""Federated learning in words: a hospital's budget, the comparison of AUCs, what the server saw,
what it could rebuild.

Pure functions: numbers in, a :class:`Statement` out (see :mod:`medpriv_widgets.explain`). A
spent share of a budget is rounded *up* (it never reads as more budget left than there is).
"""

from __future__ import annotations

import math

from .._validate import check_int, check_real
from .numbers import format_count, format_epsilon, format_percent
from .statement import Statement

__all__ = ["site_budget_statement", "comparison_statement", "leakage_statement",
           "secure_view_statement"]


def site_budget_statement(*, site: str, spent: float, budget: float, locked: bool) -> Statement:
    """One hospital's privacy budget: how much of it the federation has used.

    ``spent``, ``budget``: ε (spent ≥ 0, budget > 0). Locked hospitals are said to be out.
    """
    spent = check_real("spent", spent, low=0.0, allow_inf=True)
    budget = check_real("budget", budget, low=0.0, low_inclusive=False)
    share = 1.0 if locked or not math.isfinite(spent) else min(1.0, spent / budget)
    shown = math.ceil(share * 100) / 100  # round the used share up
    if locked:
        text = (f"{site} has used up its privacy budget ({format_epsilon(budget)}): it is locked "
                f"and takes no further part. The other hospitals go on without its X-rays.")
    else:
        text = (f"{site} has used {format_percent(shown)} of its privacy budget "
                f"({format_epsilon(budget)}; ε spent so far {spent:.2f}).")
    return Statement(text, {"site": site, "spent": spent, "budget": budget, "share": shown,
                            "locked": bool(locked)})


def comparison_statement(*, federated: float, centralised: float, best_single: float,
                         best_site: str, rounds: int) -> Statement:
    """The federated model's test AUC beside centralised training and the best hospital alone."""
    rounds = check_int("rounds", rounds, low=0)
    vals = {k: check_real(k, v, low=0.0, high=1.0) for k, v in
            (("federated", federated), ("centralised", centralised), ("best_single", best_single))}
    gap = vals["centralised"] - vals["federated"]
    gain = vals["federated"] - vals["best_single"]
    text = (f"After {format_count(rounds)} rounds the shared model reaches AUC "
            f"{vals['federated']:.3f} on children none of the hospitals trained on; pooling all "
            f"X-rays in one place would reach {vals['centralised']:.3f}"
            + (f" ({gap:.3f} more)" if gap > 0.0005 else "")
            + f", and the best hospital alone ({best_site}) {vals['best_single']:.3f}.")
    if gain > 0.0005:
        text += " Working together beats working alone, and no X-ray left its hospital."
    else:
        text += " Here working together did not beat the best hospital alone."
    return Statement(text, dict(vals, gap=gap, gain=gain, best_site=best_site, rounds=rounds))


def secure_view_statement(*, secure: bool, site: str) -> Statement:
    """What the server saw of one hospital's update."""
    if secure:
        text = (f"With secure aggregation the server received only random-looking numbers from "
                f"{site}: alone they say nothing. The masks cancel only when all hospitals' "
                f"numbers are added, so the server learns the sum and nothing else.")
    else:
        text = (f"Without secure aggregation the server received {site}'s update as it is: the "
                f"change of every weight, computed from that hospital's X-rays. That is what a "
                f"reconstruction attack starts from.")
    return Statement(text, {"secure": bool(secure), "site": site})


def leakage_statement(*, n_sites: int, psnr: float, verdict: str) -> Statement:
    """How well the attack rebuilt X-rays from one hospital's update or from the sum of N."""
    n_sites = check_int("n_sites", n_sites, low=1)
    psnr = check_real("psnr", psnr, allow_inf=True)
    source = ("one hospital's update" if n_sites == 1 else
              f"the securely added updates of {n_sites} hospitals")
    if verdict == "recognisable":
        text = (f"From {source} the attack rebuilt the X-ray closely enough to recognise the "
                f"child ({psnr:.0f} dB).")
    else:
        text = (f"From {source} the attack's pictures are not recognisable ({psnr:.0f} dB): the "
                f"X-rays are mixed together in the sum.")
    if n_sites > 1:
        text += (" This protects against a server that follows the rules. A malicious server can "
                 "defeat secure aggregation (Fowl et al. 2022), so differential privacy is still "
                 "needed.")
    return Statement(text, {"n_sites": n_sites, "psnr": psnr, "verdict": verdict})
