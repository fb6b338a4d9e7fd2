"""Re-identification of a reconstructed X-ray: is the closest X-ray in the archive the same child?

After Packhäuser et al. 2022 (an X-ray identifies its patient): the attacker holds the
hospital's archive (every population X-ray except the attacked ones) and looks up each
reconstruction from :mod:`.update_attack` in it by pixel correlation
(:func:`medpriv_widgets.attacks.reidentification.pixel_embeddings`, the baseline that needs no
training). A hit means the most similar archive X-ray belongs to the attacked patient. Only
attacked X-rays whose patient has another X-ray in the archive count. The same lookup with the
true X-ray as the query is the ceiling (what a perfect reconstruction would give).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..attacks.reidentification import pixel_embeddings, similarity_ranking


def _hits(queries: np.ndarray, archive: torch.Tensor, archive_ids: np.ndarray,
          ids: np.ndarray) -> np.ndarray:
    q = pixel_embeddings(torch.from_numpy(queries.astype(np.float32) / 255.0))
    top = similarity_ranking(q, pixel_embeddings(archive), exclude_self=False, k=1)[:, 0]
    return archive_ids[top] == ids


def reidentification(*, attack, population) -> dict:
    """{'reidentified', 'reidentified_truth', 'n_queries'} for an UpdateAttackResult.

    ``reidentified``: share of queries whose reconstruction's nearest archive X-ray is the same
    patient (NaN when no attacked patient has another X-ray); ``reidentified_truth``: the same
    with the true X-ray as query.
    """
    ids = np.asarray(population.patient_ids)
    keep = np.ones(len(ids), dtype=bool)
    keep[attack.index] = False
    archive_ids = ids[keep]
    target_ids = ids[attack.index]
    has_twin = np.isin(target_ids, archive_ids)
    n = int(has_twin.sum())
    if n == 0:
        return {"reidentified": math.nan, "reidentified_truth": math.nan, "n_queries": 0}
    archive = population.data.images[torch.from_numpy(np.flatnonzero(keep))]
    rec = _hits(attack.reconstruction[has_twin], archive, archive_ids, target_ids[has_twin])
    true = _hits(attack.truth[has_twin], archive, archive_ids, target_ids[has_twin])
    return {"reidentified": float(rec.mean()), "reidentified_truth": float(true.mean()),
            "n_queries": n}


__all__ = ["reidentification"]
