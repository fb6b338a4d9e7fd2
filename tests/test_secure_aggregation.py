"""Secure aggregation and sealed transport: exact sums, masked inputs that look like noise,
recovery from a dropout, refusal (never a partial sum) beyond the threshold, tamper evidence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from medpriv_widgets.errors import (InvalidParameterError, SecureAggregationError,
                                    TamperedMessageError)
from medpriv_widgets.federated.quantize import Quantizer
from medpriv_widgets.federated.secure_aggregation import (SecAggServer, SecAggSite,
                                                          UnmaskingRequest, secure_sum)
from medpriv_widgets.federated.transport import agree_key, new_key, open_sealed, seal, tamper


@pytest.fixture(scope="module")
def updates():
    rng = np.random.default_rng(7)
    # model-update-like values: small, of different scales per site
    return {i: rng.normal(scale=0.01 * (i + 1), size=5_000) for i in range(5)}


def test_masked_sum_equals_plain_sum_to_quantisation_error(updates):
    result = secure_sum(updates)
    plain = np.sum(list(updates.values()), axis=0)
    err = np.abs(result.total - plain).max()
    assert err <= result.max_error
    assert result.max_error == pytest.approx(5 * 2.0 ** -25)
    assert result.survivors == (0, 1, 2, 3, 4) and result.dropped == ()


def test_a_single_masked_update_is_indistinguishable_from_uniform_noise(updates):
    result = secure_sum(updates)
    masked = result.masked[2]
    assert masked.dtype == np.uint64 and masked.shape == (5_000,)
    # mapped to [0, 1): a uniform sample passes Kolmogorov–Smirnov; the plain update does not
    u = masked.astype(np.float64) / 2.0 ** 64
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    plain = Quantizer().encode(updates[2]).astype(np.float64) / 2.0 ** 64
    assert stats.kstest(plain, "uniform").pvalue < 1e-10
    # and it carries no linear trace of the update it hides
    assert abs(np.corrcoef(u, updates[2])[0, 1]) < 0.06
    # the low byte is uniform too (chi-square over 256 cells)
    counts = np.bincount((masked & np.uint64(0xFF)).astype(np.int64), minlength=256)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_one_dropout_after_sharing_keys_still_gives_the_right_sum(updates):
    result = secure_sum(updates, drop_after_sharing=[3])
    expected = np.sum([v for k, v in updates.items() if k != 3], axis=0)
    assert np.abs(result.total - expected).max() <= result.max_error
    assert result.dropped == (3,) and 3 not in result.masked


def test_more_dropouts_than_the_threshold_allows_give_a_sentence_not_a_partial_sum(updates):
    with pytest.raises(SecureAggregationError) as info:
        secure_sum(updates, drop_after_sharing=[0, 1, 2])  # 2 left, threshold 3
    text = str(info.value)
    assert "Only 2 of 5 hospitals" in text and "at least 3" in text
    assert "nothing is released" in text and "lower threshold" in text


def test_the_server_cannot_learn_one_site_by_calling_it_both_present_and_dropped():
    sites = [SecAggSite(i, round_id=1) for i in range(3)]
    server = SecAggServer(site_ids=[0, 1, 2], length=4, round_id=1)
    roster = server.collect_keys([s.advertise() for s in sites])
    inboxes = server.route_shares({s.site_id: s.share_keys(roster, threshold=2) for s in sites})
    for s in sites:
        s.receive_shares(inboxes[s.site_id])
    for s in sites:
        s.masked_input(np.zeros(4, dtype=np.uint64))
    with pytest.raises(SecureAggregationError, match="both as present and as dropped"):
        sites[0].unmask(UnmaskingRequest(survivors=(0, 1, 2), dropped=(2,)))


def test_tampered_key_shares_are_detected():
    sites = [SecAggSite(i) for i in range(3)]
    server = SecAggServer(site_ids=[0, 1, 2], length=4)
    roster = server.collect_keys([s.advertise() for s in sites])
    inboxes = server.route_shares({s.site_id: s.share_keys(roster, threshold=2) for s in sites})
    box = inboxes[1][0]
    from dataclasses import replace
    bad = replace(box, ciphertext=bytes([box.ciphertext[0] ^ 1]) + box.ciphertext[1:])
    with pytest.raises(TamperedMessageError, match="altered on the way"):
        sites[1].receive_shares({0: bad})


def test_bad_input_is_refused_in_words(updates):
    with pytest.raises(InvalidParameterError, match="at least 2 hospitals"):
        secure_sum({0: updates[0]})
    with pytest.raises(InvalidParameterError, match="same number of values"):
        secure_sum({0: updates[0], 1: updates[1][:10]})
    with pytest.raises(InvalidParameterError, match="beyond the largest value"):
        secure_sum({0: np.array([1e20]), 1: np.array([0.0])})
    with pytest.raises(InvalidParameterError, match="NaN"):
        secure_sum({0: np.array([np.nan]), 1: np.array([0.0])})


def test_quantizer_round_trip_and_bound():
    q = Quantizer(fractional_bits=10, max_parties=4)
    x = np.array([-3.14159, 0.0, 2.5e-4, 1000.0])
    assert np.abs(q.decode(q.encode(x)) - x).max() <= q.step / 2
    total = q.encode(x) + q.encode(-2 * x)
    assert np.abs(q.decode(total) + x).max() <= q.max_sum_error(2)


def test_sealed_update_round_trips_and_is_useless_without_the_key():
    key = new_key()
    weights = {"w": np.linspace(-1, 1, 50).reshape(5, 10), "b": np.arange(3, dtype=np.float32)}
    sealed = seal(weights, key=key, sender="Rural clinic", receiver="server", round=3)
    assert weights["w"].tobytes() not in sealed.ciphertext
    back = open_sealed(sealed, key=key)
    assert np.array_equal(back["w"], weights["w"]) and back["b"].dtype == np.float32
    with pytest.raises(TamperedMessageError, match="failed its authentication check"):
        open_sealed(sealed, key=new_key())           # stolen: no key
    with pytest.raises(TamperedMessageError, match="Rural clinic"):
        open_sealed(tamper(sealed, byte=17), key=key)  # altered on the wire
    from dataclasses import replace
    with pytest.raises(TamperedMessageError):
        open_sealed(replace(sealed, round=4), key=key)  # replayed into another round


def test_agreed_keys_match_on_both_sides():
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    raw = dict(encoding=Encoding.Raw, format=PublicFormat.Raw)
    k1 = agree_key(a, b.public_key().public_bytes(**raw), context="site-1/server")
    k2 = agree_key(b, a.public_key().public_bytes(**raw), context="site-1/server")
    assert k1 == k2 and len(k1) == 32
    assert agree_key(a, b.public_key().public_bytes(**raw), context="other") != k1
