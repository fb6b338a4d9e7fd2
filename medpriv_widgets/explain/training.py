"""Private training in words: what a lab trains on, why validation and test AUC differ, and why
two lessons report different AUCs at the same ε.

Pure functions: numbers in, a :class:`~.statement.Statement` (or a string) out.
"""

from __future__ import annotations

from .._validate import check_int, check_real
from .numbers import format_count
from .statement import Statement

__all__ = ["data_size_statement", "setting_text", "validation_gap_statement"]

#: A validation AUC this much above the test AUC gets a sentence saying why.
_GAP = 0.02


def setting_text(*, size: int, n_train: int, n_val: int, n_test: int, epochs: int) -> str:
    """'64 × 64 px chest X-rays: 4,970 for training (260 of the same collection held back …'"""
    size = check_int("size", size, low=1)
    n_train, n_val, n_test = (check_int(k, v, low=0) for k, v in
                              (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)))
    epochs = check_int("epochs", epochs, low=1)
    return (f"{size} × {size} px chest X-rays: {format_count(n_train)} for training "
            f"({format_count(n_val)} more from the same collection held back, by patient, for "
            f"the validation curve), {epochs} passes over them; tested on "
            f"{format_count(n_test)} X-rays of other children.")


def validation_gap_statement(*, val_auc: float, test_auc: float,
                             official_test: bool = True) -> Statement:
    """Why the validation curve ends above the test AUC (empty text when it does not)."""
    val = check_real("val_auc", val_auc, low=0.0, high=1.0)
    test = check_real("test_auc", test_auc, low=0.0, high=1.0)
    if val - test < _GAP:
        return Statement("", dict(val_auc=val, test_auc=test, gap=val - test))
    text = (f"The validation curve ends at AUC {val:.2f}, the test AUC is {test:.3f}. The "
            "validation X-rays were held back from the training collection (other children, "
            "same collection), so they resemble what the model learnt from; the test X-rays "
            "are the data set's official test split, put together separately by its authors, "
            "and every model in this course scores lower on them.")
    if not official_test:
        text += (" In this development copy of the 64/128 px data, some test X-rays are also "
                 "cropped differently from the training X-rays.")
    text += " The test numbers are the honest ones: judge a model by them."
    return Statement(text, dict(val_auc=val, test_auc=test, gap=val - test))


def data_size_statement(*, n_train: int, size: int, other_n_train: int, other_size: int,
                        other_lesson: str) -> Statement:
    """Why the same ε costs a different AUC here and in ``other_lesson``: how many X-rays, of
    what size, each model learnt from."""
    n = check_int("n_train", n_train, low=1)
    other_n = check_int("other_n_train", other_n_train, low=1)
    size = check_int("size", size, low=1)
    other_size = check_int("other_size", other_size, low=1)
    fewer = n < other_n
    text = (f"These models learn from {format_count(n)} X-rays of {size} × {size} px"
            + (" (a small data set, as a membership attack needs)" if fewer else "")
            + f"; {other_lesson} trains on about {format_count(other_n)} X-rays of "
            f"{other_size} × {other_size} px. The same ε then costs "
            f"{'more' if fewer else 'less'} accuracy here: the noise that hides one patient "
            f"is the same, but it weighs {'more' if fewer else 'less'} against the signal of "
            f"{'fewer' if fewer else 'more'} patients.")
    return Statement(text, dict(n_train=n, other_n_train=other_n, size=size,
                                other_size=other_size))
