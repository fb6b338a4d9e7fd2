"""Analytic leakage: a linear layer's gradient is its input; the 'linear_head' attack rebuilds
the X-ray behind a wide head; what it needs is said in a sentence when it is missing."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from medpriv_widgets.attacks.reconstruction import (
    Defense, client_update, find_linear_head, linear_layer_input, make_scorer, make_victim_model,
    population_prior, reconstruct, run_attack, verdict)
from medpriv_widgets.data import make_phantoms
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.models import WideHeadCNN, make_wide_head

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n=4, size=28, seed=0)


@pytest.fixture(scope="module")
def wide():
    return make_victim_model(arch="wide_head", size=28, seed=0)


def test_linear_layer_gradient_is_its_input():
    torch.manual_seed(0)
    layer = nn.Linear(50, 3).double()
    h = torch.rand(1, 50, dtype=torch.float64)
    loss = nn.functional.cross_entropy(layer(h), torch.tensor([2]))
    gw, gb = torch.autograd.grad(loss, [layer.weight, layer.bias])
    assert torch.allclose(linear_layer_input(weight_grad=gw, bias_grad=gb), h[0], atol=1e-12)
    # clipping scales both gradients alike: the answer does not change
    assert torch.allclose(linear_layer_input(weight_grad=1e-3 * gw, bias_grad=1e-3 * gb), h[0])


def test_linear_layer_input_refuses_what_holds_no_copy():
    with pytest.raises(InvalidParameterError, match="bias gradient is zero"):
        linear_layer_input(weight_grad=torch.ones(2, 5), bias_grad=torch.zeros(2))
    with pytest.raises(InvalidParameterError, match="same layer"):
        linear_layer_input(weight_grad=torch.ones(2, 5), bias_grad=torch.ones(3))


def test_wide_head_model_shapes():
    for size, features in ((28, 8 * 14 * 14), (64, 8 * 32 * 32), (128, 8 * 64 * 64)):
        m = make_wide_head(size=size, seed=0)
        assert isinstance(m, WideHeadCNN) and m.classifier.in_features == features
        assert m(torch.rand(2, 1, size, size)).shape == (2, 2)
    assert torch.equal(make_wide_head(seed=3).classifier.weight,
                       make_wide_head(seed=3).classifier.weight)


def test_linear_head_attack_rebuilds_the_xray(wide, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    update = client_update(model=wide, images=x, labels=y)
    records = list(reconstruct(model=wide, update=update, attack="linear_head", iterations=60,
                               frame_every=10, device="cpu", score=make_scorer(x)))
    final = records[-1]
    assert final.finished and final.partial.image.shape == x.shape
    assert final.partial.psnr >= 40.0, [r.partial.psnr for r in records]
    assert verdict(final.partial.psnr, final.partial.ssim) == "recognisable"


def test_clipping_does_not_stop_it_but_dp_noise_does(wide, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    prior = population_prior(make_phantoms(n=64, size=28, seed=9).images)
    clipped = client_update(model=wide, images=x, labels=y, defense=Defense(clip_norm=1e-3))
    noisy = client_update(model=wide, images=x, labels=y,
                          defense=Defense(clip_norm=1.0, noise_multiplier=0.1))
    kw = dict(model=wide, attack="linear_head", iterations=40, device="cpu", prior=prior,
              score=make_scorer(x))
    assert run_attack(update=clipped, **kw).psnr >= 40.0
    rebuilt = run_attack(update=noisy, **kw)
    assert verdict(rebuilt.psnr, rebuilt.ssim) == "not recognisable"


def test_narrow_head_of_the_classifier_gives_little(phantoms):
    # The lessons' classifier averages to 32 features (and starts with a zero head, whose
    # gradient for the rest of the network is zero): the head's input does not pin down an X-ray.
    net = make_victim_model(arch="classifier", size=28, seed=0)
    head, w, b = find_linear_head(net)
    assert head.in_features == 32 and (w, b) == (len(list(net.parameters())) - 2,
                                               len(list(net.parameters())) - 1)
    x, y = phantoms.images[:1], phantoms.labels[:1]
    update = client_update(model=net, images=x, labels=y)
    assert all(float(g.abs().sum()) == 0.0 for g in update.gradient[:-2])
    frame = run_attack(model=net, update=update, attack="linear_head", iterations=30,
                       device="cpu", score=make_scorer(x))
    assert verdict(frame.psnr, frame.ssim) == "not recognisable"


@pytest.mark.parametrize("bad,match", [
    (lambda w, d: reconstruct(model=w, update=client_update(model=w, images=d.images[:2],
                                                            labels=d.labels[:2]),
                              attack="linear_head"), "ONE X-ray"),
    (lambda w, d: reconstruct(model=w, update=client_update(
        model=w, images=d.images[:1], labels=d.labels[:1], defense=Defense(local_steps=2)),
        attack="linear_head"), "one local step"),
    (lambda w, d: reconstruct(model=_NoHead(), update=client_update(
        model=_NoHead(), images=d.images[:1], labels=d.labels[:1]), attack="linear_head"),
     "fully connected"),
    (lambda w, d: reconstruct(model=make_victim_model(arch="wide_head", size=64),
                              update=client_update(model=w, images=d.images[:1],
                                                   labels=d.labels[:1]),
                              attack="linear_head"), "28 px"),
])
def test_what_the_attack_needs_is_said(wide, phantoms, bad, match):
    with pytest.raises(InvalidParameterError, match=match):
        bad(wide, phantoms)


class _NoHead(nn.Module):
    """A model whose last layer is a convolution (no fully connected head)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.size, self.num_classes = 28, 2
        self.conv = nn.Conv2d(1, 2, 28)

    def forward(self, x):
        return self.conv(x).flatten(1)


def test_stop_and_finite_results(wide, phantoms):
    from medpriv_widgets.stopping import StopToken

    x, y = phantoms.images[:1], phantoms.labels[:1]
    update = client_update(model=wide, images=x, labels=y)
    stop = StopToken()
    stop.request()
    records = list(reconstruct(model=wide, update=update, attack="linear_head", iterations=500,
                               frame_every=5, device="cpu", stop=stop))
    assert records[-1].stopped and records[-1].partial.iteration <= 5
    assert torch.isfinite(records[-1].partial.image).all()
    assert math.isnan(records[-1].partial.psnr)  # no score callback: nothing scored
