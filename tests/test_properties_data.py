"""MedMNIST .npz files with generated damage (issue 15, item 8): a typed error, never a raw one.

Random bytes, archives with random members, forged .npy headers declaring any shape: the
loader answers with SchemaError or DataUnavailableError (a sentence naming the file), and
never allocates what a header merely declares.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medpriv_widgets.data import load_npz
from medpriv_widgets.errors import DataError

PROPS = settings(database=None, deadline=None, max_examples=80,
                 suppress_health_check=[HealthCheck.too_slow])


def _header(shape, descr="|u1") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": tuple(shape)})
    return buf.getvalue()


def _load(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.npz"
        path.write_bytes(data)
        try:
            return load_npz(path, split="train")
        except DataError as exc:
            assert str(path) in str(exc) or "No usable file" in str(exc)
            return None


@PROPS
@given(st.binary(max_size=400))
def test_random_bytes(data):
    _load(data)


member_data = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda shape, tail: _header(shape) + tail,
              st.lists(st.integers(0, 10**7), min_size=0, max_size=4), st.binary(max_size=64)),
    st.builds(lambda shape: _header(shape, "|O") + b"\x80\x04N.", st.lists(st.integers(0, 9),
                                                                           max_size=2)),
)


@PROPS
@given(st.dictionaries(st.sampled_from(["train_images.npy", "train_labels.npy", "readme.txt",
                                        "train_patient_ids.npy", "val_images.npy"]),
                       member_data, max_size=4),
       st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_archives_with_random_members(members, compression):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    _load(buf.getvalue())


@PROPS
@given(st.integers(0, 10**12), st.integers(1, 10**6), st.integers(1, 10**6))
def test_a_header_cannot_make_the_loader_allocate_what_it_declares(n, h, w):
    images = _header((n, h, w)) + b"\0" * 16
    labels = io.BytesIO()
    np.lib.format.write_array(labels, np.zeros((2, 1), np.uint8))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("train_images.npy", images)
        z.writestr("train_labels.npy", labels.getvalue())
    assert _load(buf.getvalue()) is None or n * h * w <= 16
