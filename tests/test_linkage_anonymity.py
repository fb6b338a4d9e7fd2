"""k-anonymity, ℓ-diversity, t-closeness, generalisation and the homogeneity attack, on tables
whose answers were counted by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medpriv_widgets.attacks.linkage import (anonymise, anonymity_report, generalise_column,
                                             homogeneity_attack, k_anonymity, l_diversity, link,
                                             make_public_source, make_registry, make_release,
                                             t_closeness)
from medpriv_widgets.attacks.linkage.generalise import generalise
from medpriv_widgets.errors import InvalidParameterError

# Three classes on (age, zip): sizes 3, 2, 4; diagnoses per class {flu, flu, hiv}, {cancer,
# cancer}, {flu, hiv, cancer, flu}.
TABLE = pd.DataFrame({
    "age": ["20-29"] * 3 + ["30-39"] * 2 + ["40-49"] * 4,
    "zip": ["803**"] * 3 + ["804**"] * 2 + ["803**"] * 4,
    "diagnosis": ["flu", "flu", "hiv", "cancer", "cancer", "flu", "hiv", "cancer", "flu"],
    "stay": [1, 1, 3, 5, 5, 1, 3, 5, 1],
})


def test_k_and_l_hand_counted():
    assert k_anonymity(TABLE, ["age", "zip"]) == 2
    assert k_anonymity(TABLE, ["zip"]) == 2          # 803** has 7 rows, 804** 2
    assert k_anonymity(TABLE, ["age"]) == 2
    assert l_diversity(TABLE, ["age", "zip"], "diagnosis") == 1   # the cancer class
    assert l_diversity(TABLE, ["zip"], "diagnosis") == 1
    assert l_diversity(TABLE.iloc[[0, 1, 2, 5, 6, 7, 8]], ["zip"], "diagnosis") == 3


def test_t_closeness_hand_counted():
    # Overall: flu 4/9, hiv 2/9, cancer 3/9. Class 30-39: cancer 1 → TV = ½(4/9 + 2/9 + 6/9) = 6/9.
    assert t_closeness(TABLE, ["age", "zip"], "diagnosis") == pytest.approx(6 / 9)
    # Numerical stay ∈ {1, 3, 5}: overall (4/9, 2/9, 3/9); class 30-39 (0, 0, 1):
    # ordered EMD = (|−4/9| + |−6/9|) / 2 = 5/9.
    assert t_closeness(TABLE, ["age", "zip"], "stay") == pytest.approx(5 / 9)
    rep = anonymity_report(TABLE, ["age", "zip"], "diagnosis")
    assert (rep.k, rep.l, rep.n_classes, rep.n_rows) == (2, 1, 3, 9)


def test_one_class_is_perfectly_close():
    one = TABLE.assign(age="*", zip="*")
    assert t_closeness(one, ["age", "zip"], "diagnosis") == pytest.approx(0.0)
    assert k_anonymity(one, ["age", "zip"]) == 9 and l_diversity(one, ["age"], "diagnosis") == 3


def test_bad_input_is_a_sentence():
    with pytest.raises(InvalidParameterError, match="at least one quasi-identifier"):
        k_anonymity(TABLE, [])
    with pytest.raises(InvalidParameterError, match="unknown column"):
        k_anonymity(TABLE, ["height"])
    with pytest.raises(InvalidParameterError, match="sensitive"):
        l_diversity(TABLE, ["age"], "blood")
    with pytest.raises(InvalidParameterError, match="empty"):
        k_anonymity(TABLE.iloc[:0], ["age"])


def test_generalisation_hierarchies():
    d = pd.Series(pd.to_datetime(["1987-06-15", "1993-01-02"]))
    assert generalise_column(d, "birth_date", 1).tolist() == ["1987-06", "1993-01"]
    assert generalise_column(d, "birth_date", 2).tolist() == ["1987", "1993"]
    assert generalise_column(d, "birth_date", 3).tolist() == ["1985–1989", "1990–1994"]
    assert generalise_column(d, "birth_date", 4).tolist() == ["1980–1989", "1990–1999"]
    assert generalise_column(d, "birth_date", 5).tolist() == ["*", "*"]
    assert generalise_column(d, "admission_date", 2).tolist() == ["1987-Q2", "1993-Q1"]
    p = pd.Series(["80331", "81929"])
    assert generalise_column(p, "postcode", 2).tolist() == ["803**", "819**"]
    with pytest.raises(InvalidParameterError, match="level"):
        generalise_column(p, "postcode", 6)
    with pytest.raises(InvalidParameterError, match="hierarchy"):
        generalise_column(p, "shoe", 1)


@pytest.fixture(scope="module")
def hospital():
    reg = make_registry(n=1500, seed=0)
    return reg, make_public_source(reg)


QI = ["birth_date", "sex", "postcode"]


@pytest.mark.parametrize("k", [1, 2, 5, 20])
def test_anonymise_reaches_k_and_costs_information(hospital, k):
    reg, pub = hospital
    release = make_release(reg, QI)
    anon = anonymise(release, qi=QI, k=k, max_suppression=0.05)
    assert anon.k >= k and k_anonymity(anon.table, QI) == anon.k
    assert anon.suppressed <= 0.05 * len(release)
    assert len(anon.table) == len(release) - anon.suppressed
    assert 0.0 <= anon.information_loss <= 1.0
    if k == 1:
        assert anon.information_loss == 0.0 and anon.suppressed == 0
    else:
        assert anon.information_loss > 0.0
        # A k-anonymous release re-identifies nobody one-to-one.
        res = link(anon.table, generalise(pub, anon.levels), columns=QI)
        assert res.share_reidentified == 0.0


def test_more_k_never_costs_less(hospital):
    reg, _ = hospital
    release = make_release(reg, QI)
    losses = [anonymise(release, qi=QI, k=k).information_loss for k in (1, 2, 5, 10, 50)]
    assert losses == sorted(losses)


def test_k_larger_than_the_table_is_a_sentence(hospital):
    reg, _ = hospital
    release = make_release(reg.head(30), QI)
    with pytest.raises(InvalidParameterError, match="30 rows"):
        anonymise(release, qi=QI, k=31)
    with pytest.raises(InvalidParameterError, match="at least one quasi-identifier"):
        anonymise(release, qi=[], k=2)
    with pytest.raises(InvalidParameterError, match="hierarchy"):
        anonymise(release, qi=["diagnosis"], k=2)


def test_homogeneity_attack_hand_built():
    # Two 2-anonymous classes: (1950s, F) both HIV → disclosed; (1960s, M) mixed → not.
    reg = pd.DataFrame({
        "person_id": [1, 2, 3, 4],
        "birth_date": pd.to_datetime(["1951-01-01", "1955-02-02", "1962-03-03", "1966-04-04"]),
        "sex": ["F", "F", "M", "M"],
        "diagnosis": ["HIV disease", "HIV disease", "Asthma", "COPD"],
    })
    pub = pd.DataFrame({"person_id": [1, 3, 0], "name": ["Anna", "Carl", "Dora"],
                        "birth_date": pd.to_datetime(["1951-01-01", "1962-03-03", "1953-03-03"]),
                        "sex": ["F", "M", "F"]})
    anon = anonymise(reg, qi=["birth_date", "sex"], k=2, max_suppression=0.0)
    assert anon.levels == {"birth_date": 4, "sex": 0}     # decades
    res = homogeneity_attack(anon, pub, registry=reg)
    # Targets: Anna and Carl (Dora was never a patient). Anna's class is all HIV.
    assert res.n_targets == 2 and res.n_disclosed == 1 and res.n_correct == 1
    assert res.disclosed[["name", "diagnosis", "class_size"]].values.tolist() == [
        ["Anna", "HIV disease", 2]]
    assert res.share_disclosed == 0.5


def test_homogeneity_needs_the_quasi_identifiers_in_public(hospital):
    reg, pub = hospital
    release = make_release(reg, ["ward", "sex"])
    anon = anonymise(release, qi=["ward", "sex"], k=2)
    with pytest.raises(InvalidParameterError, match="ward"):
        homogeneity_attack(anon, pub)


def test_mondrian_hand_built():
    from medpriv_widgets.attacks.linkage import mondrian

    t = pd.DataFrame({
        "person_id": range(1, 9),
        "birth_date": pd.to_datetime(["1950-01-01", "1950-02-01", "1960-01-01", "1960-03-01",
                                      "1970-01-01", "1970-06-01", "1980-01-01", "1980-01-15"]),
        "postcode": ["80331", "80333", "80335", "80337", "81001", "81003", "81005", "81007"],
        "diagnosis": list("AABBCCDD"),
    })
    m = mondrian(t, qi=["birth_date", "postcode"], k=2)
    assert m.k == 2 and k_anonymity(m.table, ["birth_date", "postcode"]) == 2
    assert sorted(m.table["birth_date"]) == ["1950-01–1950-02"] * 2 + ["1960-01–1960-03"] * 2 + \
        ["1970-01–1970-06"] * 2 + ["1980-01"] * 2
    assert set(m.table.loc[m.table["diagnosis"] == "A", "postcode"]) == {"80331–80333"}
    # Every patient is placed in their own group; a stranger outside every range is not.
    placed = m.place(t.drop(columns="diagnosis"))
    assert (placed["birth_date"].to_numpy() == m.table["birth_date"].to_numpy()).all()
    stranger = pd.DataFrame({"birth_date": pd.to_datetime(["1955-06-06"]), "postcode": ["80331"]})
    assert m.place(stranger)["birth_date"].isna().all()
    assert m.mean_range("birth_date") > 0 and 0 < m.information_loss < 1
    assert mondrian(t, qi=["birth_date", "postcode"], k=1).information_loss == 0.0
    with pytest.raises(InvalidParameterError, match="8 rows"):
        mondrian(t, qi=["birth_date"], k=9)


def test_mondrian_keeps_groups_small_and_the_homogeneity_attack_bites(hospital):
    from medpriv_widgets.attacks.linkage import mondrian

    reg, pub = hospital
    release = make_release(reg, QI)
    small, large = mondrian(release, qi=QI, k=2), mondrian(release, qi=QI, k=20)
    sizes = np.bincount(small.groups)
    assert sizes.min() >= 2 and sizes.max() <= 2 * 2 + 1     # ties may add a row
    assert small.information_loss < large.information_loss
    assert link(small.table, small.place(pub), columns=QI).share_reidentified == 0.0
    h_small = homogeneity_attack(small, pub, registry=reg)
    h_large = homogeneity_attack(large, pub, registry=reg)
    assert h_small.n_disclosed > h_large.n_disclosed
    assert h_small.n_correct >= 0.9 * h_small.n_disclosed
