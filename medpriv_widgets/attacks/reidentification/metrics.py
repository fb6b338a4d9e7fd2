"""Verification AUC and retrieval precision for patient re-identification, and the pixel baseline.

- **Verification**: for every pair of held-out images, is it the same patient? Score = cosine
  similarity of the embeddings; AUC over all same-patient pairs against all other pairs (the
  Mann–Whitney statistic, with ties counted half).
- **Retrieval**: each held-out image of a patient who has another held-out image is a query;
  the gallery is every other held-out image. precision@1: the most similar image is the same
  patient's. precision@5: share of the 5 most similar that are (at most m/5 for a patient with m
  other images). hit@5: the patient is somewhere among the 5 (what the lab shows).
- **Pixel baseline**: the embedding of an image is the image itself, centred and normalised, so
  the similarity is the Pearson correlation of the pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from ...errors import InvalidParameterError
from ..reconstruction.threat import check_images


@dataclass(frozen=True)
class ReidMetrics:
    """Re-identification on held-out patients."""

    verification_auc: float
    precision_at_1: float
    precision_at_5: float
    hit_at_5: float
    n_queries: int
    n_gallery: int

    def as_dict(self) -> dict:
        return asdict(self)


def pixel_embeddings(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, S, S) float in [0, 1] → (N, S·S): centred, unit-norm pixels (dot product =
    Pearson r)."""
    v = check_images(images).flatten(1).to(torch.float64)
    v = v - v.mean(dim=1, keepdim=True)
    return (v / v.norm(dim=1, keepdim=True).clamp(min=1e-12)).to(torch.float32)


def _check(emb, ids) -> tuple[np.ndarray, np.ndarray]:
    e = emb.detach().cpu().numpy() if hasattr(emb, "detach") else np.asarray(emb)
    ids = np.asarray(ids)
    if e.ndim != 2 or ids.ndim != 1 or e.shape[0] != ids.shape[0] or e.shape[0] < 2:
        raise InvalidParameterError(
            f"`embeddings` must be (N, D) with one patient ID per row, N ≥ 2; got "
            f"{e.shape} and {ids.shape}.")
    return e.astype(np.float64), ids


def verification_auc(embeddings, patient_ids) -> float:
    """AUC of 'same patient?' over all pairs, scored by cosine similarity (NaN if no pair)."""
    e, ids = _check(embeddings, patient_ids)
    n = e.shape[0]
    iu = np.triu_indices(n, 1)
    scores = (e @ e.T)[iu]
    same = (ids[:, None] == ids[None, :])[iu]
    n_pos = int(same.sum())
    n_neg = same.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[same].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def similarity_ranking(query, gallery, *, exclude_self: bool, k: int) -> np.ndarray:
    """Indices (Q, k) of the k most similar gallery rows per query (self excluded if asked)."""
    q = query.detach().cpu().to(torch.float64) if hasattr(query, "detach") else torch.as_tensor(query, dtype=torch.float64)
    g = gallery.detach().cpu().to(torch.float64) if hasattr(gallery, "detach") else torch.as_tensor(gallery, dtype=torch.float64)
    sim = q @ g.T
    if exclude_self:
        sim.fill_diagonal_(-float("inf"))
    return torch.topk(sim, k=min(k, g.shape[0] - int(exclude_self)), dim=1).indices.numpy()


def retrieval_metrics(embeddings, patient_ids, *, queries=None) -> ReidMetrics:
    """Retrieval and verification on one set of held-out images.

    ``queries``: optional different embeddings of the same images (e.g. of the anonymised
    X-rays) used as queries against the original gallery; default the embeddings themselves.
    """
    e, ids = _check(embeddings, patient_ids)
    q = e if queries is None else _check(queries, patient_ids)[0]
    n = e.shape[0]
    same = ids[:, None] == ids[None, :]
    np.fill_diagonal(same, False)
    has = same.any(axis=1)
    if not has.any():
        raise InvalidParameterError(
            "No held-out patient has two images, so nobody can be re-identified; use data where "
            "some patients have several X-rays.")
    top = similarity_ranking(torch.from_numpy(q[has]), torch.from_numpy(e), exclude_self=False,
                             k=6)
    rows = np.flatnonzero(has)
    # drop the query itself from its own ranking (its original is in the gallery)
    ranked = [t[t != r][:5] for t, r in zip(top, rows)]
    hits = np.array([same[r, t] for r, t in zip(rows, ranked)])
    if queries is None:
        auc = verification_auc(e, ids)
    else:
        # Anonymised query against every original other than itself.
        sim = q @ e.T
        iu = ~np.eye(n, dtype=bool)
        s = sim[iu]
        y = same[iu]
        r = rankdata(s)
        npos = int(y.sum())
        auc = float((r[y].sum() - npos * (npos + 1) / 2) / (npos * (y.size - npos)))
    return ReidMetrics(verification_auc=float(auc), precision_at_1=float(hits[:, 0].mean()),
                       precision_at_5=float(hits.mean()), hit_at_5=float(hits.any(axis=1).mean()),
                       n_queries=int(has.sum()), n_gallery=n - 1)


__all__ = ["ReidMetrics", "pixel_embeddings", "retrieval_metrics", "similarity_ranking",
           "verification_auc"]
