"""ReconstructionLab: runs synchronously, draws frames, keeps images square at every batch size,
labels or greys out results of other settings, shows bad input in place and stays usable."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("ipywidgets")

from medpriv_widgets.cache import ResultStore  # noqa: E402
from medpriv_widgets.errors import InvalidParameterError  # noqa: E402
from medpriv_widgets.widgets.reconstruction import (MAX_HONEST_BATCH,  # noqa: E402
                                                    MAX_MALICIOUS_BATCH, ReconstructionLab,
                                                    image_px)

# Tiny convolutions run faster on one thread than on two contended ones.
pytestmark = pytest.mark.usefixtures("one_torch_thread", "no_data_dir")


@pytest.fixture
def store(tmp_path):
    return ResultStore(tmp_path / "store")


def _lab(store, **kw):
    kw.setdefault("iterations", 30)
    return ReconstructionLab(size=28, n_gallery=4, cache=store, **kw)


def _sizes(box):
    """(width, height) of every image drawn in a picture box."""
    out = []
    for child in box.children:
        img = child if hasattr(child, "format") else child.children[0]
        out.append((img.layout.width, img.layout.height, img.layout.object_fit))
    return out


def test_attack_draws_frames_and_curve(store):
    lab = _lab(store)
    lab.run(wait=True)
    assert lab.last_frame is not None and lab.last_frame.iteration <= 30
    assert len(lab.figure.data[0].x) == len(lab.psnr_history) >= 2
    assert len(lab.rebuilt.children) == len(lab.original.children) == 1
    assert "PSNR" in lab.score_html.value and "dB" in lab.status_html.value
    assert not lab.attack_button.disabled and lab.stop_button.disabled
    assert lab.progress.value == pytest.approx(1.0)
    assert "SYNTHETIC" in lab.device_html.value
    assert "(2 t" not in lab.figure.layout.title.text  # no device text to cut in the title


@pytest.mark.parametrize("server,batch", [("honest", 1), ("honest", MAX_HONEST_BATCH),
                                          ("malicious", MAX_MALICIOUS_BATCH)])
def test_images_stay_square_at_every_batch_size(store, server, batch):
    lab = _lab(store, server=server)
    lab.batch_slider.value = batch
    assert lab.batch_slider.value == batch and lab.batch_slider.max >= batch
    px = f"{image_px(batch)}px"
    assert _sizes(lab.original) == [(px, px, "contain")] * batch
    if server == "malicious":  # milliseconds: check the reconstruction grid too
        lab.run(wait=True)
        assert _sizes(lab.rebuilt) == [(px, px, "contain")] * batch
        assert "X-rays at ≥ 30 dB" in lab.score_html.value
    assert lab.widget.children[2].children[0].layout.width == "420px"  # controls keep width


def test_dp_defense_lowers_psnr_and_shows_the_bound(store):
    lab = _lab(store, defense="dp", sigma=0.1)
    assert "does not rule reconstruction out" in lab.bound_html.value
    assert "ε = more than 100" in lab.bound_html.value
    lab.run(wait=True)
    assert lab.last_frame.psnr < 15
    lab.sigma_slider.value = 1.0
    assert "19 in 1,000" in lab.bound_html.value  # Φ(Φ⁻¹(0.001) + 1) = 1.8 %, rounded up


def test_sweep_strip_is_labelled_and_marked_stale_for_other_settings(store):
    lab = _lab(store)
    lab.sweep(sigmas=[0.0, 0.1], iterations=20, wait=True)
    assert len(lab.strip.children) == 2
    assert lab.last_sweep.psnr[0] > lab.last_sweep.psnr[1]
    assert "X-ray #0" in lab.strip_caption.value and "σ = 0.1" in lab.strip.children[1].children[1].value
    lab.image_select.value = 2
    assert "other settings" in lab.strip_caption.value
    assert "medpriv-recon-stale" in lab.strip._dom_classes
    lab.image_select.value = 0
    assert "other settings" not in lab.strip_caption.value


def test_malicious_server_reads_a_batch_and_switches_controls(store):
    lab = _lab(store, server="malicious")
    assert lab.attack_select.disabled and lab.attack() == "imprint"
    lab.batch_slider.value = 16
    lab.run(wait=True)
    assert lab.last_frame.image.shape[0] == 16
    assert "of 16 X-rays at ≥ 30 dB" in lab.score_html.value
    assert "of 16 X-rays rebuilt at ≥ 30 dB" in lab.messages.value  # not a mean of 100 dBs
    assert lab.curve_box.layout.display == "none"  # no iterations to plot
    lab.server_select.value = "honest"
    assert lab.batch_slider.value == MAX_HONEST_BATCH and not lab.attack_select.disabled


def test_only_the_classifier_has_training_states(store):
    lab = _lab(store, arch="classifier", state="one_epoch")
    assert not lab.state_select.disabled
    lab.arch_select.value = "lenet"
    assert lab.state_select.value == "untrained" and lab.state_select.disabled


def test_bad_input_shown_in_place_and_widget_still_works(store):
    lab = _lab(store, iterations=10, defense="dp")
    assert lab.batch_slider.max == MAX_HONEST_BATCH  # never more than the attack is offered
    lab.attack_select.value = "linear_head"
    lab.batch_slider.value = 2
    lab._safe(lab.run, wait=True)
    assert "ONE X-ray" in lab.messages.value and not lab.attack_button.disabled
    lab.batch_slider.value = 1
    lab.attack_select.value = "inverting_gradients"
    lab.run(wait=True)
    assert lab.last_frame is not None and "Done" in lab.messages.value


def test_sweep_needs_data_by_reference(store):
    from medpriv_widgets.data import make_phantoms

    lab = ReconstructionLab(data=make_phantoms(n=6, size=28, seed=0), iterations=10,
                            n_gallery=4, cache=store)
    lab._safe(lab.sweep, sigmas=[0.0], wait=True)
    assert "without `data=`" in lab.messages.value


def test_bad_constructor_arguments_raise(store):
    with pytest.raises(InvalidParameterError):
        _lab(store, defense="magic")
    with pytest.raises(InvalidParameterError):
        _lab(store, attack="deepest")
    with pytest.raises(InvalidParameterError):
        _lab(store, server="evil")
