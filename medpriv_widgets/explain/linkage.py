"""Anonymisation in words: re-identification, uniqueness, pseudonyms, k-anonymity, homogeneity,
and re-identification from the X-ray itself.

Pure functions: numbers in, a :class:`~.statement.Statement` out. A share of patients put at risk
is a fact about *this* release, so it is written as measured (rounded to two significant digits by
:func:`~.numbers.format_percent`); nothing here promises safety.
"""

from __future__ import annotations

from .._validate import check_int, check_real
from .numbers import format_count, format_percent
from .statement import Statement


def _share(name: str, value: float) -> float:
    return check_real(name, value, low=0.0, high=1.0)


def reidentification_statement(*, share: float, n_rows: int, columns) -> Statement:
    """"Releasing birth date + sex + postcode put a name to 67% of the 2,000 rows." """
    share = _share("share", share)
    n_rows = check_int("n_rows", n_rows, low=1)
    cols = " + ".join(str(c).replace("_", " ") for c in columns)
    named = round(share * n_rows)
    if named == 0:
        text = (f"Releasing {cols}: the attacker could not put a name to any of the "
                f"{format_count(n_rows)} rows with this public source.")
    else:
        text = (f"Releasing {cols} let the attacker put the right name to "
                f"{format_count(named)} of the {format_count(n_rows)} \"anonymous\" rows "
                f"({format_percent(share)}) — and with the name, the diagnosis.")
    return Statement(text, dict(share=share, n_rows=n_rows, named=named, columns=list(columns)))


def uniqueness_statement(*, share: float, anchor_share: float, anchor_claim: str,
                         citation: str) -> Statement:
    """Our uniqueness beside a published figure, with the citation."""
    share = _share("share", share)
    anchor_share = _share("anchor_share", anchor_share)
    text = (f"In this synthetic registry {format_percent(share)} of patients are the only one "
            f"with their postcode, birth date and sex. For comparison: {anchor_claim} "
            f"({citation}).")
    return Statement(text, dict(share=share, anchor_share=anchor_share))


def pseudonym_statement(*, share_recovered: float, seconds: float, n_candidates: int,
                        keyed_share_recovered: float) -> Statement:
    """The dictionary attack on hashed names, and what the keyed pseudonym changes."""
    share = _share("share_recovered", share_recovered)
    keyed = _share("keyed_share_recovered", keyed_share_recovered)
    seconds = check_real("seconds", seconds, low=0.0)
    n_candidates = check_int("n_candidates", n_candidates, low=1)
    text = (f"Hashing the names without a secret hid nothing: hashing {format_count(n_candidates)} "
            f"names from a public register took {seconds:.2g} s and recovered "
            f"{format_percent(share)} of the pseudonyms. With a secret key (HMAC) the same "
            f"attack recovered {format_percent(keyed)} — but the key does not stop linkage: the "
            "same patient still has the same pseudonym in every release.")
    return Statement(text, dict(share_recovered=share, keyed_share_recovered=keyed,
                                seconds=seconds, n_candidates=n_candidates))


def k_anonymity_statement(*, k: int, k_reached: int, levels: str, suppressed: int, n_rows: int,
                          information_loss: float, reidentified: float) -> Statement:
    """What reaching k cost and bought."""
    k = check_int("k", k, low=1)
    k_reached = check_int("k_reached", k_reached, low=0)
    suppressed = check_int("suppressed", suppressed, low=0)
    n_rows = check_int("n_rows", n_rows, low=1)
    loss = _share("information_loss", information_loss)
    re_id = _share("reidentified", reidentified)
    if k == 1:
        text = (f"k = 1: the table is released as recorded; {format_percent(re_id)} of its rows "
                "can be named.")
    else:
        text = (f"To hide every patient among at least {k} (reached: {k_reached}), the table "
                f"was coarsened: {levels}"
                + (f" and {format_count(suppressed)} of {format_count(n_rows)} rows were removed"
                   if suppressed else "")
                + f". That lost {format_percent(loss)} of the detail; rows named one-to-one: "
                f"{format_percent(re_id)}.")
    return Statement(text, dict(k=k, k_reached=k_reached, suppressed=suppressed, n_rows=n_rows,
                                information_loss=loss, reidentified=re_id))


def homogeneity_statement(*, n_disclosed: int, n_targets: int, k: int) -> Statement:
    """The homogeneity attack in words."""
    n_disclosed = check_int("n_disclosed", n_disclosed, low=0)
    n_targets = check_int("n_targets", n_targets, low=0)
    k = check_int("k", k, low=1)
    if n_targets == 0:
        return Statement("The attacker knows nobody in this release.", {})
    if n_disclosed == 0:
        text = (f"Homogeneity attack: none of the {format_count(n_targets)} patients the "
                f"attacker knows sits in a group with one single diagnosis at k = {k}.")
    else:
        text = (f"Homogeneity attack: {format_count(n_disclosed)} of the "
                f"{format_count(n_targets)} patients the attacker knows sit in a group where "
                f"every row has the same diagnosis, so their diagnosis is revealed although each "
                f"hides among at least {k}. ℓ-diversity (several diagnoses per group) is what "
                "would stop this.")
    return Statement(text, dict(n_disclosed=n_disclosed, n_targets=n_targets, k=k))


def xray_reidentification_statement(*, precision_at_1: float, hit_at_5: float,
                                    baseline_precision_at_1: float, verification_auc: float,
                                    n_gallery: int, who: str = "child") -> Statement:
    """Re-identification from the X-ray alone, beside the pixel baseline (``who``: 'child' for
    the pediatric set, 'patient' for adults)."""
    p1 = _share("precision_at_1", precision_at_1)
    h5 = _share("hit_at_5", hit_at_5)
    base = _share("baseline_precision_at_1", baseline_precision_at_1)
    auc = _share("verification_auc", verification_auc)
    n_gallery = check_int("n_gallery", n_gallery, low=1)
    text = (f"Shown one X-ray of a {who} it never saw in training, the network picks that "
            f"{who}'s other X-ray as the most similar of {format_count(n_gallery)} archive "
            f"images {format_percent(p1)} of the time, and has it among the top 5 "
            f"{format_percent(h5)} of the time (comparing raw pixels: {format_percent(base)} at "
            f"the top). Telling whether two X-rays show the same patient: AUC {auc:.2f}.")
    return Statement(text, dict(precision_at_1=p1, hit_at_5=h5, baseline_precision_at_1=base,
                                verification_auc=auc, n_gallery=n_gallery))


__all__ = ["homogeneity_statement", "k_anonymity_statement", "pseudonym_statement",
           "reidentification_statement", "uniqueness_statement",
           "xray_reidentification_statement"]
