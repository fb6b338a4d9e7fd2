"""Resolution, verification, download and fallback of load_dataset.

Downloads are real: pooch fetches from a ``http.server`` on 127.0.0.1 that serves a copy of the
official 28 px file (made in tmp_path at test time).
"""

from __future__ import annotations

import shutil
import socket
import warnings

import numpy as np
import pytest
import torch

from medpriv_widgets.data import (OFFICIAL, SyntheticDataWarning, download, file_md5,
                                  load_dataset, make_phantoms)
from medpriv_widgets.errors import (ChecksumError, DataUnavailableError,
                                    InvalidParameterError)

MD5_28 = OFFICIAL[28].md5


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Downloads allowed (127.0.0.1 only: every test sets MEDPRIV_DATA_URL), no data dir."""
    monkeypatch.delenv("MEDPRIV_OFFLINE", raising=False)
    monkeypatch.delenv("MEDPRIV_DATA_DIR", raising=False)
    return tmp_path / "downloads"


def _corrupt(path, offset=100_000):
    data = bytearray(path.read_bytes())
    data[offset:offset + 16] = bytes(255 - b for b in data[offset:offset + 16])
    path.write_bytes(bytes(data))


def test_download_verifies_and_is_then_used_from_the_cache(shared_data, file_server, online,
                                                           monkeypatch):
    folder, url = file_server
    shutil.copy(shared_data / "pneumoniamnist.npz", folder / "pneumoniamnist.npz")
    monkeypatch.setenv("MEDPRIV_DATA_URL", url)
    monkeypatch.delenv("MEDPRIV_DATA_DIR", raising=False)

    path = download(28, progress=False)
    assert path == online / "pneumoniamnist.npz"
    assert file_md5(path) == MD5_28
    assert sorted(p.name for p in online.iterdir()) == ["pneumoniamnist.npz"]

    # Now offline and with the server gone: the cached copy is found and verified.
    (folder / "pneumoniamnist.npz").unlink()
    monkeypatch.setenv("MEDPRIV_OFFLINE", "1")
    data = load_dataset(size=28, split="test")
    assert data.official and not data.synthetic and len(data) == 624
    assert data.path == str(path)


def test_load_dataset_downloads_when_nothing_is_local(shared_data, file_server, online,
                                                      monkeypatch):
    folder, url = file_server
    shutil.copy(shared_data / "pneumoniamnist.npz", folder / "pneumoniamnist.npz")
    monkeypatch.setenv("MEDPRIV_DATA_URL", url)
    monkeypatch.delenv("MEDPRIV_DATA_DIR", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntheticDataWarning)
        data = load_dataset(size=28, split="val", progress=False)
    assert data.official and len(data) == 524
    assert (online / "pneumoniamnist.npz").is_file()


def test_corrupt_download_raises_and_leaves_nothing(shared_data, file_server, online, monkeypatch):
    folder, url = file_server
    served = folder / "pneumoniamnist.npz"
    shutil.copy(shared_data / "pneumoniamnist.npz", served)
    _corrupt(served)
    monkeypatch.setenv("MEDPRIV_DATA_URL", url)
    monkeypatch.delenv("MEDPRIV_DATA_DIR", raising=False)

    with pytest.raises(ChecksumError) as info:
        download(28, progress=False)
    msg = str(info.value)
    assert "pneumoniamnist.npz" in msg and MD5_28 in msg and "Nothing was kept" in msg
    assert list(online.iterdir()) == []  # no temporary, no half-written file

    # Through the loader: the checksum error is reported, never silently replaced by phantoms.
    with pytest.raises(ChecksumError):
        load_dataset(size=28, split="train", progress=False)
    assert list(online.iterdir()) == []


def test_unreachable_server_falls_back_to_phantoms(online, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MEDPRIV_DATA_URL", f"http://127.0.0.1:{port}")
    with pytest.warns(SyntheticDataWarning, match="download"):
        data = load_dataset(size=28, split="train", n_synthetic=16, progress=False)
    assert data.synthetic and len(data) == 16
    with pytest.raises(DataUnavailableError, match="medpriv data fetch"):
        load_dataset(size=28, split="train", allow_synthetic=False, progress=False)
    assert not online.exists() or list(online.iterdir()) == []


def test_missing_on_server_is_data_unavailable(file_server, online, monkeypatch):
    _, url = file_server  # serves an empty folder: 404
    monkeypatch.setenv("MEDPRIV_DATA_URL", url)
    with pytest.raises(DataUnavailableError, match="404"):
        download(64, progress=False)
    assert list(online.iterdir()) == []


def test_offline_fallback_is_announced_and_marked_synthetic(no_data_dir):
    with pytest.warns(SyntheticDataWarning, match="SYNTHETIC") as record:
        data = load_dataset(size=64, split="test", n_synthetic=10, seed=3)
    assert "medpriv data fetch --size 64" in str(record[0].message)
    assert data.synthetic and not data.official and data.path is None
    assert "SYNTHETIC" in data.caption
    assert data.images.shape == (10, 1, 64, 64) and data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64
    # Splits get disjoint synthetic patients.
    with pytest.warns(SyntheticDataWarning):
        train = load_dataset(size=64, split="train", n_synthetic=10, seed=3)
    assert not set(train.patient_ids) & set(data.patient_ids)


def test_offline_without_synthetic_explains_what_to_do(no_data_dir):
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(size=128, split="train", allow_synthetic=False)
    msg = str(info.value)
    assert "medpriv data fetch --size 128" in msg and "MEDPRIV_DATA_DIR" in msg


@pytest.mark.parametrize("kwargs, allowed", [
    ({"size": 32}, "28, 64, 128"),
    ({"split": "validation"}, "'train', 'val', 'test'"),
    ({"n_synthetic": 0}, "n_synthetic"),
])
def test_bad_parameters(kwargs, allowed, no_data_dir):
    with pytest.raises(InvalidParameterError, match=allowed.replace("(", r"\(")):
        load_dataset(**kwargs)


def test_corrupt_file_in_data_dir_is_reported_not_deleted(shared_data, tmp_path, monkeypatch):
    mine = tmp_path / "mydata"
    mine.mkdir()
    copy = mine / "pneumoniamnist.npz"
    shutil.copy(shared_data / "pneumoniamnist.npz", copy)
    monkeypatch.setenv("MEDPRIV_DATA_DIR", str(mine))
    assert load_dataset(size=28, split="val").official

    _corrupt(copy)
    with pytest.raises(ChecksumError) as info:
        load_dataset(size=28, split="val")
    msg = str(info.value)
    assert str(copy) in msg and MD5_28 in msg and file_md5(copy) in msg
    assert "not used" in msg
    assert copy.is_file()  # MEDPRIV_DATA_DIR is read-only for us


def test_corrupt_file_in_download_cache_is_refused(shared_data, no_data_dir, tmp_path):
    cache = tmp_path / "downloads"
    cache.mkdir()
    copy = cache / "pneumoniamnist.npz"
    shutil.copy(shared_data / "pneumoniamnist.npz", copy)
    _corrupt(copy)
    with pytest.raises(ChecksumError, match="medpriv data fetch --size 28"):
        load_dataset(size=28, split="train")


def test_official_28_px_from_data_dir(shared_data):
    data = load_dataset(size=28, split="train")
    assert data.official and len(data) == 4708 and data.size == 28
    assert data.images.shape == (4708, 1, 28, 28)
    assert 0.0 <= float(data.images.min()) and float(data.images.max()) <= 1.0
    assert set(np.unique(data.labels.numpy())) == {0, 1}
    assert "official" in data.caption and "SYNTHETIC" not in data.caption


def test_64_px_stand_in_with_patient_ids(shared_data):
    data = load_dataset(size=64, split="val")
    assert not data.official and not data.synthetic
    assert "stand-in" in data.source and "not official" in data.caption
    assert data.images.shape == (524, 1, 64, 64)
    assert data.patient_ids is not None and data.patient_ids.shape == (524,)
    assert data.patient_ids.dtype.kind == "U"
    assert {"subtypes", "filenames", "linked"} <= set(data.metadata)
    # Same radiographs, same order as the official file: labels agree.
    official = load_dataset(size=28, split="val")
    np.testing.assert_array_equal(data.labels.numpy(), official.labels.numpy())


def test_128_px_stand_in_has_no_val(shared_data):
    test = load_dataset(size=128, split="test")
    assert test.images.shape == (624, 1, 128, 128) and test.patient_ids is not None
    with pytest.warns(SyntheticDataWarning, match="no 'val' split"):
        val = load_dataset(size=128, split="val", n_synthetic=4)
    assert val.synthetic


def test_official_file_gets_pseudo_patient_ids_from_index(shared_data):
    if not (shared_data / "kermany_cxr_index.csv").is_file():
        pytest.skip("kermany_cxr_index.csv not present")
    data = load_dataset(size=28, split="test")
    assert data.official and data.patient_ids is not None and len(data.patient_ids) == 624
    linked = data.metadata["linked"]
    assert linked.sum() < 624  # some official test images have no known source
    assert all(p.startswith("unlinked-test-") for p in data.patient_ids[~linked])
    # Same radiograph, same pseudo-patient as in the 64 px stand-in at linked positions.
    stand_in = load_dataset(size=64, split="test")
    np.testing.assert_array_equal(data.patient_ids[linked], stand_in.patient_ids[linked])


def test_corrupt_index_is_not_used(shared_data, tmp_path, monkeypatch):
    if not (shared_data / "kermany_cxr_index.csv").is_file():
        pytest.skip("kermany_cxr_index.csv not present")
    mine = tmp_path / "mydata"
    mine.mkdir()
    shutil.copy(shared_data / "pneumoniamnist.npz", mine / "pneumoniamnist.npz")
    text = (shared_data / "kermany_cxr_index.csv").read_text().replace("person13_", "person99_")
    (mine / "kermany_cxr_index.csv").write_text(text)
    monkeypatch.setenv("MEDPRIV_DATA_DIR", str(mine))
    with pytest.warns(UserWarning, match="kermany_cxr_index.csv"):
        data = load_dataset(size=28, split="val")
    assert data.official and data.patient_ids is None


def test_official_mask_marks_the_substituted_test_images(shared_data):
    stand_in = load_dataset(size=64, split="test")
    mask = stand_in.official_mask()
    # PROVENANCE: 550 of the 624 stand-in test positions hold the official radiograph
    assert mask.shape == (624,) and mask.dtype == bool and int(mask.sum()) == 550
    sub = stand_in.subset(mask)
    assert len(sub) == 550 and sub.official_mask().all()
    # the official file is official everywhere, even where the index has no source file
    assert load_dataset(size=28, split="test").official_mask().all()


def test_official_mask_is_false_for_phantoms(no_data_dir):
    data = make_phantoms(n=6, size=28, seed=0)
    assert not data.official_mask().any()
