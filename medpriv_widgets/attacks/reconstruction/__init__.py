"""Gradient inversion: rebuild a client's X-rays from the update it shares in federated learning.

Wiring in a few visible lines (the threat model reads from the signatures)::

    model = make_lenet(size=64, seed=0)                       # the server's global model
    update = client_update(model=model, images=x, labels=y,   # the hospital's side
                           defense=Defense(clip_norm=1.0, noise_multiplier=0.01))
    for frame in reconstruct(model=model, update=update,      # the server's side
                             attack="inverting_gradients", score=make_scorer(x)):
        ...                                                   # frame.image, frame.psnr

Attacks: 'dlg' (L2 + L-BFGS) and 'inverting_gradients' (cosine + TV; L-BFGS or signed Adam).
"""

from .defenses import Defense, run_epsilon
from .labels import infer_label_counts, infer_label_single, infer_labels
from .metrics import (PSNR_RECOGNISABLE_DB, SSIM_RECOGNISABLE, make_scorer, mse, psnr, ssim,
                      verdict)
from .objectives import ATTACKS, cosine_distance, l2_distance, total_variation
from .optimise import Frame, reconstruct, resolve_attack, run_attack
from .sweep import SweepResult, default_sigmas, reconstruction_sweep
from .threat import SharedUpdate, check_images, client_update, select_batch
from .victim import MODEL_KINDS, make_victim_model

__all__ = [
    "ATTACKS", "Defense", "MODEL_KINDS", "SweepResult", "default_sigmas",
    "make_victim_model", "reconstruction_sweep", "Frame", "PSNR_RECOGNISABLE_DB", "SSIM_RECOGNISABLE", "SharedUpdate",
    "check_images", "client_update", "cosine_distance", "infer_label_counts",
    "infer_label_single", "infer_labels", "l2_distance", "make_scorer", "mse", "psnr",
    "reconstruct", "resolve_attack", "run_attack", "select_batch", "run_epsilon", "ssim", "total_variation",
    "verdict",
]
