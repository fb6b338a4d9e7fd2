"""Membership inference: was this patient's X-ray in the training data?

- :mod:`.roc`: ROC, AUC, TPR at a fixed low FPR with Clopper–Pearson intervals.
- :mod:`.loss_attack`: the loss-threshold baseline (Yeom et al. 2018).
- :mod:`.lira`: LiRA online and offline (Carlini et al. 2022).
- :mod:`.shadows`: K small models trained at once (grouped convolutions), their scores.
- :mod:`.experiment`: a cached end-to-end experiment over an ε grid, with the DP bound.
"""

from .experiment import (ATTACKS, NOT_PRIVATE, REPORT_FPRS, MembershipExperiment,
                         MembershipResult, NotComputedYet, Progress, check_tpr_below_bound,
                         most_vulnerable)
from .lira import GaussianFit, fit_gaussians, lira_scores
from .loss_attack import loss_threshold_scores
from .roc import OperatingPoint, RocCurve, clopper_pearson, roc_auc, roc_curve, tpr_at_fpr
from .shadows import (ShadowProgress, StackedModels, complementary_halves, logit_confidence,
                      model_scores, stacked_scores, train_stacked)

__all__ = [
    "ATTACKS", "NOT_PRIVATE", "REPORT_FPRS", "GaussianFit", "MembershipExperiment",
    "MembershipResult", "NotComputedYet", "OperatingPoint", "Progress", "RocCurve",
    "ShadowProgress", "StackedModels", "check_tpr_below_bound", "clopper_pearson",
    "complementary_halves", "fit_gaussians", "lira_scores", "logit_confidence",
    "loss_threshold_scores", "model_scores", "most_vulnerable", "roc_auc", "roc_curve", "stacked_scores",
    "tpr_at_fpr", "train_stacked",
]
