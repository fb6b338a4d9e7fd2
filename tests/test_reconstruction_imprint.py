"""The malicious server's imprint attack: most of a batch from one update, also behind secure
aggregation and clipping; DP noise stops it; what it needs is said when it is missing."""

from __future__ import annotations

import pytest
import torch

from medpriv_widgets.attacks.reconstruction import (
    Defense, ImprintedModel, client_update, make_scorer, make_victim_model, malicious_model,
    reconstruct, run_attack, score_images, secure_aggregate, share_at_least)
from medpriv_widgets.data import make_phantoms
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.experiments.reconstruction import expected_share_alone

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def public():
    return make_phantoms(n=400, size=28, seed=21)  # the server's own X-rays


@pytest.fixture(scope="module")
def hospital():
    return make_phantoms(n=48, size=28, seed=22, split="test", id_start=5_000)


@pytest.fixture(scope="module")
def server(public):
    return malicious_model(public_images=public.images, bins=256, seed=0)


def _share(frame, truth):
    return share_at_least(score_images(frame.image, truth).psnr, 30.0)


def test_most_of_a_batch_is_read_off_exactly(server, hospital):
    x, y = hospital.images[:32], hospital.labels[:32]
    update = client_update(model=server, images=x, labels=y)
    records = list(reconstruct(model=server, update=update, attack="imprint",
                               score=make_scorer(x)))
    assert len(records) == 1 and records[0].finished
    frame = records[0].partial
    assert frame.image.shape == x.shape
    scores = score_images(frame.image, x)
    assert sum(p >= 30.0 for p in scores.psnr) >= 0.7 * 32
    assert max(scores.psnr) == 100.0  # exact, up to float32 rounding of the update
    assert "bins hold X-rays" in records[0].message


def test_secure_aggregation_and_clipping_do_not_stop_it(server, hospital):
    sites = [(hospital.images[i:i + 8], hospital.labels[i:i + 8]) for i in (0, 8, 16)]
    updates = [client_update(model=server, images=x, labels=y) for x, y in sites]
    summed = secure_aggregate(updates)
    assert summed.num_examples == 24 and summed.declared["securely_aggregated_sites"] == 3
    truth = torch.cat([x for x, _ in sites])
    assert _share(run_attack(model=server, update=summed, attack="imprint"), truth) >= 0.7
    x, y = hospital.images[:16], hospital.labels[:16]
    clipped = client_update(model=server, images=x, labels=y, defense=Defense(clip_norm=1e-3))
    assert _share(run_attack(model=server, update=clipped, attack="imprint"), x) >= 0.7


def test_dp_noise_on_the_update_stops_it(server, hospital):
    x, y = hospital.images[:16], hospital.labels[:16]
    noisy = client_update(model=server, images=x, labels=y, seed=1,
                          defense=Defense(clip_norm=1.0, noise_multiplier=0.5))
    frame = run_attack(model=server, update=noisy, attack="imprint", score=make_scorer(x))
    assert _share(frame, x) == 0.0 and frame.psnr < 15.0


def test_the_model_still_looks_like_a_classifier(server, hospital):
    assert isinstance(server, ImprintedModel) and server.bins == 256 and server.size == 28
    out = server(hospital.images[:4])
    assert out.shape == (4, 2) and torch.isfinite(out).all()


def test_collisions_are_expected_at_the_bin_rate():
    assert expected_share_alone(batch=1, bins=10) == 1.0
    assert expected_share_alone(batch=32, bins=256) == pytest.approx((255 / 256) ** 31)
    assert expected_share_alone(batch=32, bins=256) > 0.8


@pytest.mark.parametrize("bad,match", [
    (lambda s, p, h: reconstruct(model=malicious_model(public_images=p.images, bins=4),
                                 update=client_update(
                                     model=malicious_model(public_images=p.images, bins=4),
                                     images=h.images[:6], labels=h.labels[:6]),
                                 attack="imprint"), "at most 4"),
    (lambda s, p, h: reconstruct(model=make_victim_model(size=28),
                                 update=client_update(model=make_victim_model(size=28),
                                                      images=h.images[:2], labels=h.labels[:2]),
                                 attack="imprint"), "imprint module"),
    (lambda s, p, h: reconstruct(model=s, update=client_update(
        model=s, images=h.images[:2], labels=h.labels[:2], defense=Defense(local_steps=2)),
        attack="imprint"), "one local step"),
    (lambda s, p, h: reconstruct(
        model=(m := malicious_model(public_images=p.images,
                                    base=make_victim_model(arch="classifier", size=28))),
        update=client_update(model=m, images=h.images[:2], labels=h.labels[:2]),
        attack="imprint"), "no gradient back"),
    (lambda s, p, h: malicious_model(public_images=p.images,
                                     base=make_victim_model(size=64)), "28 px"),
    (lambda s, p, h: malicious_model(public_images=p.images, bins=1), "`bins`"),
    (lambda s, p, h: secure_aggregate([]), "non-empty"),
    (lambda s, p, h: secure_aggregate([
        client_update(model=s, images=h.images[:1], labels=h.labels[:1]),
        client_update(model=make_victim_model(size=28), images=h.images[:1],
                      labels=h.labels[:1])]), "same model"),
])
def test_what_the_attack_needs_is_said(server, public, hospital, bad, match):
    with pytest.raises(InvalidParameterError, match=match):
        bad(server, public, hospital)
