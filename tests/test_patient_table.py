"""The shipped patient table: official PneumoniaMNIST position → pseudo-patient ID, for every user."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from medpriv_widgets.data import load_dataset, patient_split
from medpriv_widgets.data.patients import TABLE_NAME, shipped_patient_ids

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "medpriv_widgets" / "data" / TABLE_NAME


def _rows():
    with open(TABLE, newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_the_table_holds_positions_labels_and_ids_only():
    rows = _rows()
    assert list(rows[0]) == ["split", "index", "label", "patient_id"]
    counts = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    assert counts == {"train": 4708, "val": 524, "test": 624}
    # PROVENANCE: IDs for all of train and val, 550 of 624 test positions; 4,097 patients.
    unknown = [r for r in rows if not r["patient_id"]]
    assert len(unknown) == 74 and {r["split"] for r in unknown} == {"test"}
    assert len({r["patient_id"] for r in rows if r["patient_id"]}) <= 4097
    assert "CC BY 4.0" in TABLE.read_text().splitlines()[1]


def test_the_table_ships_as_package_data():
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert TABLE_NAME in conf["tool"]["setuptools"]["package-data"]["medpriv_widgets.data"]


def test_the_shipped_table_is_what_the_script_makes(shared_data, tmp_path):
    out = tmp_path / "table.csv"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "make_patient_table.py"),
                           "--index", str(shared_data / "kermany_cxr_index.csv"),
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == TABLE.read_bytes()


def test_the_script_says_what_to_do_without_the_index(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "make_patient_table.py"),
                           "--index", str(tmp_path / "missing.csv"),
                           "--out", str(tmp_path / "t.csv")], capture_output=True, text=True)
    assert done.returncode == 2 and "MEDPRIV_DATA_DIR" in done.stderr
    assert not (tmp_path / "t.csv").exists()


@pytest.fixture
def official_only(shared_data, tmp_path, monkeypatch) -> Path:
    """A data folder with only the official 28 px file, as a user who downloaded it has."""
    folder = tmp_path / "official_only"
    folder.mkdir()
    shutil.copy(shared_data / "pneumoniamnist.npz", folder / "pneumoniamnist.npz")
    monkeypatch.setenv("MEDPRIV_DATA_DIR", str(folder))
    return folder


def test_the_official_download_alone_gets_patient_ids(official_only, shared_data, monkeypatch):
    for split in ("train", "val", "test"):
        data = load_dataset(size=28, split=split)
        assert data.official and data.patient_ids is not None
        assert set(data.metadata["patient_id_source"]) == {TABLE_NAME}
        # identical to what the development index gives
        monkeypatch.setenv("MEDPRIV_DATA_DIR", str(shared_data))
        dev = load_dataset(size=28, split=split)
        monkeypatch.setenv("MEDPRIV_DATA_DIR", str(official_only))
        np.testing.assert_array_equal(data.patient_ids, dev.patient_ids)
        np.testing.assert_array_equal(data.metadata["linked"], dev.metadata["linked"])


def test_the_same_radiograph_has_the_same_patient_id_at_every_size(official_only, shared_data,
                                                                  monkeypatch):
    train28 = load_dataset(size=28, split="train")
    test28 = load_dataset(size=28, split="test")
    monkeypatch.setenv("MEDPRIV_DATA_DIR", str(shared_data))
    for size in (64, 128):
        for split, official in (("train", train28), ("test", test28)):
            other = load_dataset(size=size, split=split)
            pos = other.metadata.get("medmnist_index", np.arange(len(other)))
            same = other.official_mask()   # positions holding the official radiograph
            np.testing.assert_array_equal(other.patient_ids[same],
                                          official.patient_ids[pos][same])


def test_a_file_in_another_order_gets_no_ids_rather_than_wrong_ones():
    labels = shipped_patient_ids("val", np.zeros(524, dtype=int))
    assert labels is None
    assert shipped_patient_ids("val", np.zeros(3, dtype=int)) is None
    assert shipped_patient_ids("nope", np.zeros(3, dtype=int)) is None


def test_membership_splits_of_the_official_download_are_patient_aware(official_only):
    train = load_dataset(size=28, split="train")
    val = load_dataset(size=28, split="val")
    # PROVENANCE: 190 patients sit in both official train and val (an image-level split).
    assert len(set(train.patient_ids) & set(val.patient_ids)) == 190
    ids = np.concatenate([train.patient_ids, val.patient_ids])
    a, b = patient_split(ids, fractions=(0.5, 0.5), seed=0)
    assert not set(ids[a]) & set(ids[b])
