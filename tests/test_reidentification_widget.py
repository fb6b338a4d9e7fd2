"""The X-ray lookup lab: trains once with progress, shows five neighbours with the same patient
marked, and explains in place when the data have no patient IDs."""

from __future__ import annotations

import dataclasses

import pytest

from medpriv_widgets.attacks.reidentification import ReidSettings
from medpriv_widgets.cache import ResultStore
from medpriv_widgets.data import make_phantoms
from medpriv_widgets.widgets.reidentification import XrayLookupLab

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ReidSettings(size=28, epochs=1, batch_patients=16, width=8, dim=32, test_fraction=0.4)


def test_the_lab_trains_then_shows_five_neighbours(tmp_path):
    store = ResultStore(tmp_path / "store")
    data = make_phantoms(n=200, size=28, seed=2)
    lab = XrayLookupLab(settings=SMALL, cache=store, data=data)
    assert lab.result is None and not lab.train_button.disabled
    assert "not trained yet" in lab.message.value
    lab.run()
    assert lab.result is not None and lab.progress.value == 1.0
    tiles = lab.matches.children[0].children[1].children
    assert len(tiles) == 5
    same = [t for t in tiles if "medpriv-reid-same" in t._dom_classes]
    assert ("Found" in lab.answer.value) == bool(same)
    assert "SYNTHETIC" in lab.summary.value and "Packhäuser" in lab.summary.value
    before = lab.query
    for _ in range(5):
        lab.next_query()
        if lab.query != before:
            break
    assert lab.query != before
    lab.anonymise.value = True
    assert "anonymous X-ray" in lab.query_box.children[0].value
    # A second lab on the same cache answers at once.
    again = XrayLookupLab(settings=SMALL, cache=store, data=data)
    assert again.result is not None and again.train_button.disabled


def test_data_without_patient_ids_is_explained_in_place(tmp_path):
    data = dataclasses.replace(make_phantoms(n=20, size=28, seed=0), patient_ids=None)
    lab = XrayLookupLab(settings=SMALL, cache=ResultStore(tmp_path), data=data)
    assert "no patient IDs" in lab.message.value and "patient_ids" in lab.message.value
    assert lab.train_button.disabled and lab.result is None
    lab.train()          # nothing to train: the lab stays as it is, no exception
    assert lab.result is None
