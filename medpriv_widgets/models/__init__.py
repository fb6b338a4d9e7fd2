"""Small Opacus-valid models. See :mod:`medpriv_widgets.models.cnn`."""

from .cnn import SUPPORTED_SIZES, SmallCNN, count_parameters, make_model

__all__ = ["SUPPORTED_SIZES", "SmallCNN", "count_parameters", "make_model"]
