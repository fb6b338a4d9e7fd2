"""Pseudonyms: the dictionary attack reverses unsalted hashes and fails on keyed ones; a consistent
pseudonym links two releases either way."""

from __future__ import annotations

import hashlib

import pytest

from medpriv_widgets.attacks.linkage import (dictionary_attack, exhaustive_search_seconds,
                                             hash_pseudonyms, keyed_pseudonyms, link_releases,
                                             make_public_source, make_registry, new_key,
                                             uniqueness)
from medpriv_widgets.errors import InvalidParameterError


def test_unsalted_hash_is_plain_sha256():
    assert hash_pseudonyms(["Anna Schmidt"])[0] == hashlib.sha256(b"Anna Schmidt").hexdigest()


def test_dictionary_attack_reverses_unsalted_and_fails_on_keyed():
    reg = make_registry(n=2000, seed=0)
    pub = make_public_source(reg, coverage=0.7)
    plain = hash_pseudonyms(reg["name"])
    res = dictionary_attack(plain, pub["name"])
    # Every name that is in the public register is recovered, and only correct ones.
    in_public = set(reg["name"]) & set(pub["name"])
    assert len(res.recovered) == len(in_public) and res.share_recovered > 0.6
    assert all(hashlib.sha256(v.encode()).hexdigest() == k for k, v in res.recovered.items())
    assert res.seconds > 0 and res.hashes_per_second > 1000
    keyed = keyed_pseudonyms(reg["name"], key=new_key())
    assert dictionary_attack(keyed, pub["name"]).recovered == {}


def test_keyed_pseudonyms_are_consistent_and_key_dependent():
    k1, k2 = new_key(), new_key()
    a = keyed_pseudonyms(["x", "y", "x"], key=k1)
    assert a[0] == a[2] != a[1]
    assert keyed_pseudonyms(["x"], key=k2)[0] != a[0]
    with pytest.raises(InvalidParameterError, match="16 bytes"):
        keyed_pseudonyms(["x"], key=b"short")
    with pytest.raises(InvalidParameterError, match="not one string"):
        hash_pseudonyms("Anna")


def test_keyed_pseudonyms_still_link_two_releases():
    reg = make_registry(n=3000, seed=2)
    key = new_key()
    reg = reg.assign(pseudonym=keyed_pseudonyms(reg["insurance_number"], key=key))
    first = reg[["pseudonym", "postcode", "diagnosis"]].sample(frac=0.8, random_state=0)
    second = reg[["pseudonym", "birth_date", "sex"]].sample(frac=0.8, random_state=1)
    joined = link_releases(first, second)
    assert 0.55 < len(joined) / len(reg) < 0.75
    # Each release alone: few patients unique; joined: most are.
    assert uniqueness(first, ["postcode"]) < 0.15   # people from far away
    assert uniqueness(joined, ["postcode", "birth_date", "sex"]) > 0.9
    with pytest.raises(InvalidParameterError, match="pseudonym"):
        link_releases(first.drop(columns="pseudonym"), second)


def test_exhaustive_search_time():
    assert exhaustive_search_seconds(2.6e10, hashes_per_second=1e6) == pytest.approx(26_000)
    with pytest.raises(InvalidParameterError):
        exhaustive_search_seconds(0, hashes_per_second=1)
