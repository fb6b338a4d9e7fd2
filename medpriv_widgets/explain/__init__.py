"""Plain-language statements for clinicians, keyed by concept, and how numbers are written.

Each statement function is pure: numbers in, a :class:`Statement` out — the sentence (``.text``,
also ``str(statement)``) and the numbers it was built from (``.numbers``), so a widget can show
the sentence and a test can check it against the bound it states. No mathematics of the bounds
lives here; callers pass what they computed.

- :mod:`.numbers`: counts, percentages, "1 in N" (one formatter per kind of number).
- :mod:`.privacy`: ε, membership, posterior, reconstruction and ROC-uncertainty statements.
- :mod:`.budget`: the privacy ledger's refusals and warnings.
"""

from .numbers import format_count, format_epsilon, format_one_in, format_percent
from .privacy import (CONCEPTS, epsilon_statement, membership_statement, posterior_statement,
                      reconstruction_statement, roc_uncertainty_statement)
from .statement import Statement
from .budget import *  # noqa: F401,F403
from .numbers import format_delta, format_number, format_odds, round_count  # noqa: F401

__all__ = ["CONCEPTS", "Statement", "epsilon_statement", "format_count", "format_epsilon", "format_one_in",
           "format_percent", "membership_statement", "posterior_statement",
           "reconstruction_statement", "roc_uncertainty_statement"]
__all__ += ["format_delta", "format_number", "format_odds", "round_count", *budget.__all__]
from .federated import comparison_statement, leakage_statement, secure_view_statement, site_budget_statement  # noqa: F401
from .dp_basics import counting_statement, spread_text, survey_statement  # noqa: F401
from .membership import precompute_command, split_statement  # noqa: F401
from .training import data_size_statement, setting_text, validation_gap_statement  # noqa: F401
from .linkage import homogeneity_statement, k_anonymity_statement, pseudonym_statement, reidentification_statement, uniqueness_statement, xray_reidentification_statement  # noqa: F401
from .reconstruction import clipping_comparison_statement, format_sigma, format_sigmas, one_update_statement, run_epsilon_text, verdict_text  # noqa: F401
from .arena import ranking_statement, row_statement  # noqa: F401
from .exercises import exercise_feedback_text, not_answered_text, unreadable_answer_text  # noqa: F401
from .classroom import classroom_note_text, classroom_reset_refused_text  # noqa: F401
