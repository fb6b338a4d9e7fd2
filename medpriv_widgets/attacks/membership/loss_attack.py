"""The loss-threshold attack (Yeom et al. 2018): low loss on an example ⇒ "it was trained on".

The baseline every stronger attack is compared with. It needs no shadow models: the attacker
only looks at the target model's loss on each example.
"""

from __future__ import annotations

import numpy as np

from ..._validate import check_array


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
    s = check_array("target_scores", target_scores, ndim=(1, 2), allow_inf=True,
                    hint="Pass the target model's logit-scaled confidence per example, shape "
                         "(N,) or (N, A).")
    if s.ndim == 2:
        s = s[:, 0]
    return -np.logaddexp(0.0, -s)
