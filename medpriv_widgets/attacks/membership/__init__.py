"""Membership inference: was this patient's X-ray in the training data?

- :mod:`.attacks`: the attacks by name, from the attacker's view only (:func:`run_attacks`).
- :mod:`.loss_attack`: the loss-threshold baseline (Yeom et al. 2018).
- :mod:`.lira`: LiRA online and offline (Carlini et al. 2022).
- :mod:`.shadows`: K small models trained at once (grouped convolutions), their scores.
- :mod:`.roc`: judging an attack against the truth: ROC, AUC, TPR at a fixed low FPR with
  Clopper–Pearson intervals, the ROC's uncertainty band and how it sits against a DP bound.

The cached end-to-end experiment over an ε grid is :mod:`medpriv_widgets.experiments.membership`.
"""

from ...stats import clopper_pearson
from .attacks import ATTACKS, run_attacks
from .lira import GaussianFit, fit_gaussians, lira_scores
from .loss_attack import loss_threshold_scores
from .roc import OperatingPoint, RocCurve, roc_auc, roc_curve, tpr_at_fpr
from .shadows import (StackedModels, complementary_halves, logit_confidence, model_scores,
                      stacked_scores, train_stacked)

__all__ = [
    "ATTACKS", "GaussianFit", "OperatingPoint", "RocCurve", "StackedModels", "clopper_pearson",
    "complementary_halves", "fit_gaussians", "lira_scores", "logit_confidence",
    "loss_threshold_scores", "model_scores", "roc_auc", "roc_curve", "run_attacks",
    "stacked_scores", "tpr_at_fpr", "train_stacked",
]
