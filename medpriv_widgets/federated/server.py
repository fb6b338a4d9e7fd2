"""The server's side of a round: combine the hospitals' changes into one step of the global model.

FedAvg (McMahan et al. 2017): the global model moves by the average of the hospitals' changes,
each weighted by its number of X-rays. Site-level DP-FedAvg (McMahan et al. 2018, "Learning
Differentially Private Recurrent Language Models"): every change is clipped to L2 norm S, the
changes are averaged with equal weights, and Gaussian noise N(0, (z·S)²) is added to their sum,
so the new model hides whether any whole hospital took part; ε comes from
:func:`medpriv_widgets.privacy.accounting.dpsgd_epsilon` with q = 1 (every hospital every round)
and one step per round.

With secure aggregation the server never sees one hospital's change: each hospital weights (and
clips) its own change, the server receives masked vectors and learns only their sum
(:mod:`.secure_aggregation`). That is why clipping happens in the hospital: a server that sees
only the sum cannot clip. Without it, each change still travels sealed with AES-GCM
(:mod:`.transport`), so nobody on the wire can read or alter it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError
from .quantize import Quantizer
from .secure_aggregation import secure_sum
from .transport import new_key, open_sealed, seal


@dataclass(frozen=True)
class Aggregate:
    """One round's aggregate.

    step : float64 (d,), what the global model moves by (before ``server_lr``).
    received : {site index: float64 (d,)}, exactly what the server got from each hospital (the
        weighted change, or with secure aggregation the masked vector mapped to [−½, ½)).
    survivors : the hospitals whose changes are in the sum.
    max_error : bound per coordinate on the fixed-point error of the sum (0 without secure
        aggregation).
    """

    step: np.ndarray
    received: dict
    survivors: tuple[int, ...]
    max_error: float


def aggregate(contributions: Mapping[int, np.ndarray], weights: Mapping[int, float], *,
              secure: bool, dropped: set[int] | frozenset = frozenset(), threshold: int | None = None,
              noise_std: float = 0.0, rng: np.random.Generator | None = None,
              round_id: int = 0, max_parties: int = 64) -> Aggregate:
    """Sum the weighted changes ``contributions`` (already multiplied by their weight, and
    clipped under site-level DP) of the hospitals that did not drop out, add ``noise_std``
    Gaussian noise to the sum and divide by the total weight of the hospitals in the sum.

    Raises SecureAggregationError (secure) when more hospitals dropped out than the threshold
    allows: the caller abandons the round; no partial sum exists.
    """
    ids = sorted(contributions)
    if not ids:
        raise InvalidParameterError("No hospital sent a change this round; there is nothing to "
                                    "aggregate.")
    if secure:
        result = secure_sum(dict(contributions), threshold=threshold,
                            drop_after_sharing=sorted(dropped & set(ids)),
                            quantizer=Quantizer(max_parties=max_parties), round_id=round_id)
        total, survivors, err = result.total, result.survivors, result.max_error
        received = {k: (v.astype(np.float64) / 2.0 ** 64) - 0.5 for k, v in result.masked.items()}
    else:
        survivors = tuple(k for k in ids if k not in dropped)
        if not survivors:
            raise InvalidParameterError("Every hospital dropped out this round; nothing arrived "
                                        "to aggregate.")
        received, total = {}, np.zeros_like(contributions[ids[0]])
        for k in survivors:
            key = new_key()  # agreed per connection in a deployment; here one per message
            sealed = seal({"update": contributions[k]}, key=key, sender=f"site-{k}",
                          receiver="server", round=round_id)
            got = open_sealed(sealed, key=key)["update"]
            received[k] = got
            total = total + got
        err = 0.0
    if noise_std > 0:
        rng = rng if rng is not None else np.random.default_rng()
        total = total + rng.normal(0.0, noise_std, size=total.shape)
    weight = float(sum(weights[k] for k in survivors))
    return Aggregate(total / weight, received, tuple(survivors), err)


__all__ = ["Aggregate", "aggregate"]
