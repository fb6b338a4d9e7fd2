"""Non-private and DP-SGD training of small chest X-ray CNNs, and evaluation.

::

    from medpriv_widgets.training import TrainConfig, train, run_to_end, load_model

    cfg = TrainConfig(size=64, target_epsilon=8.0)
    for p in train(cfg):                 # one Progress per epoch
        print(p.message)                 # p.partial: an EpochRecord (loss, ε spent, validation)
    result = p.partial                   # the last record carries the TrainResult
    model = load_model(result)

Cached training (trained once, then answered from disk) is the
:class:`~medpriv_widgets.experiments.TrainModel` stage. Pneumonia (label 1) is the positive class
of every metric.
"""

from .config import (DEFAULT_EPSILONS, TrainConfig, default_delta, fast_config,
                     sample_rate_for)
from .evaluate import binary_metrics, evaluate, predict_proba, roc_auc
from .loop import (EpochRecord, PrivacyPlan, TrainResult, load_model, load_pool, load_test,
                   plan_privacy, prepare_data, resolve_data, run_to_end, train)

__all__ = [
    "DEFAULT_EPSILONS", "EpochRecord", "PrivacyPlan", "TrainConfig", "TrainResult",
    "binary_metrics", "default_delta", "evaluate", "fast_config", "load_model", "load_pool",
    "load_test", "plan_privacy", "predict_proba", "prepare_data", "resolve_data", "roc_auc",
    "run_to_end", "sample_rate_for", "train",
]
