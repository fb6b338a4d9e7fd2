"""XrayGallery and the PNG helper: the right images, controls that change them, errors in place."""

from __future__ import annotations

import io

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from medpriv_widgets.errors import DataError, InvalidParameterError
from medpriv_widgets.widgets import gallery as gallery_module
from medpriv_widgets.widgets.gallery import IMAGE_CLASS, SLIDER_CLASS, XrayGallery
from medpriv_widgets.widgets.images import PIXELATED_CLASS, to_png


def _decode(png: bytes) -> np.ndarray:
    return mpimg.imread(io.BytesIO(png), format="png")


def test_to_png_round_trips_shape_and_intensity():
    img = torch.linspace(0, 1, 12 * 7).reshape(1, 12, 7)
    png = to_png(img)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    rgba = _decode(png)
    assert rgba.shape[:2] == (12, 7)
    grey = rgba[..., 0]
    assert grey[0, 0] < 0.01 and grey[-1, -1] > 0.99  # 0 is black, 1 is white
    assert np.all(np.diff(grey.ravel()) >= 0)  # order of intensities kept


def test_to_png_clips_out_of_range_and_refuses_bad_input():
    over = np.full((4, 4), 1.7)
    assert to_png(over) == to_png(np.ones((4, 4)))
    with pytest.raises(InvalidParameterError, match="image"):
        to_png(np.zeros((2, 4, 4)))
    with pytest.raises(InvalidParameterError, match="finite"):
        to_png(np.array([[0.0, np.nan]]))


def test_gallery_shows_kth_normal_and_pneumonia(shared_data):
    g = XrayGallery(size=28, split="test")
    data = g.data
    assert data.official and not data.synthetic
    labels = data.labels.numpy()
    normal, pneumonia = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    assert g.slider.max == min(len(normal), len(pneumonia)) and g.slider.min == 1
    g.show(7)
    assert g.index == 7
    # The slider and the caption name the same pair, counted from 1.
    assert g.slider.value == 8 and "pair 8 of" in g.caption.value
    assert g.images[0].value == to_png(data.images[normal[7], 0])
    assert g.images[1].value == to_png(data.images[pneumonia[7], 0])
    assert "official" in g.caption.value and "CC BY 4.0" in g.caption.value
    assert IMAGE_CLASS in g.images[0]._dom_classes and SLIDER_CLASS in g.slider._dom_classes
    assert PIXELATED_CLASS in g.images[0]._dom_classes


def test_slider_and_size_selector_change_the_images(shared_data):
    g = XrayGallery(size=28, split="test")
    before = g.images[0].value
    g.slider.value = 4  # as if the user moved it to pair 4
    assert g.images[0].value != before and g.index == 3 and "pair 4 of" in g.caption.value
    g.size_selector.value = 64  # as if the user clicked "64 px"
    assert g.size == 64 and g.data.size == 64
    assert _decode(g.images[0].value).shape[:2] == (64, 64)
    assert g.index == 3 and g.slider.value == 4  # the position is kept across sizes
    assert "stand-in" in g.caption.value


def test_load_error_is_shown_in_place_and_gallery_keeps_working(shared_data, monkeypatch):
    g = XrayGallery(size=28, split="test")
    shown = g.images[0].value

    def broken(*, size, split):
        raise DataError(f"The {size} px file is corrupt. Delete it and fetch it again.")

    monkeypatch.setattr(gallery_module, "load_dataset", broken)
    g.size_selector.value = 128
    assert "corrupt" in g.messages.value
    assert g.size == 28 and g.size_selector.value == 28  # back to what is still shown
    assert g.images[0].value == shown
    g.slider.value = 2  # still responsive
    assert g.images[0].value != shown


def test_synthetic_fallback_is_announced_in_the_gallery_not_as_a_python_warning(no_data_dir):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a SyntheticDataWarning reaching the notebook fails
        g = XrayGallery(size=28, split="test")
    assert g.data.synthetic
    assert "SYNTHETIC" in g.caption.value and "SYNTHETIC" in g.messages.value
    assert "medpriv data fetch --size 28" in g.messages.value
    # The real X-rays' credit is not put under drawn pictures.
    assert "Kermany" not in g.caption.value and "No real patient" in g.caption.value


def test_data_summary_says_where_the_images_come_from(no_data_dir):
    import warnings

    from medpriv_widgets.widgets.gallery import data_summary

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = data_summary(size=28, split="test")
    assert text.startswith("Loaded 400 test images of 28 × 28 pixels: ")
    assert "SYNTHETIC" in text and "medpriv data fetch --size 28" in text


@pytest.mark.parametrize("kwargs, name", [({"size": 100}, "size"), ({"split": "dev"}, "split"),
                                          ({"index": -1}, "index")])
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(InvalidParameterError, match=f"`{name}`"):
        XrayGallery(**kwargs)


def test_one_class_split_is_refused_in_place(shared_data, monkeypatch):
    g = XrayGallery(size=28, split="test")
    one_class = g.data.subset(np.flatnonzero(g.data.labels.numpy() == 1))
    monkeypatch.setattr(gallery_module, "load_dataset", lambda *, size, split: one_class)
    assert g.set_size(64) is False
    assert "one class" in g.messages.value and g.size == 28 and g.size_selector.value == 28
