"""The training variants the arena's defences need: clipping without noise, gradient pruning.

Both run through the project's one training loop (``TrainConfig`` → ``train``); bad
combinations are typed errors with a sentence.
"""

from __future__ import annotations

import math

import pytest
import torch

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.training import TrainConfig, fast_config, plan_privacy, run_to_end
from medpriv_widgets.training.loop import logical_step, prune_gradients


def test_clip_only_clips_through_opacus_and_claims_no_privacy(pool, test_set, one_torch_thread):
    cfg = fast_config(n_train=120, epochs=1, clip_only=True)
    assert cfg.clipped and not cfg.private
    assert cfg.effective().optimizer == "sgd"  # the DP-SGD recipe: it differs only by the noise
    plan = plan_privacy(cfg, 120)
    assert plan.clip_only and plan.clipped and plan.noise_multiplier == 0.0
    assert plan.max_grad_norm == cfg.max_grad_norm
    result = run_to_end(cfg, data=pool, test_data=test_set)
    assert math.isinf(result.epsilon) and result.noise_multiplier == 0.0
    assert result.history[-1]["max_grad_norm"] == cfg.max_grad_norm
    assert 0.0 <= result.test_metrics["auc"] <= 1.0


def test_clip_only_without_noise_is_refused_against_a_privacy_budget(tmp_path, pool, test_set):
    from medpriv_widgets.privacy.ledger import PrivacyLedger
    from medpriv_widgets.training import train

    ledger = PrivacyLedger(tmp_path / "l.json", epsilon=1.0, delta=1e-5)
    with pytest.raises(InvalidParameterError, match="budget"):
        train(fast_config(n_train=60, epochs=1, clip_only=True), data=pool, test_data=test_set,
              ledger=ledger)


def test_prune_gradients_keeps_the_largest_fraction_over_the_whole_model():
    model = torch.nn.Sequential(torch.nn.Linear(20, 10), torch.nn.Linear(10, 2))
    model(torch.randn(8, 20)).pow(2).sum().backward()
    before = torch.cat([p.grad.abs().flatten() for p in model.parameters()])
    kept = prune_gradients(model, fraction=0.1)
    after = torch.cat([p.grad.abs().flatten() for p in model.parameters()])
    n = before.numel()
    assert kept == int((after > 0).sum()) == math.ceil(0.1 * n)
    # what survived is exactly the largest entries, unchanged
    top = torch.topk(before, kept).values
    assert torch.equal(torch.sort(after[after > 0]).values, torch.sort(top).values)


def test_a_pruned_step_moves_only_the_kept_weights():
    torch.manual_seed(0)
    model = torch.nn.Linear(30, 2)
    start = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 30), torch.randint(0, 2, (16,))
    opt.zero_grad()
    logical_step(model, opt, torch.nn.CrossEntropyLoss(), x, y, private=False, topk_fraction=0.2)
    moved = sum(int((p.detach() != s).sum()) for p, s in zip(model.parameters(), start))
    total = sum(p.numel() for p in model.parameters())
    kept = sum(int((p.grad != 0).sum()) for p in model.parameters())
    # two classes: the rows' gradients are exact negatives, so ties at the threshold survive
    assert moved == kept and math.ceil(0.2 * total) <= kept <= math.ceil(0.2 * total) + 2


def test_topk_training_runs_and_is_cached_under_its_own_key(pool, test_set, one_torch_thread):
    from medpriv_widgets.experiments import TrainModel

    cfg = fast_config(n_train=120, epochs=1, topk_fraction=0.1)
    result = run_to_end(cfg, data=pool, test_data=test_set)
    assert math.isinf(result.epsilon) and 0.0 <= result.test_metrics["auc"] <= 1.0
    a = TrainModel(cfg, data=pool, test_data=test_set).key()
    b = TrainModel(cfg.with_(topk_fraction=1.0), data=pool, test_data=test_set).key()
    assert a != b


@pytest.mark.parametrize("bad, word", [
    (dict(clip_only=True, target_epsilon=1.0), "clip_only"),
    (dict(clip_only=True, noise_multiplier=1.0), "clip_only"),
    (dict(clip_only="yes"), "clip_only"),
    (dict(topk_fraction=0.0), "topk_fraction"),
    (dict(topk_fraction=1.5), "topk_fraction"),
    (dict(topk_fraction=float("nan")), "topk_fraction"),
    (dict(topk_fraction=0.5, target_epsilon=8.0), "topk_fraction"),
    (dict(topk_fraction=0.5, clip_only=True), "topk_fraction"),
])
def test_bad_combinations_are_typed_errors(bad, word):
    with pytest.raises(InvalidParameterError, match=word):
        TrainConfig(**bad)
