"""ReconstructionLab: runs synchronously, draws frames, shows bad input in place, stays usable."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("ipywidgets")

from medpriv_widgets.data import make_phantoms  # noqa: E402
from medpriv_widgets.widgets.reconstruction import ReconstructionLab  # noqa: E402


# Tiny convolutions run faster on one thread than on two contended ones.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return make_phantoms(n=6, size=28, seed=0)


def test_attack_draws_frames_and_curve(data):
    lab = ReconstructionLab(data=data, iterations=40, n_gallery=4)
    lab.run(wait=True)
    assert lab.last_frame is not None and lab.last_frame.iteration <= 40
    assert len(lab.figure.data[0].x) == len(lab.psnr_history) >= 2
    assert lab.recon.value and lab.original.value  # PNG bytes drawn
    assert "PSNR" in lab.score_html.value
    assert not lab.attack_button.disabled and lab.stop_button.disabled


def test_dp_defense_lowers_psnr_and_sweep_strip(data):
    lab = ReconstructionLab(data=data, iterations=40, defense="dp", sigma=0.1)
    lab.run(wait=True)
    assert lab.last_frame.psnr < 12
    lab.sweep(sigmas=[0.0, 0.1], iterations=20, wait=True)
    assert len(lab.strip.children) == 2
    assert lab.last_sweep.psnr[0] > lab.last_sweep.psnr[1]


def test_bad_input_shown_in_place_and_widget_still_works(data):
    lab = ReconstructionLab(data=data, iterations=10, defense="dp")
    lab.batch_slider.max = 10  # a slider allowing more images than the data hold
    lab.batch_slider.value = 10
    assert "batch_size" in lab.messages.value
    lab._safe(lab.run, wait=True)
    assert "batch_size" in lab.messages.value and not lab.attack_button.disabled
    lab.batch_slider.value = 1
    lab.run(wait=True)
    assert lab.last_frame is not None


def test_bad_constructor_arguments_raise(data):
    from medpriv_widgets.errors import InvalidParameterError
    with pytest.raises(InvalidParameterError):
        ReconstructionLab(data=data, defense="magic")
    with pytest.raises(InvalidParameterError):
        ReconstructionLab(data=data, attack="deepest")
