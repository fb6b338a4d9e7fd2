"""Membership inference as an experiment: settings, the stages that train, results from cache.

Wiring in a few visible lines::

    settings = MembershipSettings(size=28, n_shadows=16, seed=0)
    stages = [ShadowModels(settings), DPTarget(settings, 8.0)]
    for p in run_stages(stages, cache=store, stop=token):   # trains what is not cached yet
        print(p.message)
    res = membership_result(settings, epsilon=8.0, cache=store)   # instant once cached

- :mod:`.settings`: :class:`MembershipSettings` (why the default setting leaks), the population
  and its patient-disjoint member split.
- :mod:`.stages`: :class:`ShadowModels` (K shadows + the non-private target), :class:`DPTarget`.
- :mod:`.results`: :func:`membership_result` — attacks (the adversary's view), scoring against
  the truth, the DP bound of the target's own run.
"""

from .results import (BOUND_FPR_GRID, NOT_PRIVATE, REPORT_FPRS, MembershipResult,
                      check_tpr_below_bound, membership_result, most_vulnerable)
from .settings import (MEMBERSHIP, MembershipSettings, Population, load_population, load_test,
                       member_split)
from .stages import DPTarget, ShadowBank, ShadowModels, TargetModel

__all__ = ["BOUND_FPR_GRID", "DPTarget", "MEMBERSHIP", "MembershipResult", "MembershipSettings",
           "NOT_PRIVATE", "Population", "REPORT_FPRS", "ShadowBank", "ShadowModels",
           "TargetModel", "check_tpr_below_bound", "load_population", "load_test",
           "member_split", "membership_result", "most_vulnerable"]
