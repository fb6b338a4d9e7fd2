"""Differential privacy: mechanisms, accounting, and the persistent privacy budget.

- :mod:`.mechanisms`: Laplace, Gaussian (classic and analytic calibration), randomized response,
  noisy counts, output distributions on neighbouring datasets (pure functions).
- :mod:`.accounting`: ε of DP-SGD through Opacus (PRV, RDP), the inverse σ for a target ε, GDP μ.
- :mod:`.ledger`: :class:`PrivacyLedger`, a budget per (institution, dataset) kept on disk that
  locks the dataset when spent.
- :mod:`.bounds`, :mod:`.audit`: trade-off curves and attack bounds; auditing (import them
  directly).

The names below are imported lazily (on first use), and Opacus only when an ε is actually
computed, so ``import medpriv_widgets.privacy.ledger`` stays light (fast process start-up).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "dpsgd_epsilon": "accounting", "noise_multiplier_for_epsilon": "accounting",
    "gdp_mu": "accounting", "PrivacyLedger": "ledger",
    "laplace_mechanism": "mechanisms", "gaussian_mechanism": "mechanisms",
    "gaussian_sigma": "mechanisms", "randomized_response": "mechanisms",
    "noisy_count": "mechanisms",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
