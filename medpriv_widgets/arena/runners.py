"""What runs inside a submission's own process (:mod:`.sandbox`): the defence's ``fit`` and
``predict``, or the attack's ``fit`` and ``score``, and nothing else.

Imports only numpy at module level, so a numpy-only submission starts without torch; the
attacker's black box loads torch when it is built. The truth (who was a member) never enters
the payload these functions receive.
"""

from __future__ import annotations

import numpy as np


def _as_array(value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value) if isinstance(value, (list, tuple)) else value


def _instance(obj):
    return obj() if isinstance(obj, type) else obj


def run_defence(payload: dict) -> dict:
    """Fit on the members; predict the population and the test X-rays; the claimed ε."""
    obj = _instance(payload["submission"])
    obj.fit(payload["X_train"], payload["y_train"])
    return {"population": _as_array(obj.predict(payload["X_population"])),
            "test": _as_array(obj.predict(payload["X_test"])),
            "epsilon": getattr(obj, "epsilon", None)}


class BlackBox:
    """The released model as the attacker may use it: X (N, 1, S, S) in [0, 1] → probability of
    pneumonia (N,). Counts its queries."""

    def __init__(self, spec: dict) -> None:
        from ..models import make_model

        self._model = make_model(size=spec["size"], seed=0, width=spec["width"],
                                 activation=spec["activation"])
        self._model.load_state_dict(spec["state_dict"])
        self._model.eval()
        self.queries = 0

    def __call__(self, X) -> np.ndarray:
        import torch

        x = torch.as_tensor(np.asarray(X, dtype=np.float32))
        self.queries += int(x.shape[0])
        with torch.no_grad():
            return torch.softmax(self._model(x), dim=1)[:, 1].numpy().astype(np.float64)


def run_attack(payload: dict) -> dict:
    """Fit on the known members / non-members with the black box; score the others."""
    target = BlackBox(payload["target"])
    obj = _instance(payload["submission"])
    obj.fit(payload["members"], payload["nonmembers"], target)
    return {"scores": _as_array(obj.score(payload["X_eval"], payload["y_eval"]))}


__all__ = ["BlackBox", "run_attack", "run_defence"]
