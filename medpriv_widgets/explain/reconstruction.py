"""Reconstruction in words: noise levels, what one update and a whole run guarantee, verdicts.

Pure functions: numbers in, text (or a :class:`Statement`) out. The bounds themselves are
computed by the caller (:func:`medpriv_widgets.attacks.reconstruction.one_update_bound`,
:func:`~medpriv_widgets.attacks.reconstruction.run_epsilon`); ε and bounds are rounded *up*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._validate import check_nonnegative, check_open_unit, check_real
from ..errors import InvalidParameterError
from .numbers import format_count, format_number, format_percent
from .privacy import reconstruction_statement
from .statement import Statement

__all__ = ["format_sigma", "format_sigmas", "run_epsilon_text", "one_update_statement",
           "verdict_text", "clipping_comparison_statement"]

#: Above this ε a whole-run guarantee says nothing a clinician could use.
MEANINGLESS_EPSILON = 100.0


def format_sigma(sigma: float) -> str:
    """A noise multiplier for people: 0 → '0', 1e-4 → '0.0001', 6.073259630579806 → '6.07'."""
    return format_number(check_nonnegative("sigma", sigma), digits=3)


def format_sigmas(sigmas: Sequence[float]) -> str:
    """'0, 0.0001, 6.07' — a list of noise multipliers without float dumps."""
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence):
        raise InvalidParameterError(f"`sigmas` must be a sequence of noise multipliers; got "
                                    f"{type(sigmas).__name__}.")
    return ", ".join(format_sigma(s) for s in sigmas)


def run_epsilon_text(epsilon: float) -> str:
    """ε of a whole training run for people, rounded up: '2.2', 'more than 100 (no meaningful
    guarantee)', '∞ (no guarantee)'."""
    eps = check_real("epsilon", epsilon, low=0.0, allow_inf=True)
    if math.isinf(eps):
        return "∞ (no guarantee)"
    if eps > MEANINGLESS_EPSILON:
        return f"more than {MEANINGLESS_EPSILON:,.0f} (no meaningful guarantee)"
    return format_number(eps, rounding="up", digits=2)


def one_update_statement(*, sigma: float, kappa: float, bound: float) -> Statement:
    """What one noisy update guarantees against reconstruction, in words.

    ``sigma``: the noise multiplier of the update (> 0); ``kappa``: the attacker's chance of
    rebuilding a recognisable X-ray without the update; ``bound``: the most it can reach with it
    (:func:`~medpriv_widgets.attacks.reconstruction.one_update_bound`).
    """
    sigma = check_real("sigma", sigma, low=0.0, low_inclusive=False,
                       hint="Without noise (σ = 0) an update guarantees nothing.")
    kappa = check_open_unit("kappa", kappa)
    base = reconstruction_statement(kappa=kappa, bound=bound)  # checks and rounds the numbers
    n = base.numbers
    denom = n["denominator"]
    before = (f"With noise σ = {format_sigma(sigma)} on one update, an attacker who could "
              f"rebuild a recognisable X-ray of {format_count(round(n['baseline'], 1))} in "
              f"{denom:,} patients without the update")
    if n["reconstructed"] >= denom:
        # "at most 1,000 in 1,000 (99.9999999998%)" would be a float dump that says "all".
        text = (f"{before} could, as far as this bound goes, rebuild every patient's X-ray with "
                f"it: the guarantee does not rule reconstruction out.")
    else:
        text = (f"{before} can rebuild at most {n['reconstructed']:,} in {denom:,} with it "
                f"({format_percent(n['bound'], rounding='up')}).")
    return Statement(text, {**n, "sigma": sigma, "mu": 1.0 / sigma})


def verdict_text(psnr_db: float, verdict: str) -> str:
    """'26.5 dB, recognisable' — a scored reconstruction in a few words."""
    p = check_real("psnr_db", psnr_db)
    return f"{p:.1f} dB, {verdict}"


def clipping_comparison_statement(*, dlg_plain: tuple[float, str], dlg_clipped: tuple[float, str],
                                  ig_plain: tuple[float, str],
                                  ig_clipped: tuple[float, str]) -> Statement:
    """What the DLG / Inverting Gradients comparison under clipping showed, in one paragraph.

    Each argument is (PSNR in dB, verdict). The sentence follows the results, so it can never
    contradict the numbers printed above it.
    """
    rows = {"dlg_plain": dlg_plain, "dlg_clipped": dlg_clipped, "ig_plain": ig_plain,
            "ig_clipped": ig_clipped}
    for name, row in rows.items():
        if not (isinstance(row, (tuple, list)) and len(row) == 2
                and row[1] in ("recognisable", "not recognisable")):
            raise InvalidParameterError(
                f"`{name}` must be (PSNR in dB, 'recognisable' or 'not recognisable'); got "
                f"{row!r:.80}.")
        check_real(name, row[0])
    ok = {k: v[1] == "recognisable" for k, v in rows.items()}
    parts = []
    if ok["dlg_plain"] and not ok["dlg_clipped"]:
        parts.append(f"DLG rebuilt the X-ray from the plain update ({verdict_text(*dlg_plain)}) "
                     f"and failed once the update was clipped ({verdict_text(*dlg_clipped)}): "
                     f"its L2 distance needs the update's length.")
    elif not ok["dlg_plain"]:
        parts.append(f"DLG did not get a recognisable X-ray even from the plain update "
                     f"({verdict_text(*dlg_plain)}): it converges slowly and needs more "
                     f"iterations than were run here.")
    else:
        parts.append(f"DLG rebuilt the X-ray with and without clipping "
                     f"({verdict_text(*dlg_plain)}; {verdict_text(*dlg_clipped)}).")
    if ok["ig_clipped"]:
        parts.append(f"Inverting Gradients rebuilt it even from the clipped update "
                     f"({verdict_text(*ig_clipped)}): clipping changes only the update's "
                     f"length, not its direction.")
    else:
        parts.append(f"Inverting Gradients did not get a recognisable X-ray from the clipped "
                     f"update here ({verdict_text(*ig_clipped)}).")
    return Statement(" ".join(parts), {k: v[0] for k, v in rows.items()})
