"""Small Opacus-valid models. See :mod:`medpriv_widgets.models.cnn`.

The reconstruction lesson's other victims: :mod:`.lenet` (the attack papers' sigmoid LeNet) and
:mod:`.wide_head` (a CNN with a wide linear head).
"""

from .cnn import SUPPORTED_SIZES, SmallCNN, count_parameters, make_model
from .wide_head import WideHeadCNN, make_wide_head

__all__ = ["SUPPORTED_SIZES", "SmallCNN", "WideHeadCNN", "count_parameters", "make_model",
           "make_wide_head"]
