"""An arena scenario served as an AnoMed challenge (``SupervisedLearningMIAChallenge`` routes).

Routes and wire format are those of ``anomed_challenge.supervised_learning_MIA_challenge_
server_factory`` (anomed-challenge 0.0.21):

=========================================================  ===================================
GET  /                                                      ``{"message": …}``
GET  /data/anonymizer/training                              X, y: the scenario's members
GET  /data/anonymizer/tuning | /validation                  X, y = [] (targets withheld)
GET  /data/deanonymizer/members | /non-members              X, y the attacker may train on
GET  /data/attack-success-evaluation?anonymizer=&           X, y to infer memberships of
     deanonymizer=&data_split=tuning|validation
POST /utility/anonymizer?anonymizer=&data_split=            array ``prediction`` → 201 JSON
POST /utility/deanonymizer?anonymizer=&deanonymizer=&       array ``prediction`` → 201 JSON
     data_split=
=========================================================  ===================================

What differs, on purpose. AnoMed's members and non-members are random halves of images; ours
are cut by patient (a child's second X-ray must not give the first away), from the arena's
split (:func:`~medpriv_widgets.arena.submissions.attack_split`): tuning = the official test
split, validation = the non-members (both patient-disjoint from the members). AnoMed scores an
attack's booleans with ``fpr = fp / n`` over *all* n evaluated X-rays; the answer here carries
that number as ``fpr`` (so AnoMed tools read what they expect) and the standard
``fpr_standard = fp / (fp + tn)`` beside it. An attack may post a ``score`` array with its
booleans (AnoMed's challenge ignores extra arrays): then the answer adds the full ROC — AUC and
TPR at 0.1 % and 1 % FPR with Clopper–Pearson intervals. Every evaluation is kept
(``evaluations``), where AnoMed posts placeholder numbers to its platform. X-rays travel as
uint8, labels as uint8.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np

from ...errors import InvalidParameterError
from .web import App, HTTPError, arrays_response, json_response, serve
from .wire import images_to_uint8

SPLITS = ("tuning", "validation")


@dataclass(frozen=True)
class ChallengeData:
    """The arrays a challenge hands out (X uint8 (N, 1, S, S), y uint8 (N,))."""

    training: tuple[np.ndarray, np.ndarray]
    tuning: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    members: tuple[np.ndarray, np.ndarray]
    non_members: tuple[np.ndarray, np.ndarray]
    eval_members: tuple[np.ndarray, np.ndarray]
    eval_non_members: tuple[np.ndarray, np.ndarray]


def challenge_data(data) -> ChallengeData:
    """The challenge of an arena scenario (its :class:`~medpriv_widgets.arena.data.ScenarioData`)."""
    from ..data import check_scenario_data
    from ..submissions import attack_split

    pop = check_scenario_data(data).population
    X = images_to_uint8(pop.data.images)
    y = pop.data.labels.numpy().astype(np.uint8)
    split = attack_split(data)

    def part(index):
        index = np.asarray(index)
        return X[index], y[index]

    test = data.test
    return ChallengeData(
        training=part(pop.members), validation=part(pop.non_members),
        tuning=(images_to_uint8(test.images), test.labels.numpy().astype(np.uint8)),
        members=part(split["known_members"]), non_members=part(split["known_nonmembers"]),
        eval_members=part(split["eval_members"]), eval_non_members=part(split["eval_nonmembers"]))


def _seed(anonymizer: str, deanonymizer: str) -> int:
    # as AnoMed: the pair's names fix which X-rays each attack is judged on
    return int(hashlib.sha256((anonymizer + deanonymizer).encode()).hexdigest(), 16) % 2**63


class ArenaChallenge:
    """The challenge's data and judges; :func:`challenge_app` puts them on the routes."""

    def __init__(self, data: ChallengeData) -> None:
        if not isinstance(data, ChallengeData):
            raise InvalidParameterError(f"`data` must be ChallengeData; got {type(data).__name__}.")
        self.data = data
        self.evaluations: list[dict] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ data
    def mia_positions(self, *, anonymizer: str, deanonymizer: str, data_split: str):
        """(positions in ``eval_members``, positions in ``eval_non_members``, final order):
        the pair's tuning or validation half of each, as many of each."""
        rng = np.random.default_rng(_seed(anonymizer, deanonymizer))
        halves = []
        for _, y in (self.data.eval_members, self.data.eval_non_members):
            order = rng.permutation(len(y))
            halves.append(order[: len(y) // 2] if data_split == "tuning"
                          else order[len(y) // 2:])
        n = min(len(halves[0]), len(halves[1]))
        return halves[0][:n], halves[1][:n], rng.permutation(2 * n)

    def mia_evaluation(self, *, anonymizer: str, deanonymizer: str, data_split: str):
        """(X, y, is_member) an attack is judged on: its pair's half of the held-out members and
        non-members (tuning or validation), as many of each, shuffled."""
        m, nm, order = self.mia_positions(anonymizer=anonymizer, deanonymizer=deanonymizer,
                                          data_split=data_split)
        (Xm, ym), (Xn, yn) = self.data.eval_members, self.data.eval_non_members
        X = np.concatenate([Xm[m], Xn[nm]])
        y = np.concatenate([ym[m], yn[nm]])
        member = np.r_[np.ones(len(m), bool), np.zeros(len(nm), bool)]
        return X[order], y[order], member[order]

    # ------------------------------------------------------------------ judges
    def evaluate_anonymizer(self, *, prediction: np.ndarray, data_split: str,
                            probability: np.ndarray | None = None, anonymizer: str = "") -> dict:
        """Utility of an anonymizer's answers on the tuning or validation X-rays.

        ``prediction``: labels (AnoMed: the dtype of y; strict accuracy), or probabilities of
        pneumonia (N,) / (N, 2). ``probability`` (optional): probabilities beside labels.
        Returns accuracy, and AUC, sensitivity, specificity when probabilities are known.
        """
        from ...training.evaluate import binary_metrics

        y = (self.data.tuning if data_split == "tuning" else self.data.validation)[1]
        pred = np.asarray(prediction)
        if pred.ndim == 2 and pred.shape[1] == 2:
            pred = pred[:, 1]
        if pred.shape[0] != len(y) or pred.ndim != 1:
            raise HTTPError(400, f"`prediction` must hold one answer per X-ray ({len(y)}); got "
                                 f"shape {np.asarray(prediction).shape}.")
        if not np.isfinite(pred.astype(float)).all():
            raise HTTPError(400, "`prediction` holds NaN or infinite values.")
        probs = None
        if probability is not None:
            probs = np.asarray(probability, float)
            probs = probs[:, 1] if probs.ndim == 2 else probs
        elif np.issubdtype(pred.dtype, np.floating) and not np.isin(pred, (0.0, 1.0)).all():
            probs = pred.astype(float)
        labels = (probs >= 0.5) if probs is not None and probability is None else pred
        out = {"accuracy": float(np.mean(labels.astype(np.int64) == y.astype(np.int64))),
               "n": int(len(y))}
        if probs is not None:
            if probs.shape != y.shape or probs.min() < 0 or probs.max() > 1:
                raise HTTPError(400, "`probability` must be (N,) or (N, 2) in [0, 1].")
            m = binary_metrics(probs, y)
            out.update(auc=m["auc"], sensitivity=m["sensitivity"], specificity=m["specificity"])
        self._keep({"kind": "anonymizer", "anonymizer": anonymizer, "data_split": data_split,
                    **out})
        return out

    def evaluate_deanonymizer(self, *, prediction: np.ndarray, anonymizer: str,
                              deanonymizer: str, data_split: str,
                              score: np.ndarray | None = None) -> dict:
        """An attack's guesses against the truth: AnoMed's acc, tpr, fpr (= fp / n) and the
        standard FPR fp / (fp + tn); with scores, the full ROC (:mod:`..scoring`)."""
        from ..scoring import membership_fields

        _, _, member = self.mia_evaluation(anonymizer=anonymizer, deanonymizer=deanonymizer,
                                           data_split=data_split)
        pred = np.asarray(prediction)
        if pred.shape != member.shape:
            raise HTTPError(400, f"`prediction` must hold one membership per X-ray "
                                 f"({member.shape[0]}); got shape {pred.shape}.")
        out = {"n": int(member.size), "n_members": int(member.sum()),
               "n_nonmembers": int((~member).sum())}
        if pred.dtype == bool:
            tp = int((pred & member).sum())
            fp = int((pred & ~member).sum())
            tn = int((~pred & ~member).sum())
            fn = int((~pred & member).sum())
            out.update(acc=(tp + tn) / member.size, tpr=tp / max(tp + fn, 1),
                       fpr=fp / member.size, fpr_standard=fp / max(fp + tn, 1),
                       tp=tp, fp=fp, tn=tn, fn=fn)
        elif score is None:
            score = pred
        if score is not None:
            s = np.asarray(score, float)
            if s.shape != member.shape or not np.isfinite(s).all():
                raise HTTPError(400, f"`score` must be {member.shape[0]} finite numbers.")
            fields = membership_fields(scores=s, is_member=member, delta=1e-5)
            out.update({k: (bool(v) if isinstance(v, (bool, np.bool_)) else float(v))
                        for k, v in fields.items() if k not in ("n_members", "n_nonmembers")})
        self._keep({"kind": "deanonymizer", "anonymizer": anonymizer,
                    "deanonymizer": deanonymizer, "data_split": data_split, **out})
        return out

    def _keep(self, record: dict) -> None:
        with self._lock:
            self.evaluations.append(record)


def challenge_app(challenge: ArenaChallenge) -> App:
    """The challenge's routes (see the module docstring)."""
    d = challenge.data
    empty = np.array([])

    def data(X, y):
        return lambda req: arrays_response({"X": X, "y": y})

    def mia_data(req):
        X, y, _ = challenge.mia_evaluation(
            anonymizer=req.param("anonymizer"), deanonymizer=req.param("deanonymizer"),
            data_split=req.param("data_split", choices=SPLITS))
        return arrays_response({"X": X, "y": y})

    def utility_anonymizer(req):
        arrays = req.arrays(expected=("prediction",))
        out = challenge.evaluate_anonymizer(
            prediction=arrays["prediction"], probability=arrays.get("probability"),
            data_split=req.param("data_split", choices=SPLITS),
            anonymizer=req.query.get("anonymizer", ""))
        return json_response(out, 201)

    def utility_deanonymizer(req):
        arrays = req.arrays(expected=("prediction",))
        out = challenge.evaluate_deanonymizer(
            prediction=arrays["prediction"], score=arrays.get("score"),
            anonymizer=req.param("anonymizer"), deanonymizer=req.param("deanonymizer"),
            data_split=req.param("data_split", choices=SPLITS))
        return json_response(out, 201)

    return App({
        ("GET", "/"): lambda req: json_response({"message": "Challenge server is alive!"}),
        ("GET", "/data/anonymizer/training"): data(*d.training),
        ("GET", "/data/anonymizer/tuning"): data(d.tuning[0], empty),
        ("GET", "/data/anonymizer/validation"): data(d.validation[0], empty),
        ("GET", "/data/deanonymizer/members"): data(*d.members),
        ("GET", "/data/deanonymizer/non-members"): data(*d.non_members),
        ("GET", "/data/attack-success-evaluation"): mia_data,
        ("POST", "/utility/anonymizer"): utility_anonymizer,
        ("POST", "/utility/deanonymizer"): utility_deanonymizer,
    })


def serve_challenge(challenge: ArenaChallenge, *, host: str = "127.0.0.1", port: int = 0):
    """Serve ``challenge`` (a :class:`~.web.Server`: ``.url``, ``.close()``)."""
    return serve(challenge_app(challenge), host=host, port=port)


__all__ = ["ArenaChallenge", "ChallengeData", "SPLITS", "challenge_app", "challenge_data",
           "serve_challenge"]
