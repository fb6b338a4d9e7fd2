"""Gradient inversion on synthetic phantoms (CPU, fixed seeds): it works, defenses stop it,
labels are inferred, stopping works, bad input is refused, and every attack is a generator of
the one Progress record whose ``partial`` is a Frame."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from medpriv_widgets.attacks.reconstruction import (
    Defense, Frame, client_update, infer_label_counts, infer_label_single, make_scorer,
    make_victim_model, one_step_mu, population_prior, psnr, reconstruct, sweep_sigmas,
    run_attack, run_epsilon, score_images, select_batch, ssim, verdict)
from medpriv_widgets.data import make_phantoms
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.progress import Progress
from medpriv_widgets.stopping import StopToken


# Tiny convolutions run faster on one thread than on two contended ones.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n=8, size=28, seed=0)


@pytest.fixture(scope="module")
def model():
    return make_victim_model(size=28, seed=0)


def _attack(model, x, y, defense=None, **kw):
    """The frames of one attack (each Progress record's partial)."""
    update = client_update(model=model, images=x, labels=y, defense=defense)
    records = list(reconstruct(model=model, update=update, device="cpu", score=make_scorer(x),
                               **kw))
    assert all(isinstance(r, Progress) and isinstance(r.partial, Frame) for r in records)
    assert records[-1].finished or records[-1].stopped
    return [r.partial for r in records]


def test_undefended_attack_recovers_phantom(model, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    frames = _attack(model, x, y, iterations=120, frame_every=20)
    assert frames[-1].iteration <= 120
    assert frames[-1].image.shape == x.shape
    assert frames[-1].psnr >= 25.0, [f.psnr for f in frames]
    assert verdict(frames[-1].psnr, frames[-1].ssim) == "recognisable"
    assert frames[-1].psnr > frames[0].psnr + 10  # the image emerges over the frames


def test_strong_dp_noise_defeats_attack(model, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    frames = _attack(model, x, y, Defense(clip_norm=1.0, noise_multiplier=0.1), iterations=60,
                     frame_every=30)
    assert frames[-1].psnr < 12.0
    assert verdict(frames[-1].psnr, frames[-1].ssim) == "not recognisable"


def test_clipping_alone_stops_dlg_but_not_cosine(model, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    clip = Defense(clip_norm=1e-3)
    # DLG (L2) converges slowly; from the population's mean X-ray it gets there undefended.
    prior = population_prior(make_phantoms(n=64, size=28, seed=11).images)
    undefended = _attack(model, x, y, attack="dlg", iterations=150, frame_every=150,
                         prior=prior)[-1]
    ig = _attack(model, x, y, clip, attack="ig", iterations=80, frame_every=80)[-1]
    dlg = _attack(model, x, y, clip, attack="dlg", iterations=40, frame_every=40)[-1]
    assert verdict(undefended.psnr, undefended.ssim) == "recognisable"  # DLG works undefended
    assert ig.psnr >= 22.0
    assert dlg.psnr < ig.psnr - 10
    assert math.isfinite(dlg.psnr) and dlg.psnr < 100  # a failed attack is never 'perfect'


def test_a_diverging_attack_keeps_a_finite_image(model, phantoms):
    # DLG's L2 distance on a gradient clipped to 1e-6 drives L-BFGS into NaN; the attack must
    # fall back to its last finite guess, and scoring must see real pixels.
    x, y = phantoms.images[:1], phantoms.labels[:1]
    frames = _attack(model, x, y, Defense(clip_norm=1e-6), attack="dlg", iterations=60,
                     frame_every=10)
    for f in frames:
        assert torch.isfinite(f.image).all() and math.isfinite(f.psnr)
        assert f.psnr < 100.0


def test_scores_of_a_nan_or_empty_reconstruction_are_errors(phantoms):
    x = phantoms.images[:1]
    with pytest.raises(InvalidParameterError, match="NaN"):
        psnr(torch.full_like(x, float("nan")), x)
    with pytest.raises(InvalidParameterError, match="NaN"):
        make_scorer(x)(torch.full_like(x, float("nan")))
    with pytest.raises(InvalidParameterError, match="no image"):
        score_images(torch.empty(0, 1, 28, 28), x)
    with pytest.raises(InvalidParameterError, match="psnr_db"):
        verdict(float("nan"), 0.9)


def test_per_image_scores_follow_the_matching(phantoms):
    x = phantoms.images[:3]
    scores = score_images(x[[2, 0, 1]], x)
    assert scores.match == (1, 2, 0)
    assert scores.psnr == (100.0, 100.0, 100.0)
    worse = x.clone()
    worse[1] = 0.5
    s = score_images(worse, x)
    assert s.psnr[1] < 20 and s.psnr[0] == s.psnr[2] == 100.0


def test_truth_does_not_steer_the_attack(model, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    update = client_update(model=model, images=x, labels=y)
    params = inspect.signature(reconstruct).parameters
    assert not {"truth", "images", "x"} & set(params)
    assert [n for n, p in params.items() if p.default is inspect.Parameter.empty] == [
        "model", "update"]  # the server's view: the model it sent and the update it got
    a = run_attack(model=model, update=update, iterations=10, device="cpu")
    b = run_attack(model=model, update=update, iterations=10, device="cpu", score=make_scorer(x))
    assert torch.equal(a.image, b.image)
    assert math.isnan(a.psnr) and not math.isnan(b.psnr)


def test_label_inference_single(model, phantoms):
    wide = make_victim_model(arch="wide_head", size=28, seed=0)
    for net in (model, wide):
        for i in range(len(phantoms)):
            u = client_update(model=net, images=phantoms.images[i:i + 1],
                              labels=phantoms.labels[i:i + 1])
            assert infer_label_single(model=net, update=u) == int(phantoms.labels[i])
    # clipping rescales the gradient but keeps its signs
    u = client_update(model=model, images=phantoms.images[:1], labels=phantoms.labels[:1],
                      defense=Defense(clip_norm=0.01))
    assert infer_label_single(model=model, update=u) == int(phantoms.labels[0])


@pytest.mark.parametrize("labels", [[0, 0, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
def test_label_inference_batch_counts(model, phantoms, labels):
    y = torch.tensor(labels)
    u = client_update(model=model, images=phantoms.images[:6], labels=y)
    counts = infer_label_counts(model=model, update=u)
    assert counts.tolist() == torch.bincount(y, minlength=2).tolist()


def test_stop_token_ends_attack(model, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    update = client_update(model=model, images=x, labels=y)
    stop = StopToken()
    records = []
    for record in reconstruct(model=model, update=update, iterations=1000, frame_every=5,
                              device="cpu", stop=stop, restarts=3):
        records.append(record)
        if len(records) == 2:
            stop.request()
    assert len(records) == 3  # two frames, then the best guess so far
    assert records[-1].stopped and not records[0].stopped
    assert records[-1].partial.iteration <= 15
    assert torch.isfinite(records[-1].partial.image).all()


def test_progress_counts_iterations_and_ends_finished(model, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    update = client_update(model=model, images=x, labels=y)
    records = list(reconstruct(model=model, update=update, iterations=40, frame_every=10,
                               restarts=2, device="cpu", score=make_scorer(x)))
    assert all(r.total == 80 for r in records)
    done = [r.done for r in records]
    assert done == sorted(done) and records[-1].done == 80 and records[-1].finished
    assert "PSNR" in records[-1].message and "dB" in records[-1].message


def test_batch_attack_and_other_defenses_run(model, phantoms):
    x, y = phantoms.images[:2], phantoms.labels[:2]
    for defense in (Defense(topk_fraction=0.1), Defense(local_steps=2, local_lr=0.1)):
        update = client_update(model=model, images=x, labels=y, defense=defense)
        assert [tuple(g.shape) for g in update.gradient] == \
               [tuple(p.shape) for p in model.parameters()]
        if defense.topk_fraction < 1:
            nz = sum(int((g != 0).sum()) for g in update.gradient)
            total = sum(g.numel() for g in update.gradient)
            assert nz <= 0.11 * total
        frame = run_attack(model=model, update=update, iterations=5, device="cpu")
        assert frame.image.shape == x.shape and 0 <= frame.image.min() <= frame.image.max() <= 1


def test_metrics_match_batches_and_verdict():
    d = make_phantoms(n=3, size=28, seed=1)
    assert psnr(d.images, d.images) == 100.0
    perm = d.images[[2, 0, 1]]
    assert psnr(perm, d.images) == 100.0  # a reconstruction is an unordered set
    assert ssim(perm, d.images) == pytest.approx(1.0)
    assert verdict(26.0, 0.8) == "recognisable"
    assert verdict(26.0, 0.5) == "not recognisable"
    assert verdict(20.0, 0.9) == "not recognisable"


def test_sweep_is_deterministic_and_monotone(phantoms):
    # (caching of the sweep: ReconstructionSweep, tests/test_reconstruction_experiments.py)
    from medpriv_widgets.progress import final_result

    kw = dict(images=phantoms.images[:1], labels=phantoms.labels[:1], sigmas=[0.0, 0.1],
              iterations=60)
    first = final_result(sweep_sigmas(model=make_victim_model(size=28), **kw))
    assert first.psnr[0] > first.psnr[1] + 10
    assert first.images.shape == (2, 1, 1, 28, 28)
    again = final_result(sweep_sigmas(model=make_victim_model(size=28), **kw))
    assert again.psnr == first.psnr


def test_run_epsilon_infinite_without_noise():
    assert run_epsilon(noise_multiplier=0.0) == math.inf
    big = run_epsilon(noise_multiplier=1.0)
    small = run_epsilon(noise_multiplier=2.0)
    assert small < big
    assert math.isfinite(run_epsilon(noise_multiplier=1e-4))  # huge, but what is proven


@pytest.mark.parametrize("kwargs", [
    dict(delta=0.0), dict(delta=1.0), dict(delta=-1e-5), dict(delta=float("nan")),
    dict(sample_rate=0.0), dict(sample_rate=1.5), dict(steps=0), dict(accountant="moments"),
    dict(noise_multiplier=-1.0), dict(noise_multiplier=float("nan")),
])
def test_run_epsilon_refuses_bad_input_instead_of_returning_infinity(kwargs):
    args = {"noise_multiplier": 1.0, **kwargs}
    name = next(iter(kwargs))
    with pytest.raises(InvalidParameterError, match=f"`{name}`"):
        run_epsilon(**args)


def test_one_step_bound_is_one_over_sigma():
    assert one_step_mu(0.5) == 2.0 and one_step_mu(0.0) == math.inf
    with pytest.raises(InvalidParameterError):
        one_step_mu(-1.0)


@pytest.mark.parametrize("bad", [
    lambda m, d: client_update(model=m, images=d.images[0], labels=d.labels[:1]),
    lambda m, d: client_update(model=m, images=d.images[:1] * 2, labels=d.labels[:1]),
    lambda m, d: client_update(model=m, images=d.images[:1] - 0.5, labels=d.labels[:1]),
    lambda m, d: client_update(model=m, images=d.images[:2], labels=d.labels[:1]),
    lambda m, d: client_update(model=m, images=make_phantoms(n=1, size=64).images,
                               labels=[0]),
    lambda m, d: Defense(clip_norm=1.0, noise_multiplier=-0.1),
    lambda m, d: Defense(clip_norm=0.0),
    lambda m, d: Defense(clip_norm=-1.0),
    lambda m, d: Defense(noise_multiplier=0.1),  # noise needs a clipping norm
    lambda m, d: Defense(topk_fraction=0.0),
    lambda m, d: select_batch(d.images, d.labels, batch_size=9),
    lambda m, d: select_batch(d.images, d.labels, batch_size=0),
    lambda m, d: run_attack(model=m, update=client_update(model=m, images=d.images[:1],
                                                          labels=d.labels[:1]),
                            attack="deepest_leakage"),
    lambda m, d: run_attack(model=m, update=client_update(model=m, images=d.images[:1],
                                                          labels=d.labels[:1]),
                            iterations=0),
    lambda m, d: run_attack(model=make_victim_model(size=64), update=client_update(
        model=m, images=d.images[:1], labels=d.labels[:1])),
    lambda m, d: sweep_sigmas(model=m, images=d.images[:1], labels=d.labels[:1],
                              sigmas=[-1.0]),
    lambda m, d: make_victim_model(arch="resnet"),
    lambda m, d: reconstruct(model=m, update=client_update(model=m, images=d.images[:1],
                                                           labels=d.labels[:1]),
                             prior=torch.zeros(1, 1, 64, 64)),
    lambda m, d: reconstruct(model=m, update=client_update(model=m, images=d.images[:1],
                                                           labels=d.labels[:1]), init="prior"),
])
def test_bad_parameters_rejected(model, phantoms, bad):
    with pytest.raises(InvalidParameterError) as info:
        bad(model, phantoms)
    assert "`" in str(info.value)  # the message names the parameter


@pytest.mark.parametrize("size,iterations", [(64, 40), (128, 40)])
def test_attack_at_larger_sizes(size, iterations):
    d = make_phantoms(n=1, size=size, seed=2)
    net = make_victim_model(size=size, seed=0)
    frames = _attack(net, d.images, d.labels, iterations=iterations, frame_every=5)
    assert frames[-1].image.shape == (1, 1, size, size)
    assert frames[-1].psnr > frames[0].psnr + 1.0


def test_informed_start_from_the_population_mean(model, phantoms):
    public = make_phantoms(n=64, size=28, seed=11)
    prior = population_prior(public.images)
    assert prior.shape == (1, 1, 28, 28)
    x, y = phantoms.images[:1], phantoms.labels[:1]
    first = _attack(model, x, y, prior=prior, iterations=10, frame_every=10)[0]
    blind = _attack(model, x, y, iterations=10, frame_every=10)[0]
    assert first.psnr > blind.psnr  # the mean X-ray is a far better start than noise
    pulled = _attack(model, x, y, prior=prior, prior_weight=10.0, iterations=20, frame_every=20)
    assert pulled[-1].psnr >= psnr(prior, x) - 1.0


def test_signed_adam_variant_improves(model, phantoms):
    x, y = phantoms.images[:1], phantoms.labels[:1]
    frames = _attack(model, x, y, optimizer="adam", iterations=150, frame_every=50)
    assert frames[-1].psnr > frames[0].psnr + 3.0


def test_parameters_checked_when_called_not_when_iterated(model, phantoms):
    update = client_update(model=model, images=phantoms.images[:1], labels=phantoms.labels[:1])
    with pytest.raises(InvalidParameterError, match="attack"):
        reconstruct(model=model, update=update, attack="nope")  # no iteration needed
    with pytest.raises(InvalidParameterError, match="optimizer"):
        reconstruct(model=model, update=update, optimizer="sgd")


def test_device_choice_and_precision(model, phantoms):
    """The CUDA path is the CPU path with tensors moved: explicit devices and float32 work, a
    missing GPU is a sentence, and on a machine with CUDA the two devices agree."""
    from medpriv_widgets.attacks.reconstruction import suggested_iterations

    x, y = phantoms.images[:1], phantoms.labels[:1]
    update = client_update(model=model, images=x, labels=y)
    kw = dict(model=model, update=update, iterations=10, frame_every=10, score=make_scorer(x))
    cpu = run_attack(device=torch.device("cpu"), **kw)
    f32 = run_attack(device="cpu", dtype="float32", **kw)
    assert torch.isfinite(f32.image).all() and f32.image.dtype == torch.float32
    assert suggested_iterations("cpu") < suggested_iterations("cuda")
    if torch.cuda.is_available():
        gpu = run_attack(device="cuda", **kw)
        assert gpu.image.device.type == "cpu" and abs(gpu.psnr - cpu.psnr) < 1.0
    else:
        with pytest.raises(InvalidParameterError, match="CUDA"):
            reconstruct(device="cuda", **kw)
