"""Patient-level splits: no patient in two parts, seeded, sizes near the targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medpriv_widgets.data import load_dataset, make_phantoms, patient_split, split_by_patient
from medpriv_widgets.errors import InvalidParameterError


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(0, 30), min_size=1, max_size=120),
       fractions=st.lists(st.floats(0.05, 0.9), min_size=1, max_size=4),
       seed=st.integers(0, 2**31 - 1))
def test_parts_are_disjoint_by_patient(ids, fractions, seed):
    total = sum(fractions)
    if total > 1:
        fractions = [f / total * 0.999 for f in fractions]
    ids = np.array(ids)
    try:
        parts = patient_split(ids, fractions=fractions, seed=seed)
    except InvalidParameterError as exc:
        assert "no patient" in str(exc)
        return
    assert len(parts) == len(fractions)
    seen_idx, seen_pat = set(), set()
    for part in parts:
        assert part.dtype == np.int64 and len(part) > 0
        assert np.all(np.diff(part) > 0)  # sorted, unique
        pats = set(ids[part].tolist())
        assert not pats & seen_pat
        assert not set(part.tolist()) & seen_idx
        seen_pat |= pats
        seen_idx |= set(part.tolist())
    # A patient in a part brings all of its images.
    for pat in seen_pat:
        assert set(np.flatnonzero(ids == pat).tolist()) <= seen_idx
    again = patient_split(ids, fractions=fractions, seed=seed)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_full_partition_and_target_sizes():
    ids = np.repeat(np.arange(500), 2)
    parts = patient_split(ids, fractions=(0.6, 0.2, 0.2), seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))
    sizes = [len(p) for p in parts]
    assert abs(sizes[0] - 600) <= 2 and abs(sizes[1] - 200) <= 2
    other = patient_split(ids, fractions=(0.6, 0.2, 0.2), seed=1)
    assert not np.array_equal(parts[0], other[0])


def test_without_ids_each_image_is_a_patient():
    parts = patient_split(None, n=10, fractions=(0.5, 0.5), seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    assert [len(p) for p in parts] == [5, 5]


@pytest.mark.parametrize("kwargs, match", [
    ({"patient_ids": None}, "`n`"),
    ({"patient_ids": ["a", "b"], "fractions": (0.7, 0.7)}, "sum to at most 1"),
    ({"patient_ids": ["a", "b"], "fractions": (0.0, 0.5)}, r"fractions\[0\]"),
    ({"patient_ids": ["a", "a", "a"], "fractions": (0.5, 0.5)}, "no patient"),
    ({"patient_ids": []}, "non-empty"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        patient_split(**kwargs)


def test_split_by_patient_on_phantoms():
    data = make_phantoms(n=60, size=28, seed=0)
    a, b = split_by_patient(data, fractions=(0.5, 0.5), seed=0)
    assert len(a) + len(b) == 60
    assert not set(a.patient_ids) & set(b.patient_ids)


def test_real_stand_in_patients_do_not_straddle(shared_data):
    data = load_dataset(size=64, split="train")
    members, non_members = patient_split(data.patient_ids, fractions=(0.5, 0.5), seed=0)
    assert not set(data.patient_ids[members]) & set(data.patient_ids[non_members])
    assert abs(len(members) - len(data) / 2) < 0.02 * len(data)
