"""The lesson 01 table labs as a learner uses them: names appear, bad choices are sentences in
place, and the lab keeps working afterwards."""

from __future__ import annotations

import pytest

from medpriv_widgets.widgets.anonymization import KAnonymityLab, LinkageLab


@pytest.fixture(scope="module")
def linkage_lab():
    return LinkageLab(n=600, seed=0)


def test_the_default_release_names_patients(linkage_lab):
    lab = linkage_lab
    lab.set_columns(["birth_date", "sex", "postcode"])
    assert lab.result.share_reidentified > 0.4
    assert "right name" in lab.summary.value and "<td>" in lab.names.value
    first = lab.result.matches.loc[lab.result.matches["correct"], "name"].iloc[0]
    assert first in lab.names.value


def test_one_column_names_fewer(linkage_lab):
    lab = linkage_lab
    lab.set_columns(["birth_date", "sex", "postcode"])
    many = lab.result.share_reidentified
    lab.boxes["postcode"].value = False
    lab.boxes["birth_date"].value = False
    assert lab.columns == ["sex"] and lab.result.share_reidentified < many
    assert "could not put a name" in lab.summary.value


def test_no_column_unknown_column_and_recovery(linkage_lab):
    lab = linkage_lab
    lab.set_columns([])
    assert "at least one quasi-identifier" in lab.message.value and lab.summary.value == ""
    lab.set_columns(["shoe_size"])
    assert "Unknown column" in lab.message.value
    lab.set_columns(["ward"])
    assert "shares no quasi-identifier" in lab.message.value
    lab.set_columns(["birth_date", "postcode"])
    assert lab.message.value == "" and "right name" in lab.summary.value


@pytest.fixture(scope="module")
def k_lab():
    return KAnonymityLab(n=6000, seed=0, ward="Psychiatry", k=1)


def test_k_slider_generalises_and_stops_naming(k_lab):
    lab = k_lab
    lab.k.value = 1
    assert lab.linked.share_reidentified > 0.3 and lab.anonymised.information_loss == 0
    before = lab.preview.value
    lab.k.value = 2
    assert lab.anonymised.k >= 2 and lab.linked.share_reidentified == 0.0
    assert lab.anonymised.information_loss > 0 and lab.preview.value != before
    # Groups of two or three in a ward with four diagnoses: many are single-diagnosis.
    assert lab.homogeneity.n_disclosed > 0 and "Homogeneity attack" in lab.disclosed.value
    assert lab.homogeneity.disclosed["name"].iloc[0] in lab.disclosed.value
    small = lab.homogeneity.n_disclosed
    lab.k.value = 10
    assert lab.homogeneity.n_disclosed < small


def test_k_larger_than_the_table_is_a_sentence_and_the_lab_recovers(k_lab):
    lab = k_lab
    lab.set_k(10**6)
    assert "rows, so no release can hide a row among more" in lab.message.value
    lab.k.value = 2
    lab.update()
    assert lab.message.value == "" and lab.anonymised.k >= 2
