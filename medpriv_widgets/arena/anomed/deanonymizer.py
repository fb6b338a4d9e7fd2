"""LiRA as an AnoMed deanonymizer (``supervised_learning_MIA_server_factory``).

:class:`LiraDeanonymizer` has AnoMed's ``SupervisedLearningMIA`` interface: ``fit(X_member,
y_member, X_nonmember, y_nonmember)`` trains K shadow models (the project's stacked training,
:func:`medpriv_widgets.attacks.membership.train_stacked`) on complementary random halves of the
X-rays the challenge lets the attacker see; ``infer_memberships(X, y)`` queries the target (the
anonymizer's ``/predict``, a black box) and runs **offline** LiRA: no shadow model trained on
the X-rays being judged (they are new to the attacker), so each X-ray's "out" Gaussian of
logit-scaled confidences is compared with the target's. Its score is −log of the one-sided
p-value; the boolean AnoMed wants is "p-value ≤ ``alpha``", a false-positive rate fixed in
advance (the test is calibrated by construction). Routes:

====================================  ====================================================
GET  /                                ``{"message": …}``
POST /fit                             GET the challenge's members and non-members, train
                                      the shadow models → 201
POST /evaluate?data_split=            GET the X-rays to judge, query the target, POST
                                      ``prediction`` (bool) and ``score`` (float) to the
                                      challenge's ``/utility/deanonymizer`` → 201 with its
                                      evaluation
====================================  ====================================================
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ...errors import InvalidParameterError
from .web import App, HTTPError, get_arrays, json_response, post_arrays, post_json, serve
from .wire import images_from_wire


def target_probability(prediction: np.ndarray) -> np.ndarray:
    """Probability of pneumonia (N,) from an anonymizer's ``/predict`` answer: (N, 2) class
    probabilities, or (N,) probabilities (labels work, but saturate LiRA's score)."""
    try:
        p = np.asarray(prediction)
    except (TypeError, ValueError):  # ragged nested lists
        p = None
    if p is None or p.dtype.kind not in "biuf":
        raise InvalidParameterError(
            f"The target's answer must be probabilities, numbers of shape (N, 2) or (N,) in "
            f"[0, 1]; got {type(prediction).__name__}"
            f"{'' if p is None else f' of dtype {p.dtype}'}.")
    p = p.astype(float)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    if p.ndim != 1:
        got = f"shape {np.shape(prediction)}"
    elif not np.isfinite(p).all():
        got = f"{int((~np.isfinite(p)).sum())} NaN or infinite values"
    elif p.size and (p.min() < 0 or p.max() > 1):
        got = f"values from {p.min():.3g} to {p.max():.3g}"
    else:
        return p
    raise InvalidParameterError(f"The target's answer must be probabilities, (N, 2) or (N,) in "
                                f"[0, 1]; got {got}.")


class LiraDeanonymizer:
    """Offline LiRA with ``n_shadows`` shadow models of the scenario's recipe.

    ``query``: a function X (uint8) → the target's answer (set by the server: the anonymizer's
    ``/predict``; or given directly).
    """

    def __init__(self, *, scenario: str = "pneumonia-28", n_shadows: int | None = None,
                 epochs: int | None = None, alpha: float = 0.01, query=None,
                 device=None) -> None:
        from ..._validate import check_int, check_open_unit
        from ..scenarios import get_scenario

        self.settings = get_scenario(scenario).membership
        self.n_shadows = check_int("n_shadows", n_shadows if n_shadows is not None
                                   else self.settings.n_shadows, low=2, high=256)
        self.epochs = check_int("epochs", epochs if epochs is not None
                                else self.settings.shadow_epochs, low=1)
        self.alpha = check_open_unit("alpha", alpha)
        self.query, self.device = query, device
        self.shadows = None

    def validate_input(self, feature_array) -> None:
        from ...errors import ProtocolError

        try:
            images_from_wire(feature_array, size=self.settings.size)
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None

    def fit(self, X_member, y_member, X_nonmember, y_nonmember) -> None:
        """Train the shadow models on complementary halves of all X-rays given."""
        import torch

        from ...attacks.membership import complementary_halves, train_stacked
        from ...progress import last_record

        s = self.settings
        X = np.concatenate([images_from_wire(np.asarray(X_member), size=s.size),
                            images_from_wire(np.asarray(X_nonmember), size=s.size)])
        y = np.concatenate([np.asarray(y_member), np.asarray(y_nonmember)]).astype(np.int64)
        if len(X) < 4:
            raise InvalidParameterError("LiRA needs at least 4 known X-rays to train shadows.")
        ids = np.arange(len(X)).astype(str)  # the attacker knows no patient IDs
        mask = complementary_halves(ids, n_models=self.n_shadows, seed=s.seed)
        last = last_record(train_stacked(
            images=torch.from_numpy(X), labels=torch.from_numpy(y), in_mask=mask, size=s.size,
            width=s.width, activation=s.activation, epochs=self.epochs,
            batch_size=s.batch_size, lr=s.lr, schedule=s.lr_schedule, seed=s.seed,
            device=self.device))
        self.shadows = last.partial

    def scores(self, X, y, target_answer) -> np.ndarray:
        """Offline LiRA score (N,) of each X-ray, given the target's answer on X."""
        import torch

        from ...attacks.membership import lira_scores, stacked_scores
        from ..submissions import logit_scores

        if self.shadows is None:
            raise InvalidParameterError("This deanonymizer is not fitted yet; call fit first.")
        s = self.settings
        x = torch.from_numpy(images_from_wire(np.asarray(X), size=s.size))
        labels = np.asarray(y).astype(np.int64)
        target = logit_scores(target_probability(target_answer), labels)
        shadow = stacked_scores(state_dicts=self.shadows, images=x,
                                labels=torch.from_numpy(labels), size=s.size, width=s.width,
                                activation=s.activation, augment=False, device=self.device)
        out = np.zeros(shadow.shape[:2], dtype=bool)  # no shadow saw these X-rays
        return lira_scores(target_scores=target, shadow_scores=shadow, in_mask=out, online=False)

    def infer_memberships(self, X, y, batch_size: int | None = None) -> np.ndarray:
        """AnoMed's booleans: member when the one-sided p-value is at most ``alpha``."""
        return self.decide(self.scores(X, y, self._ask(X)))

    def decide(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) >= -math.log(self.alpha)

    def _ask(self, X) -> np.ndarray:
        if self.query is None:
            raise InvalidParameterError("The deanonymizer has no target to query (`query`).")
        return self.query(np.asarray(X))


def deanonymizer_app(deanonymizer: LiraDeanonymizer, *, challenge_url: str, target_url: str,
                     anonymizer_id: str, deanonymizer_id: str = "arena-lira",
                     timeout: float = 600.0) -> App:
    """AnoMed's deanonymizer routes around ``deanonymizer``; data and judging from the
    challenge at ``challenge_url`` (``CHALLENGE_HOST``), the target's ``/predict`` at
    ``target_url`` (``ATTACK_TARGET_HOST``)."""
    lock = threading.Lock()
    if deanonymizer.query is None:
        deanonymizer.query = lambda X: post_arrays(f"{target_url}/predict", arrays={"X": X},
                                                   expected=("prediction",),
                                                   timeout=timeout)["prediction"]

    def fit(req):
        if not lock.acquire(blocking=False):
            raise HTTPError(503, "Fitting is already in progress. Aborting current attempt.")
        try:
            m = get_arrays(f"{challenge_url}/data/deanonymizer/members", expected=("X", "y"),
                           timeout=timeout)
            n = get_arrays(f"{challenge_url}/data/deanonymizer/non-members",
                           expected=("X", "y"), timeout=timeout)
            deanonymizer.fit(m["X"], m["y"], n["X"], n["y"])
        finally:
            lock.release()
        return json_response({"message": "Fitting has been completed successfully."}, 201)

    def evaluate(req):
        if deanonymizer.shadows is None:
            raise HTTPError(400, "This deanonymizer is not fitted yet.")
        split = req.param("data_split", choices=("tuning", "validation"))
        ids = {"anonymizer": anonymizer_id, "deanonymizer": deanonymizer_id}
        d = get_arrays(f"{challenge_url}/data/attack-success-evaluation",
                       params={**ids, "data_split": split}, expected=("X", "y"),
                       timeout=timeout)
        scores = deanonymizer.scores(d["X"], d["y"], deanonymizer._ask(d["X"]))
        evaluation = post_json(f"{challenge_url}/utility/deanonymizer",
                               arrays={"prediction": deanonymizer.decide(scores),
                                       "score": scores.astype(np.float64)},
                               params={**ids, "data_split": split}, timeout=timeout)
        return json_response({"message": f"The deanonymizer has been evaluated based on "
                                         f"{split} data.", "evaluation": evaluation}, 201)

    return App({("GET", "/"): lambda req: json_response({"message":
                                                         "Deanonymizer server is alive!"}),
                ("POST", "/fit"): fit, ("POST", "/evaluate"): evaluate})


def serve_deanonymizer(deanonymizer: LiraDeanonymizer, *, challenge_url: str, target_url: str,
                       anonymizer_id: str, deanonymizer_id: str = "arena-lira",
                       host: str = "127.0.0.1", port: int = 0):
    """Serve ``deanonymizer`` (a :class:`~.web.Server`)."""
    return serve(deanonymizer_app(deanonymizer, challenge_url=challenge_url,
                                  target_url=target_url, anonymizer_id=anonymizer_id,
                                  deanonymizer_id=deanonymizer_id), host=host, port=port)


__all__ = ["LiraDeanonymizer", "deanonymizer_app", "serve_deanonymizer", "target_probability"]
