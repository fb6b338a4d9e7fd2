"""Synthetic chest X-ray phantoms: shapes, ranges, seeds, labels, anatomy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medpriv_widgets.data import make_phantoms
from medpriv_widgets.data import phantoms as ph
from medpriv_widgets.errors import InvalidParameterError


@pytest.mark.parametrize("size", [28, 64, 128, 40])
def test_shapes_dtypes_and_range(size):
    data = make_phantoms(n=12, size=size, seed=1)
    assert data.images.shape == (12, 1, size, size) and data.images.dtype == torch.float32
    assert float(data.images.min()) >= 0.0 and float(data.images.max()) <= 1.0
    assert data.labels.shape == (12,) and data.labels.dtype == torch.int64
    assert data.synthetic and not data.official and data.size == size
    assert "SYNTHETIC" in data.caption
    assert data.images.std() > 0.05  # not a blank image


def test_seeded_and_varied():
    a = make_phantoms(n=8, size=32, seed=5)
    b = make_phantoms(n=8, size=32, seed=5)
    c = make_phantoms(n=8, size=32, seed=6)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    # Per-image variation: no two images of a set are the same.
    flat = a.images.flatten(1)
    assert torch.cdist(flat, flat).add(torch.eye(8) * 1e9).min() > 0.1


def test_pixels_do_not_depend_on_chunking(monkeypatch):
    whole = ph.make_phantom_arrays(n=10, size=32, seed=2)
    monkeypatch.setattr(ph, "_CHUNK_PIXELS", 32 * 32 * 3)  # chunks of 3 images
    chunked = ph.make_phantom_arrays(n=10, size=32, seed=2)
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
def test_pneumonia_fraction(fraction):
    data = make_phantoms(n=40, size=28, seed=0, pneumonia_fraction=fraction)
    assert int(data.labels.sum()) == round(40 * fraction)


def test_patient_ids_are_synthetic_and_some_repeat():
    data = make_phantoms(n=200, size=28, seed=0, id_start=1)
    ids = data.patient_ids
    assert all(i.startswith("synthetic-") for i in ids)
    assert "synthetic-0001" in set(ids)
    assert 1 < len(set(ids)) < 200  # several images for some patients


def test_anatomy_lungs_dark_mediastinum_bright_opacities_in_lungs():
    data = make_phantoms(n=300, size=64, seed=0, pneumonia_fraction=0.5)
    x = data.images[:, 0].numpy()
    y = data.labels.numpy()
    rows = slice(20, 36)
    lung = x[:, rows, 12:20].mean(axis=(1, 2)) + x[:, rows, 44:52].mean(axis=(1, 2))
    centre = x[:, rows, 29:35].mean(axis=(1, 2))
    assert (centre > lung / 2).mean() > 0.95  # mediastinum brighter than lung fields
    # Opacities brighten the lungs of the pneumonia class on average.
    assert lung[y == 1].mean() > lung[y == 0].mean() + 0.01


@pytest.mark.parametrize("kwargs", [
    {"n": 0, "size": 28}, {"n": 4, "size": 8}, {"n": 4, "size": 28, "pneumonia_fraction": 1.5},
    {"n": 4, "size": 28, "split": "dev"}, {"n": 4.5, "size": 28},
])
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        make_phantoms(**kwargs)
