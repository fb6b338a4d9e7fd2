"""The reconstruction benchmark's rows, on synthetic phantoms (its targets live in the numbers it
prints, never in a timed test)."""

from __future__ import annotations

import pytest

from medpriv_widgets.bench import BENCHMARKS
from medpriv_widgets.bench.reconstruction import imprint_row, victim_row
from medpriv_widgets.cache import ResultStore

pytestmark = pytest.mark.usefixtures("one_torch_thread", "no_data_dir")


def test_the_cli_finds_it():
    assert "reconstruction" in BENCHMARKS
    assert BENCHMARKS["reconstruction"].startswith("reconstruction of unseen chest X-rays")


def test_a_victim_row_has_the_promised_fields(tmp_path):
    row = victim_row(arch="wide_head", state="untrained", size=28, iterations=20, device="cpu",
                     cache=ResultStore(tmp_path), n_images=2)
    for key in ("seconds_to_30db", "best_psnr", "images_reaching_30db", "images", "attack",
                "prior_psnr", "prior_gradient_distance", "final_gradient_distance",
                "seconds_to_30db_each"):
        assert key in row, key
    assert row["images"] == 2 and row["images_reaching_30db"] == 2 and row["synthetic"]
    assert row["seconds_to_30db"] is not None and row["best_psnr"] >= 30


def test_a_victim_that_never_gets_there_reports_null_not_zero(tmp_path):
    row = victim_row(arch="classifier", state="untrained", size=28, iterations=5, device="cpu",
                     cache=ResultStore(tmp_path), n_images=2)
    assert row["images_reaching_30db"] == 0 and row["seconds_to_30db"] is None
    assert row["seconds_to_30db_each"] == [None, None] and 0 < row["best_psnr"] < 30


def test_the_imprint_row(tmp_path):
    row = imprint_row(size=28, batch=8, bins=64, sites=2)
    for key in ("batch", "share_of_batch_recovered_30db", "seconds", "size"):
        assert key in row, key
    assert row["batch"] == 8 and row["size"] == 28
    assert row["share_of_batch_recovered_30db"] >= 0.5 and row["dp_share"] == 0.0
    assert row["secure_aggregation_share"] >= 0.5
