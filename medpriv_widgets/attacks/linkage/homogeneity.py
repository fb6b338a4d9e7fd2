"""The homogeneity attack: a k-anonymous release can still reveal a diagnosis.

The attacker knows that a person was in the hospital (a neighbour, a colleague) and their
quasi-identifiers (from the public source). They generalise those exactly as the release did,
find the person's equivalence class, and read the diagnoses in it. When every row of the class
has the same diagnosis (ℓ = 1 for that class), the person's diagnosis is disclosed, however
large k is (Machanavajjhala et al. 2007).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...errors import InvalidParameterError
from .generalise import AnonymisedRelease
from .population import SENSITIVE, TRUTH


@dataclass(frozen=True)
class HomogeneityResult:
    """Who had their diagnosis revealed by a homogeneous class.

    Attributes
    ----------
    n_targets : int
        Public persons known to be patients (those the attacker targets).
    n_disclosed : int
        Targets whose class holds one diagnosis only.
    n_correct : int
        Disclosed and equal to the true diagnosis (ground truth; with a faithful release every
        disclosure is correct).
    disclosed : DataFrame
        ``name``, ``diagnosis`` (revealed), ``class_size`` for each disclosed target.
    """

    n_targets: int
    n_disclosed: int
    n_correct: int
    disclosed: pd.DataFrame

    @property
    def share_disclosed(self) -> float:
        return self.n_disclosed / self.n_targets if self.n_targets else 0.0


def homogeneity_attack(release: AnonymisedRelease, public: pd.DataFrame, *,
                       registry: pd.DataFrame | None = None,
                       sensitive: str = SENSITIVE) -> HomogeneityResult:
    """Attack an anonymised release with the public source.

    Parameters
    ----------
    release : AnonymisedRelease or MondrianRelease
        From :func:`~medpriv_widgets.attacks.linkage.anonymise` or
        :func:`~medpriv_widgets.attacks.linkage.mondrian`.
    public : DataFrame
        The attacker's source (names and quasi-identifiers); targets are its rows whose hidden
        ``person_id`` is a patient of the release (the attacker knows they were in hospital).
    registry : DataFrame, optional
        The original registry, to score disclosures against the true diagnosis.
    sensitive : str
        The column that is revealed (default ``diagnosis``).
    """
    from .mondrian import MondrianRelease

    if not isinstance(release, (AnonymisedRelease, MondrianRelease)):
        raise InvalidParameterError(
            f"`release` must come from anonymise() or mondrian(); got "
            f"{type(release).__name__}.")
    table = release.table
    if sensitive not in table.columns:
        raise InvalidParameterError(
            f"`sensitive` must be a column of the release; got {sensitive!r}.")
    missing = [c for c in release.qi if c not in public.columns]
    if missing:
        raise InvalidParameterError(
            f"The public source lacks the quasi-identifier(s) {missing}, so the attacker cannot "
            "place anyone in a class. Release them only if the public source has them.")
    qi = list(release.qi)
    patients = set(table[TRUTH].tolist()) | (set(registry[TRUTH].tolist()) if registry is not None
                                              else set())
    targets = public.loc[public[TRUTH].isin(patients) & (public[TRUTH] > 0)]
    targets = release.place(targets[["name", TRUTH, *qi]]).dropna(subset=qi)
    stats = table.groupby(qi, dropna=False)[sensitive].agg(["nunique", "first", "size"])
    stats = stats.rename(columns={"nunique": "n_values", "first": "value", "size": "class_size"})
    joined = targets.merge(stats.reset_index(), on=qi, how="inner")
    hit = joined.loc[joined["n_values"] == 1]
    disclosed = pd.DataFrame({"name": hit["name"].to_numpy(),
                              sensitive: hit["value"].to_numpy(),
                              "class_size": hit["class_size"].to_numpy(),
                              TRUTH: hit[TRUTH].to_numpy()})
    if registry is not None:
        truth = registry.set_index(TRUTH)[sensitive]
        ok = disclosed[sensitive].to_numpy() == truth.reindex(disclosed[TRUTH]).to_numpy()
        n_correct = int(np.sum(ok))
    else:
        n_correct = len(disclosed)
    return HomogeneityResult(n_targets=len(targets), n_disclosed=len(disclosed),
                             n_correct=n_correct,
                             disclosed=disclosed.drop(columns=TRUTH).reset_index(drop=True))


__all__ = ["HomogeneityResult", "homogeneity_attack"]
