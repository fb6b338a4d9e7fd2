"""Membership experiments in words: how members and non-members were split, and how an
instructor prepares the lessons.

Pure functions: numbers in, a :class:`~.statement.Statement` (or a string) out.
"""

from __future__ import annotations

from .._validate import check_choice, check_int
from .numbers import format_count
from .statement import Statement

__all__ = ["precompute_command", "split_statement"]


def split_statement(*, by_patient: bool, n_images: int, n_member_patients: int,
                    n_nonmember_patients: int, n_shared: int) -> Statement:
    """Which split the experiment used: by patient (IDs known) or by image (IDs unknown).

    ``n_shared``: patients with images on both sides (0 for a patient split; unknown, so
    reported as a risk, for an image split).
    """
    n_images = check_int("n_images", n_images, low=1)
    m = check_int("n_member_patients", n_member_patients, low=0)
    nm = check_int("n_nonmember_patients", n_nonmember_patients, low=0)
    shared = check_int("n_shared", n_shared, low=0)
    if by_patient and shared == 0:
        text = (f"Members and non-members were split by patient: {format_count(m)} patients' "
                f"X-rays trained the model, {format_count(nm)} other patients' X-rays did not, "
                f"and no patient is on both sides ({format_count(n_images)} X-rays in all).")
    elif by_patient:
        text = (f"Members and non-members were split by patient, but {format_count(shared)} "
                f"patients have X-rays on both sides: for them, a second X-ray can give the "
                f"first away, which flatters the attack.")
    else:
        text = (f"The data carry no patient IDs, so members and non-members were split by X-ray "
                f"({format_count(n_images)} X-rays), not by patient: a child with two X-rays "
                f"may be on both sides, where the second can give the first away. That "
                f"flatters the attack; with patient IDs the split is by patient.")
    return Statement(text, dict(by_patient=bool(by_patient), n_images=n_images,
                                n_member_patients=m, n_nonmember_patients=nm, n_shared=shared))


def precompute_command(profile: str) -> str:
    """The command that prepares what a dashboard of ``profile`` reads. The workshop profile
    contains the binder profile (tested), so instructors run one command for every lesson."""
    profile = check_choice("profile", profile, ("fast", "binder", "workshop"))
    return f"medpriv precompute --profile {'fast' if profile == 'fast' else 'workshop'}"
