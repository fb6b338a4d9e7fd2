"""Reconstruction: rebuild a hospital's X-rays from the update it shares in federated learning.

Wiring in a few visible lines (the threat model reads from the signatures)::

    model = make_victim_model(arch="lenet", size=64, seed=0)   # the server's global model
    update = client_update(model=model, images=x, labels=y,     # the hospital's side
                           defense=Defense(clip_norm=1.0, noise_multiplier=0.01))
    for p in reconstruct(model=model, update=update,            # the server's side
                         attack="inverting_gradients", prior=population_prior(public),
                         score=make_scorer(x)):                 # the truth: scoring only
        frame = p.partial                                       # Frame: image, psnr, …

Honest server (it sends the model it trains; :mod:`.victim`): 'inverting_gradients' (cosine +
TV), 'dlg' (L2) — optimisation, :mod:`.optimise` — and 'linear_head' (the last layer's gradient
is its input; :mod:`.analytic`). Malicious server (it sends a model built to leak;
:mod:`.imprint`): 'imprint', from one update of a whole batch, also behind secure aggregation
(:func:`secure_aggregate`). Defenses: :mod:`.defenses`; scoring: :mod:`.metrics`.

Stable entry points for other packages (federated learning builds on them):
:class:`SharedUpdate`, :func:`client_update`, :func:`secure_aggregate`, :func:`reconstruct`,
:func:`run_attack`, :func:`malicious_model`, :func:`make_scorer`, :func:`score_images`.
Cached experiments over these (sweeps, trained victims) are in
:mod:`medpriv_widgets.experiments.reconstruction`.
"""

from .analytic import find_linear_head, linear_layer_input
from .defenses import Defense, one_step_mu, one_update_bound, run_epsilon
from .imprint import DEFAULT_BINS, ImprintedModel, malicious_model
from .labels import infer_label_counts, infer_label_single, infer_labels
from .metrics import (PSNR_RECOGNISABLE_DB, SSIM_RECOGNISABLE, ImageScores, make_scorer, mse,
                      psnr, score_images, share_at_least, ssim, verdict)
from .objectives import (ATTACKS, OPTIMISATION_ATTACKS, cosine_distance, l2_distance,
                         population_prior, total_variation)
from .optimise import (Frame, reconstruct, resolve_attack, run_attack, suggested_iterations)
from .sweep import SweepResult, default_sigmas, sweep_sigmas
from .threat import SharedUpdate, check_images, client_update, secure_aggregate, select_batch
from .victim import ARCHITECTURES, MODEL_KINDS, STATES, make_victim_model

__all__ = [
    "ARCHITECTURES", "ATTACKS", "DEFAULT_BINS", "Defense", "Frame", "ImageScores",
    "ImprintedModel", "MODEL_KINDS", "OPTIMISATION_ATTACKS", "PSNR_RECOGNISABLE_DB",
    "SSIM_RECOGNISABLE", "STATES", "SharedUpdate", "SweepResult", "check_images",
    "client_update", "cosine_distance", "default_sigmas", "find_linear_head",
    "infer_label_counts", "infer_label_single", "infer_labels", "l2_distance",
    "linear_layer_input", "make_scorer", "make_victim_model", "malicious_model", "mse",
    "one_step_mu", "one_update_bound", "population_prior", "psnr", "reconstruct",
    "resolve_attack", "run_attack", "run_epsilon", "score_images", "secure_aggregate",
    "select_batch", "share_at_least", "ssim", "suggested_iterations", "sweep_sigmas",
    "total_variation", "verdict",
]
