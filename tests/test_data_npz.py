"""Schema validation of MedMNIST-format .npz files: good files load, malformed ones are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medpriv_widgets.data import load_dataset, load_npz
from medpriv_widgets.errors import DataUnavailableError, InvalidParameterError, SchemaError


def _good_arrays(n=12, size=8, split="train"):
    rng = np.random.default_rng(0)
    return {
        f"{split}_images": rng.integers(0, 256, (n, size, size), dtype=np.uint8),
        f"{split}_labels": rng.integers(0, 2, (n, 1), dtype=np.uint8),
    }


def _write(tmp_path, arrays, name="x.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_valid_file_loads_as_float_tensors(tmp_path):
    arrays = _good_arrays()
    arrays["train_patient_ids"] = np.array([f"p{i // 2}" for i in range(12)])
    arrays["train_subtypes"] = np.arange(12, dtype=np.uint8)
    arrays["train_not_per_image"] = np.arange(3)  # wrong length: not metadata
    data = load_npz(_write(tmp_path, arrays), split="train")
    assert data.images.dtype == torch.float32 and data.images.shape == (12, 1, 8, 8)
    assert float(data.images.min()) >= 0.0 and float(data.images.max()) <= 1.0
    np.testing.assert_allclose(data.images[:, 0].numpy() * 255, arrays["train_images"], atol=1e-3)
    assert data.labels.dtype == torch.int64 and data.labels.shape == (12,)
    np.testing.assert_array_equal(data.labels.numpy(), arrays["train_labels"][:, 0])
    assert list(data.patient_ids[:3]) == ["p0", "p0", "p1"]
    assert set(data.metadata) == {"subtypes"}
    assert not data.official and not data.synthetic
    sub = data.subset([0, 5])
    assert len(sub) == 2 and list(sub.metadata["subtypes"]) == [0, 5]


def test_flat_labels_accepted(tmp_path):
    arrays = _good_arrays()
    arrays["train_labels"] = arrays["train_labels"][:, 0].astype(np.int64)
    assert len(load_npz(_write(tmp_path, arrays))) == 12


def _mutate(kind):
    arrays = _good_arrays()
    if kind == "missing key":
        del arrays["train_labels"]
    elif kind == "wrong dtype":
        arrays["train_images"] = arrays["train_images"].astype(np.float32)
    elif kind == "non-square":
        arrays["train_images"] = arrays["train_images"][:, :, :6]
    elif kind == "label 2":
        arrays["train_labels"][3, 0] = 2
    elif kind == "length mismatch":
        arrays["train_labels"] = arrays["train_labels"][:-1]
    elif kind == "colour channels":
        arrays["train_images"] = np.repeat(arrays["train_images"][..., None], 3, axis=-1)
    elif kind == "multi-label":
        arrays["train_labels"] = np.zeros((12, 14), dtype=np.uint8)
    elif kind == "float labels":
        arrays["train_labels"] = arrays["train_labels"].astype(np.float32)
    elif kind == "pickled objects":
        arrays["train_labels"] = np.array([{"label": 0}] * 12, dtype=object)
    return arrays


@pytest.mark.parametrize("kind, expected", [
    ("missing key", "train_labels"),
    ("wrong dtype", "uint8"),
    ("non-square", "square"),
    ("label 2", "[2]"),
    ("length mismatch", "11 labels"),
    ("colour channels", "(N, H, W)"),
    ("multi-label", "(N, 1)"),
    ("float labels", "integer"),
    ("pickled objects", "pickled"),
])
def test_malformed_files_are_rejected(tmp_path, kind, expected):
    path = _write(tmp_path, _mutate(kind))
    with pytest.raises(SchemaError) as info:
        load_npz(path, split="train")
    msg = str(info.value)
    assert expected in msg
    assert str(path) in msg and "medpriv data fetch" in msg  # names the file and what to do
    # The same file is refused through the public loader too.
    with pytest.raises(SchemaError):
        load_dataset(path=path, split="train")


def test_missing_split_lists_present_ones(tmp_path):
    path = _write(tmp_path, _good_arrays())
    with pytest.raises(SchemaError, match="splits present: train"):
        load_npz(path, split="val")


def test_not_an_npz_and_missing_file(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive" * 10)
    with pytest.raises(SchemaError, match="cannot open"):
        load_npz(junk)
    with pytest.raises(DataUnavailableError, match="No file"):
        load_npz(tmp_path / "absent.npz")


def test_unknown_split_is_a_parameter_error(tmp_path):
    path = _write(tmp_path, _good_arrays())
    with pytest.raises(InvalidParameterError, match="'train', 'val', 'test'"):
        load_npz(path, split="validation")


def test_explicit_path_to_official_file_is_marked_official(shared_data):
    data = load_dataset(path=shared_data / "pneumoniamnist.npz", split="val")
    assert data.official and data.size == 28 and len(data) == 524
    # Pseudo-patient IDs come from the index table when it sits beside the file.
    has_index = (shared_data / "kermany_cxr_index.csv").is_file()
    assert (data.patient_ids is not None) == has_index


def test_nih_sample_is_not_medmnist_format(shared_data):
    nih = shared_data / "nih_cxr14_sample_64.npz"
    if not nih.is_file():
        pytest.skip("nih_cxr14_sample_64.npz not present")
    with pytest.raises(SchemaError, match="missing"):
        load_npz(nih, split="train")


def _forged(tmp_path, members: dict[str, bytes], name="forged.npz"):
    import zipfile

    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for member, data in members.items():
            z.writestr(member, data)
    return path


def _npy(array) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    return buf.getvalue()


def test_bad_archives_get_a_sentence_not_a_traceback(tmp_path):
    import io

    npy = tmp_path / "renamed.npz"
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8), np.uint8))
    (tmp_path / "x.npy").rename(npy)
    header = io.BytesIO()  # a header that declares a 7 TB array over 4 bytes of data
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (10**6, 10**6, 7)})
    cases = {
        "single array": (npy, ".npy"),
        "zip without arrays": (_forged(tmp_path, {"readme.txt": b"hi"}, "txt.npz"), "missing"),
        "garbage member": (_forged(tmp_path, {"train_images.npy": b"garbage",
                                              "train_labels.npy": b"garbage"}, "g.npz"),
                           "not a valid .npy"),
        "huge header": (_forged(tmp_path, {"train_images.npy": header.getvalue() + b"\0" * 4,
                                           "train_labels.npy": _npy(np.zeros((3, 1), np.uint8))},
                                "h.npz"), "declares shape (1000000, 1000000, 7)"),
    }
    for kind, (path, expected) in cases.items():
        with pytest.raises(SchemaError) as info:
            load_npz(path, split="train")
        assert expected in str(info.value), kind
        assert "medpriv data fetch" in str(info.value)
