"""The linkage attack on hand-built tables, and the synthetic registry it runs on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medpriv_widgets.attacks.linkage import (ROCHER_2019, SWEENEY_2000, link, make_public_source,
                                             make_registry, make_release,
                                             reidentification_by_columns, uniqueness)
from medpriv_widgets.errors import InvalidParameterError


def _d(s):
    return pd.Timestamp(s)


@pytest.fixture
def tables():
    """Four released patients, five public residents (hand-counted below)."""
    release = pd.DataFrame({
        "person_id": [1, 2, 3, 4],
        "birth_date": [_d("1950-01-01"), _d("1960-05-05"), _d("1960-05-05"), _d("1970-07-07")],
        "sex": ["F", "M", "M", "F"],
        "postcode": ["80331", "80333", "80333", "80335"],
        "diagnosis": ["HIV disease", "Depression", "Asthma", "Pneumonia"],
    })
    public = pd.DataFrame({
        "person_id": [1, 2, 3, 0, 4],
        "name": ["Anna A", "Bernd B", "Carl C", "Dora D", "Eva E"],
        # Carl's twin-like record: same birth date, sex and postcode as Bernd.
        # Eva's birth date was typed two days late.
        "birth_date": [_d("1950-01-01"), _d("1960-05-05"), _d("1960-05-05"), _d("1950-01-01"),
                       _d("1970-07-09")],
        "sex": ["F", "M", "M", "M", "F"],
        "postcode": ["80331", "80333", "80333", "80331", "80335"],
    })
    return release, public


def test_exact_linkage_counts(tables):
    release, public = tables
    res = link(release, public, columns=["birth_date", "sex", "postcode"])
    # Anna: one candidate → re-identified. Bernd/Carl: two candidates each. Eva: typo, none.
    assert res.candidates.tolist() == [1, 2, 2, 0]
    assert res.reidentified.tolist() == [True, False, False, False]
    assert res.correct.tolist() == [True, False, False, False]
    assert res.share_reidentified == 0.25 and res.share_no_candidate == 0.25
    assert res.matches[["name", "diagnosis"]].values.tolist() == [["Anna A", "HIV disease"]]


def test_fewer_columns_more_candidates(tables):
    release, public = tables
    res = link(release, public, columns=["birth_date"])
    # 1950-01-01: Anna and Dora → 2 candidates; nobody is unique any more except none.
    assert res.candidates.tolist() == [2, 2, 2, 0]
    assert not res.reidentified.any()
    # With sex alone every row has many candidates.
    assert link(release, public, columns=["sex"]).candidates.tolist() == [2, 3, 3, 2]


def test_fuzzy_linkage_finds_the_typo(tables):
    release, public = tables
    res = link(release, public, columns=["birth_date", "sex", "postcode"], tolerance_days=2)
    assert res.candidates.tolist() == [1, 2, 2, 1]
    assert res.correct.tolist() == [True, False, False, True]
    assert list(res.matches["name"]) == ["Anna A", "Eva E"]


def test_one_to_one_pairing_is_required():
    # Two identical release rows (a 2-anonymous class) and one public person: not re-identified.
    release = pd.DataFrame({"person_id": [1, 2], "sex": ["F", "F"], "postcode": ["1", "1"]})
    public = pd.DataFrame({"person_id": [1], "name": ["Anna"], "sex": ["F"], "postcode": ["1"]})
    res = link(release, public, columns=["sex", "postcode"])
    assert res.candidates.tolist() == [1, 1] and not res.reidentified.any()


def test_a_wrong_pairing_is_counted_as_wrong():
    release = pd.DataFrame({"person_id": [1], "sex": ["F"], "postcode": ["1"]})
    public = pd.DataFrame({"person_id": [0], "name": ["Stranger"], "sex": ["F"], "postcode": ["1"]})
    res = link(release, public, columns=["sex", "postcode"])
    assert res.reidentified.tolist() == [True] and res.share_reidentified == 0.0
    assert res.share_wrong == 1.0


def test_missing_values_never_match():
    release = pd.DataFrame({"person_id": [1], "admission_date": [pd.NaT]})
    public = pd.DataFrame({"person_id": [1], "name": ["A"], "admission_date": [pd.NaT]})
    assert link(release, public, columns=["admission_date"]).candidates.tolist() == [0]


def test_uniqueness_hand_counted(tables):
    release, _ = tables
    assert uniqueness(release, ["birth_date", "sex", "postcode"]) == 0.5
    assert uniqueness(release, ["sex"]) == 0.0
    assert uniqueness(release, ["diagnosis"]) == 1.0


@pytest.mark.parametrize("columns, match", [
    ([], "at least one quasi-identifier"),
    (["shoe_size"], "unknown column"),
    (["name", "sex"], "direct identifiers"),
])
def test_bad_columns_are_sentences(tables, columns, match):
    release, public = tables
    with pytest.raises(InvalidParameterError, match=match):
        link(release, public, columns=columns)


def test_bad_tolerance_and_tables(tables):
    release, public = tables
    with pytest.raises(InvalidParameterError, match="tolerance_days"):
        link(release, public, columns=["sex"], tolerance_days=-1)
    with pytest.raises(InvalidParameterError, match="DataFrame"):
        link(release.to_dict(), public, columns=["sex"])
    with pytest.raises(InvalidParameterError, match="name"):
        link(release, public.drop(columns="name"), columns=["sex"])


def test_the_registry_is_seeded_and_realistic():
    a = make_registry(n=5000, seed=3)
    b = make_registry(n=5000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(make_registry(n=5000, seed=4))
    assert a["person_id"].is_unique and a["insurance_number"].str.fullmatch(r"[A-Z]\d{9}").all()
    age = (pd.Timestamp("2026-01-01") - a["birth_date"]).dt.days / 365.25
    assert 0.05 < (age < 18).mean() < 0.13 and 0.38 < (age >= 65).mean() < 0.54
    assert set(a.loc[age < 17.9, "ward"]) == {"Paediatrics"}
    assert set(a.loc[a["ward"] == "Obstetrics", "sex"]) == {"F"}
    assert 0.45 < (a["sex"] == "F").mean() < 0.57
    assert a["postcode"].str.fullmatch(r"\d{5}").all()
    assert (a["diagnosis"] == "Pneumonia").mean() > 0.05


def test_the_public_source_overlaps_the_registry():
    reg = make_registry(n=3000, seed=1)
    pub = make_public_source(reg, coverage=0.5, others_per_patient=2.0, typo_rate=0.0)
    patients = pub[pub["person_id"] > 0]
    assert 0.45 < len(patients) / len(reg) < 0.55
    assert (pub["person_id"] == 0).sum() == 6000
    # without typos every covered patient's quasi-identifiers are exactly the registry's
    merged = patients.merge(reg, on="person_id", suffixes=("", "_r"))
    assert (merged["birth_date"] == merged["birth_date_r"]).all()
    assert (merged["name"] == merged["name_r"]).all()


def test_100k_rows_link_and_generate():
    reg = make_registry(n=100_000, seed=0)
    pub = make_public_source(reg)
    table = reidentification_by_columns(reg, pub, [["sex"], ["postcode", "birth_date", "sex"]])
    sex, three = table["reidentified"].tolist()
    assert sex == 0.0 and three > 0.5
    assert three <= 0.7 + 1e-9   # at most the public source's coverage


def test_published_anchors_carry_their_citation():
    assert SWEENEY_2000["share"] == 0.87 and "Sweeney" in SWEENEY_2000["citation"]
    assert ROCHER_2019["share"] == 0.9998 and "10.1038/s41467-019-10933-3" in ROCHER_2019["citation"]


def test_make_release_drops_names():
    reg = make_registry(n=50, seed=0)
    rel = make_release(reg, ["birth_date", "sex"])
    assert list(rel.columns) == ["person_id", "birth_date", "sex", "diagnosis"]
    with pytest.raises(InvalidParameterError, match="unknown column"):
        make_release(reg, ["eye_colour"])
