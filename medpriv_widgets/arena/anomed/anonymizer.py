"""The arena's defences as AnoMed anonymizers (``supervised_learning_anonymizer_server_factory``).

:class:`ArenaAnonymizer` has AnoMed's ``SupervisedLearningAnonymizer`` interface — ``fit(X, y)``,
``predict(X, batch_size)``, ``validate_input(X)`` — and trains a registered defence (its
:meth:`~medpriv_widgets.arena.defences.Defence.config`: DP-SGD, clipping only, top-k pruning,
large batches, or none) through the project's one training path on whatever X-rays a challenge
hands out. :func:`anonymizer_app` serves it on AnoMed's routes:

====================================  ====================================================
GET  /                                ``{"message": …}``
POST /fit                             GET the challenge's training data, train → 201
POST /evaluate?data_split=            GET tuning / validation X, predict, POST the labels (in
                                      the dtype of the training y, as AnoMed's strict accuracy
                                      needs) and the probabilities to the challenge's
                                      ``/utility/anonymizer`` → 201 with its evaluation
POST /predict[?output=labels]         X → ``prediction``: class probabilities (N, 2) float32
                                      (what membership attacks query; ART's classifier
                                      convention), or labels with ``output=labels``
====================================  ====================================================
"""

from __future__ import annotations

import threading

import numpy as np

from ...errors import InvalidParameterError, ProtocolError
from .web import App, HTTPError, arrays_response, get_arrays, json_response, post_json, serve
from .wire import images_from_wire


class ArenaAnonymizer:
    """A registered defence (``defence``) trained on arrays, with the recipe of ``scenario``."""

    def __init__(self, defence: str = "dpsgd-eps8", *, scenario: str = "pneumonia-28",
                 cache=None, device=None) -> None:
        from ..defences import get_defence
        from ..scenarios import get_scenario

        self.defence = get_defence(defence)
        self.scenario = get_scenario(scenario)
        self.cache, self.device = cache, device
        self.defence.config(self.scenario.membership, 1000)  # refuses defences it cannot serve
        self.state_dict = None
        self.y_dtype = np.dtype(np.uint8)
        self.result = None

    @property
    def size(self) -> int:
        return self.scenario.size

    def validate_input(self, feature_array) -> None:
        """ValueError (AnoMed's contract) unless X-rays of the scenario's size."""
        try:
            images_from_wire(feature_array, size=self.size)
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None

    def fit(self, X, y) -> None:
        """Train the defence on X (N, 1, S, S) uint8 or [0, 1] floats and labels y (N,)."""
        import torch

        from ...data import ChestXrayData
        from ...experiments import TrainModel

        x = images_from_wire(np.asarray(X), size=self.size)
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.isin(y, (0, 1)).all():
            raise InvalidParameterError(f"`y` must be one 0/1 label per X-ray ({len(x)}); got "
                                        f"shape {y.shape}.")
        data = ChestXrayData(images=torch.from_numpy(x), labels=torch.from_numpy(y.astype(np.int64)),
                             patient_ids=None, size=self.size, split="train",
                             source="AnoMed challenge data")
        config = self.defence.config(self.scenario.membership, len(x))
        self.result = TrainModel(config, data=data, test_data=data).result(
            cache=self.cache, device=self.device)
        self.state_dict = self.result.state_dict
        self.y_dtype = y.dtype

    def predict_proba(self, X, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (N, 2) float32."""
        import torch

        from ...training import load_model

        if self.state_dict is None:
            raise InvalidParameterError("This anonymizer is not fitted yet; call fit first.")
        model = load_model(self.result)
        x = torch.from_numpy(images_from_wire(np.asarray(X), size=self.size))
        step = batch_size or max(1, len(x))
        with torch.no_grad():
            parts = [torch.softmax(model(x[i:i + step]), 1) for i in range(0, len(x), step)]
        return (torch.cat(parts) if parts else torch.zeros(0, 2)).numpy().astype(np.float32)

    def predict(self, X, batch_size: int | None = None) -> np.ndarray:
        """Labels (N,) in the dtype of the training labels (AnoMed's strict accuracy)."""
        return (self.predict_proba(X, batch_size)[:, 1] >= 0.5).astype(self.y_dtype)


def anonymizer_app(anonymizer: ArenaAnonymizer, *, challenge_url: str,
                   anonymizer_id: str = "arena-anonymizer", timeout: float = 600.0) -> App:
    """AnoMed's anonymizer routes around ``anonymizer``, fed by the challenge at
    ``challenge_url`` (AnoMed's ``CHALLENGE_HOST``)."""
    lock = threading.Lock()  # one fit at a time, as AnoMed's FitResource

    def fit(req):
        if not lock.acquire(blocking=False):
            raise HTTPError(503, "Fitting is already in progress. Aborting current attempt.")
        try:
            d = get_arrays(f"{challenge_url}/data/anonymizer/training", expected=("X", "y"),
                           timeout=timeout)
            anonymizer.fit(d["X"], d["y"])
        finally:
            lock.release()
        return json_response({"message": "Fitting has been completed successfully."}, 201)

    def fitted():
        if anonymizer.state_dict is None:
            raise HTTPError(503, "This anonymizer is not fitted/trained yet.")

    def evaluate(req):
        fitted()
        split = req.param("data_split", choices=("tuning", "validation"))
        X = get_arrays(f"{challenge_url}/data/anonymizer/{split}", expected=("X",),
                       timeout=timeout)["X"]
        proba = anonymizer.predict_proba(X)
        labels = (proba[:, 1] >= 0.5).astype(anonymizer.y_dtype)
        evaluation = post_json(f"{challenge_url}/utility/anonymizer",
                               arrays={"prediction": labels, "probability": proba},
                               params={"anonymizer": anonymizer_id, "data_split": split},
                               timeout=timeout)
        return json_response({"message": f"The anonymizer has been evaluated based on {split} "
                                         f"data.", "evaluation": evaluation}, 201)

    def predict(req):
        fitted()
        X = req.arrays(expected=("X",))["X"]
        try:
            anonymizer.validate_input(X)
        except ValueError as exc:
            raise HTTPError(400, f"Supplied array is not compatible with the anonymizer: {exc}")
        out = (anonymizer.predict(X) if req.query.get("output") == "labels"
               else anonymizer.predict_proba(X))
        return arrays_response({"prediction": out}, 201)

    return App({("GET", "/"): lambda req: json_response({"message": "Anonymizer server is alive!"}),
                ("POST", "/fit"): fit, ("POST", "/evaluate"): evaluate,
                ("POST", "/predict"): predict})


def serve_anonymizer(anonymizer: ArenaAnonymizer, *, challenge_url: str,
                     anonymizer_id: str = "arena-anonymizer", host: str = "127.0.0.1",
                     port: int = 0):
    """Serve ``anonymizer`` (a :class:`~.web.Server`)."""
    return serve(anonymizer_app(anonymizer, challenge_url=challenge_url,
                                anonymizer_id=anonymizer_id), host=host, port=port)


__all__ = ["ArenaAnonymizer", "anonymizer_app", "serve_anonymizer"]
