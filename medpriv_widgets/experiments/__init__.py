"""Experiments: frozen settings plus stages that the CLI, the widgets and the tests all drive.

- :mod:`.stage`: :class:`Stage` (one cached, stoppable step; a frozen dataclass that is its own
  cache key) and :func:`run_stages` (several stages as one computation, one progress scale).
- :mod:`.training`: :class:`TrainModel` (one model per TrainConfig), :func:`training_grid`.
- :mod:`.membership`: shadow models, DP targets, attack results (LiRA, loss threshold).
- :mod:`.reconstruction`: :class:`ReconstructionSweep` (gradient inversion at several σ).
- :mod:`.audit`: :class:`CanaryAudit` (an audited lower bound on ε).
- :mod:`.profiles`: which stages each audience's dashboards read (``medpriv precompute``).

Every stage yields :class:`medpriv_widgets.progress.Progress` and takes an explicit ``cache=``
(a :class:`medpriv_widgets.cache.ResultStore`, or None) and ``stop=``.
"""

from ..progress import Progress, StoppedEarly, final_result, last_record
from .stage import Stage, StageUpdate, human_seconds, run_stages
from .training import TrainModel, training_grid

__all__ = ["Progress", "Stage", "StageUpdate", "StoppedEarly", "final_result", "human_seconds", "last_record",
           "run_stages", "TrainModel", "training_grid"]
