"""Non-private and DP-SGD training of small chest X-ray CNNs, evaluation, and a result cache.

::

    from medpriv_widgets.training import TrainConfig, train, train_cached, load_model

    cfg = TrainConfig(size=64, target_epsilon=8.0)
    for record in train(cfg):            # one TrainProgress per epoch
        print(record.epoch, record.loss, record.epsilon_spent, record.val["auc"])
    result = record.result               # TrainResult on the final record

    result = train_cached(cfg)           # trains once, then answers from the cache
    model = load_model(result)

Pneumonia (label 1) is the positive class of every metric.
"""

from .cached import (DEFAULT_EPSILONS, cached_result, grid_configs, load_model, precompute_grid,
                     train_cached)
from .config import TrainConfig, default_delta, fast_config, sample_rate_for
from .evaluate import binary_metrics, evaluate, predict_proba, roc_auc
from .loop import (PrivacyPlan, TrainProgress, TrainResult, load_pool, load_test, plan_privacy,
                   prepare_data, resolve_data, run_to_end, train)

__all__ = [
    "DEFAULT_EPSILONS", "PrivacyPlan", "TrainConfig", "TrainProgress", "TrainResult",
    "binary_metrics", "cached_result", "default_delta", "evaluate", "fast_config",
    "grid_configs", "load_model", "load_pool", "load_test", "plan_privacy", "precompute_grid", "predict_proba", "prepare_data", "resolve_data",
    "roc_auc", "run_to_end", "sample_rate_for", "train", "train_cached",
]
