"""What the attack minimises: a distance between gradients, plus an image prior.

* DLG (Zhu et al. 2019): squared L2 distance ‖∇θL(x̂) − g‖². Sensitive to the gradient's scale,
  so clipping (which rescales it) already hurts it.
* Inverting Gradients (Geiping et al. 2020): cosine distance 1 − ⟨∇θL(x̂), g⟩ / (‖·‖‖g‖), blind
  to scale, plus a total-variation prior that prefers piecewise-smooth images.

Each distance optionally ignores the entries the client zeroed by pruning (``mask``): the
attacker sees which entries are exactly zero and leaves them out.

An *informed* adversary also knows what chest X-rays look like in general: the population's
mean X-ray (from public data; :func:`population_prior`). The attack can start from it and be
pulled towards it (:func:`prior_distance`). Both only use what a server can know.

The analytic attacks ('linear_head', 'imprint') need no distance between gradients; they are
listed here so that every attack has one name and one description.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import InvalidParameterError


def _check_pair(pred, target, mask) -> None:
    """Two gradients (tuples of tensors, one per parameter) of the same shapes."""
    ok = (isinstance(pred, (tuple, list)) and isinstance(target, (tuple, list)) and pred
          and len(pred) == len(target)
          and all(isinstance(p, torch.Tensor) and isinstance(t, torch.Tensor)
                  and p.shape == t.shape for p, t in zip(pred, target)))
    if ok and mask is not None:
        ok = (isinstance(mask, (tuple, list)) and len(mask) == len(pred)
              and all(isinstance(m, torch.Tensor) and m.shape == p.shape
                      for m, p in zip(mask, pred)))
    if not ok:
        raise InvalidParameterError(
            "`pred` and `target` must be gradients of the same model: non-empty tuples of "
            "tensors with the same shapes (and `mask`, if given, too).")


def l2_distance(pred: tuple[torch.Tensor, ...], target: tuple[torch.Tensor, ...],
                mask: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """Σ over tensors of ‖pred − target‖² (only where ``mask`` is true, if given)."""
    _check_pair(pred, target, mask)
    total = pred[0].new_zeros(())
    for i, (p, t) in enumerate(zip(pred, target)):
        d = p - t
        if mask is not None:
            d = d * mask[i]
        total = total + (d * d).sum()
    return total


def cosine_distance(pred: tuple[torch.Tensor, ...], target: tuple[torch.Tensor, ...],
                    mask: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """1 − cosine similarity of the concatenated gradients (in [0, 2])."""
    _check_pair(pred, target, mask)
    dot = pred[0].new_zeros(())
    pn = pred[0].new_zeros(())
    tn = pred[0].new_zeros(())
    for i, (p, t) in enumerate(zip(pred, target)):
        if mask is not None:
            p = p * mask[i]
        dot = dot + (p * t).sum()
        pn = pn + (p * p).sum()
        tn = tn + (t * t).sum()
    return 1.0 - dot / (pn.sqrt() * tn.sqrt() + 1e-20)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic TV), x (B, C, H, W)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or min(x.shape) < 1 \
            or not x.is_floating_point():
        raise InvalidParameterError("`x` must be a float tensor of images (B, C, H, W).")
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean()
    return dx + dy


def prior_distance(x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the guess (B, 1, H, W) and the prior image (1, 1, H, W)."""
    if not (isinstance(x, torch.Tensor) and isinstance(prior, torch.Tensor) and x.ndim == 4
            and prior.ndim == 4 and prior.shape[0] == 1 and x.shape[1:] == prior.shape[1:]
            and x.is_floating_point() and prior.is_floating_point()):
        raise InvalidParameterError("`x` (B, 1, H, W) and `prior` (1, 1, H, W) must be float "
                                    "images of the same size.")
    return ((x - prior) ** 2).mean()


def population_prior(images: torch.Tensor) -> torch.Tensor:
    """The mean X-ray (1, 1, H, W) of public images (N, 1, H, W) in [0, 1]: what an informed
    server can know about every patient before it sees an update."""
    from .threat import check_images

    return check_images(images, name="images").detach().to("cpu", torch.float32).mean(
        0, keepdim=True)


DISTANCES = {"l2": l2_distance, "cosine": cosine_distance}


@dataclass(frozen=True)
class AttackRecipe:
    """A named attack: which distance, which optimiser, and their default settings."""

    name: str
    distance: str
    optimizer: str
    tv_weight: float
    lr: float
    description: str
    title: str = ""
    server: str = "honest"


ATTACKS: dict[str, AttackRecipe] = {
    "dlg": AttackRecipe(
        "dlg", distance="l2", optimizer="lbfgs", tv_weight=0.0, lr=1.0,
        description="Deep Leakage from Gradients (Zhu et al. 2019): L2 gradient distance, "
                    "L-BFGS, labels from the last layer (iDLG).", title="DLG"),
    "inverting_gradients": AttackRecipe(
        "inverting_gradients", distance="cosine", optimizer="lbfgs", tv_weight=5e-5, lr=1.0,
        description="Inverting Gradients (Geiping et al. 2020): cosine gradient distance + "
                    "total variation; L-BFGS (fast) or signed Adam (the paper's choice).",
        title="Inverting Gradients"),
    "linear_head": AttackRecipe(
        "linear_head", distance="features", optimizer="lbfgs", tv_weight=0.0, lr=1.0,
        description="Analytic: the input of the model's last fully connected layer, read off "
                    "its weight and bias gradients (exact for one X-ray; Geiping et al. 2020, "
                    "§3), then the image that produces it (a short optimisation).",
        title="linear-head inversion"),
    "imprint": AttackRecipe(
        "imprint", distance="none", optimizer="none", tv_weight=0.0, lr=1.0,
        description="Malicious server: the model carries an imprint module whose bins separate "
                    "the X-rays of a batch; each bin's gradients give one X-ray exactly (Fowl "
                    "et al. 2022, 'Robbing the Fed').",
        title="imprint (malicious server)", server="malicious"),
}
ATTACK_ALIASES = {"ig": "inverting_gradients", "geiping": "inverting_gradients",
                  "idlg": "dlg", "robbing_the_fed": "imprint"}
#: Attacks that optimise an image against the update's gradients (the others are analytic).
OPTIMISATION_ATTACKS = ("dlg", "inverting_gradients")


__all__ = ["ATTACKS", "ATTACK_ALIASES", "AttackRecipe", "DISTANCES", "OPTIMISATION_ATTACKS",
           "cosine_distance", "l2_distance", "population_prior", "prior_distance",
           "total_variation"]
