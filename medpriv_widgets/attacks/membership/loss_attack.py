"""The loss-threshold attack (Yeom et al. 2018): low loss on an example ⇒ "it was trained on".

The baseline every stronger attack is compared with. It needs no shadow models: the attacker
only looks at the target model's loss on each example.
"""

from __future__ import annotations

import numpy as np

from ...errors import InvalidParameterError


def loss_threshold_scores(*, target_scores) -> np.ndarray:
    """Membership score = −(cross-entropy loss) of the target model on each example.

    Parameters
    ----------
    target_scores : array (N,) or (N, A)
        The target's logit-scaled confidence log(p_y/(1−p_y)) per example (and augmentation);
        only the un-augmented view (column 0) is used.

    Returns
    -------
    array (N,): −loss = log p_y = −log(1 + e^{−s}); higher means "more likely a member".
    """
    s = np.asarray(target_scores, dtype=float)
    if s.ndim == 2:
        s = s[:, 0]
    if s.ndim != 1 or s.size == 0:
        raise InvalidParameterError(f"`target_scores` must have shape (N,) or (N, A); got {np.shape(target_scores)}.")
    return -np.logaddexp(0.0, -s)
