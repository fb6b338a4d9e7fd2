"""One "anonymous" X-ray → the most similar X-rays of the archive, and whether the patient is among
them. What the lookup lab shows; pure numbers from a :class:`~.experiment.ReidTraining` result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..._validate import check_int
from ...errors import InvalidParameterError


@dataclass(frozen=True)
class Lookup:
    """The answer for one query.

    query : int — position of the query among the held-out images.
    matches : numpy int array (k,) — positions of the most similar other held-out images, best
    first. same_patient : bool array (k,). similarity : float array (k,) (cosine).
    rank : int or None — 1-based rank of the first image of the same patient among the k.
    """

    query: int
    matches: np.ndarray
    same_patient: np.ndarray
    similarity: np.ndarray
    rank: int | None


def queries_with_a_partner(result: dict, patient_ids: np.ndarray) -> np.ndarray:
    """Held-out positions whose patient has another held-out X-ray (the queries that can hit)."""
    ids = np.asarray(patient_ids)[result["test_index"]]
    _, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
    return np.flatnonzero(counts[inv] > 1)


def lookup(result: dict, patient_ids: np.ndarray, query: int, *, k: int = 5,
           anonymised: bool = False) -> Lookup:
    """The ``k`` archive X-rays most similar to held-out X-ray ``query``.

    ``patient_ids``: of the whole data set (the result stores positions). ``anonymised``: use the
    embedding of the anonymised query (cropped, corners blurred) against the original archive.
    """
    n = len(result["test_index"])
    query = check_int("query", query, low=0, high=n - 1,
                      hint=f"There are {n} held-out X-rays.")
    k = check_int("k", k, low=1, high=min(50, n - 1))
    ids = np.asarray(patient_ids)
    if ids.shape[0] <= int(np.max(result["test_index"])):
        raise InvalidParameterError("`patient_ids` must be those of the data the result was "
                                    "computed on; it is too short.")
    ids = ids[result["test_index"]]
    gallery = result["test_embeddings"]
    q = (result["test_embeddings_anonymised"] if anonymised else gallery)[query]
    sim = (gallery.to(torch.float64) @ q.to(torch.float64)).numpy()
    sim[query] = -np.inf
    order = np.argsort(-sim, kind="stable")[:k]
    same = ids[order] == ids[query]
    hit = np.flatnonzero(same)
    return Lookup(query=query, matches=order, same_patient=same, similarity=sim[order],
                  rank=int(hit[0]) + 1 if hit.size else None)


__all__ = ["Lookup", "lookup", "queries_with_a_partner"]
