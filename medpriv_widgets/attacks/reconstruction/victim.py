"""The models an honest server sends, and the round of training they are in.

Architectures (``ARCHITECTURES``), each a real choice a hospital federation might make:

* ``'classifier'`` — the lessons' own :class:`~medpriv_widgets.models.SmallCNN`, built exactly
  as :mod:`medpriv_widgets.training` builds it (tanh, GroupNorm, max-pooling, a zero-initialised
  last layer on 32 averaged features). What lessons 03, 05, 06 and 07 train.
* ``'wide_head'`` — :class:`~medpriv_widgets.models.WideHeadCNN`: two convolutions and a wide
  fully connected head. Its head's gradient *is* its input (the 'linear_head' attack).
* ``'lenet'`` — the sigmoid LeNet of the attack papers (DLG, iDLG), smooth everywhere.

Training states (``STATES``): the weights of the round in which the update is sent.
``'untrained'`` is round one (the freshly initialised model); ``'one_epoch'`` and
``'converged'`` are the lessons' classifier after one epoch and after the non-private recipe's
full run, trained by :func:`medpriv_widgets.training.run_to_end` and cached by the
:class:`~medpriv_widgets.experiments.reconstruction.VictimWeights` stage. Only the classifier
has trained states: the project's one training path trains that architecture.
"""

from __future__ import annotations

import math

from torch import nn

from ..._validate import check_choice, check_int
from ...errors import InvalidParameterError
from ...models import make_wide_head
from ...models.lenet import make_lenet

ARCHITECTURES = {
    "classifier": "the lessons' classifier (SmallCNN)",
    "wide_head": "a CNN with a wide linear head",
    "lenet": "the attack papers' LeNet (sigmoid)",
}
STATES = {
    "untrained": "untrained (round 1)",
    "one_epoch": "after 1 epoch",
    "converged": "converged (full training)",
}
#: Older names of the architectures, still accepted.
ARCH_ALIASES = {"smallcnn": "classifier"}
#: The architectures the old ``kind=`` argument knew.
MODEL_KINDS = ("lenet", "smallcnn")


def resolve_arch(arch: str) -> str:
    """Canonical architecture name ('smallcnn' is accepted for 'classifier')."""
    check_choice("arch", arch, list(ARCHITECTURES) + list(ARCH_ALIASES))
    return ARCH_ALIASES.get(arch, arch)


def check_state(arch: str, state: str) -> str:
    """The training state, refused with a sentence for an architecture that cannot be trained."""
    check_choice("state", state, STATES)
    if state != "untrained" and resolve_arch(arch) != "classifier":
        raise InvalidParameterError(
            f"`state` {state!r} needs a trained model, and only the lessons' classifier is "
            f"trained here (by medpriv_widgets.training); {ARCHITECTURES[resolve_arch(arch)]} "
            f"is attacked untrained. Choose arch='classifier' or state='untrained'.")
    return state


def victim_train_config(*, size: int, state: str, seed: int = 0, n_train: int | None = None):
    """The :class:`~medpriv_widgets.training.TrainConfig` of the classifier in ``state``:
    the non-private recipe of lesson 03 (what a federation without DP trains), 1 epoch for
    'one_epoch', the recipe's epochs for 'converged' and 'untrained' (round one of that run)."""
    from ...training import TrainConfig

    check_choice("state", state, STATES)
    return TrainConfig(size=size, seed=seed, target_epsilon=math.inf, n_train=n_train,
                       epochs=1 if state == "one_epoch" else None)


def make_victim_model(*, size: int = 64, arch: str = "lenet", seed: int = 0,
                      kind: str | None = None) -> nn.Module:
    """The server's model in round one (untrained), in eval mode with frozen parameters.

    Parameters
    ----------
    size : 28, 64 or 128 (pixels).
    arch : see ``ARCHITECTURES`` ('lenet' default). ``kind`` is the old name of this argument.
    seed : the weights.

    Trained states of the classifier come from the VictimWeights stage
    (:mod:`medpriv_widgets.experiments.reconstruction`).
    """
    if kind is not None:
        arch = kind
    arch = resolve_arch(arch)
    check_int("seed", seed, low=0)
    if arch == "lenet":
        model = make_lenet(size=size, seed=seed)
    elif arch == "wide_head":
        model = make_wide_head(size=size, seed=seed)
    else:
        from ...training.loop import build_model
        model = build_model(victim_train_config(size=size, state="untrained", seed=seed))
    return freeze(model)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients for the parameters (the attack differentiates its own copy)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
