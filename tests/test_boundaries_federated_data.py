"""Bad input to federated, data, classroom, exercises, doctor and serve gets a typed error with a
sentence (issue 15).

A few representative bad values per entry point that the fuzz (tests/test_fuzz_entry_points.py)
found raising raw Python errors, judged by the fuzz's own rule (:func:`actionable`), and a valid
call where it is cheap, so the checks do not refuse what the package itself passes.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
from test_fuzz_entry_points import actionable

from medpriv_widgets.classroom import (classroom_ledger, open_classroom_ledger,
                                       reset_classroom_budget)
from medpriv_widgets.data import find_local, load_dataset, make_phantoms, patient_split
from medpriv_widgets.data.patients import shipped_patient_ids
from medpriv_widgets.data.registry import file_md5
from medpriv_widgets.data.splits import split_by_patient
from medpriv_widgets.doctor import NOT_READY, READY, Check, as_json, as_table
from medpriv_widgets.errors import DataError, InvalidParameterError, MedprivError
from medpriv_widgets.exercises import EXERCISES
from medpriv_widgets.exercises.grading import grade, test_file as otter_test_file
from medpriv_widgets.exercises.lesson03 import run_epsilon
from medpriv_widgets.exercises.lesson08 import FPR, upper
from medpriv_widgets.exercises.notebooks import exercise_cells, solution_notebook, update
from medpriv_widgets.federated.hospitals import default_sites, make_hospitals, union
from medpriv_widgets.federated.leakage import AggregateLeakage, aggregate_updates, leakage_stages
from medpriv_widgets.federated.secure_aggregation import SecAggServer, prg
from medpriv_widgets.federated.settings import FederationSettings
from medpriv_widgets.federated.site import clip_update, flatten, load_flat
from medpriv_widgets.serve import prepare, serve

LONG = "x" * 300  # longer than a file name may be


def _raises(error: type[MedprivError], fn, *args, **kwargs) -> str:
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert actionable(message), message
    return message


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n=120, size=28, seed=0)


# ------------------------------------------------------------------------------ federated
@pytest.mark.parametrize("hospitals", [[], np.array([]), torch.tensor(0.0), ["a"], 3])
def test_union_refuses_what_is_not_hospitals(hospitals):
    _raises(InvalidParameterError, union, hospitals)


def test_union_pools_every_site(phantoms):
    sites = make_hospitals(phantoms, sites=default_sites(2), seed=0)
    pooled = union(sites)
    assert len(pooled) == sum(h.n_images for h in sites)


@pytest.fixture(scope="module")
def two_updates():
    from medpriv_widgets.attacks.reconstruction import client_update, make_victim_model

    model = make_victim_model(size=28, kind="lenet", seed=0)
    images = torch.rand(2, 1, 28, 28)
    return [client_update(model=model, images=images[i:i + 1], labels=[i], seed=i)
            for i in range(2)]


@pytest.mark.parametrize("updates", [[], np.array([]), None, [1.0, 2.0]])
def test_aggregate_updates_refuses_what_is_not_updates(updates):
    _raises(InvalidParameterError, aggregate_updates, updates)


def test_aggregate_updates_refuses_bad_settings(two_updates):
    _raises(InvalidParameterError, aggregate_updates, two_updates, secure="yes")
    _raises(InvalidParameterError, aggregate_updates, two_updates, round_id=-1)


def test_aggregate_updates_sums_securely(two_updates):
    plain = aggregate_updates(two_updates, secure=False)
    secure = aggregate_updates(two_updates, secure=True)
    assert secure.num_examples == 2
    for a, b in zip(plain.gradient, secure.gradient):
        assert torch.allclose(a, b, atol=1e-4)


_IMAGES, _LABELS = torch.rand(4, 1, 28, 28), np.array([0, 1, 0, 1])


@pytest.mark.parametrize("changes, name", [
    (dict(size=0), "`size`"), (dict(size="28"), "`size`"), (dict(size=np.array([28, 64])), "`size`"),
    (dict(images=torch.full((4, 1, 28, 28), math.nan)), "`images`"),
    (dict(images=torch.zeros((4, 1, 28, 28), dtype=torch.uint8)), "`images`"),
    (dict(images=torch.rand(4, 3, 28, 28)), "`images`"),
    (dict(images=np.zeros((4, 1, 28, 28))), "`images`"),
    (dict(images=torch.rand(4, 1, 64, 64)), "`images`"),
    (dict(labels=np.array(["a", "b", "a", "b"])), "`labels`"),
    (dict(labels=np.array([0, 1])), "`labels`"),
    (dict(labels=np.array([0, 2, 0, 1])), "`labels`"),
])
def test_aggregate_leakage_refuses_bad_input(changes, name):
    kwargs = dict(n_sites=2, batch_size=2, size=28, images=_IMAGES, labels=_LABELS) | changes
    assert name in _raises(InvalidParameterError, AggregateLeakage, **kwargs)


def test_aggregate_leakage_accepts_the_lessons_input():
    stage = AggregateLeakage(n_sites=2, batch_size=2, size=28, images=_IMAGES, labels=_LABELS)
    assert stage.key()["n_sites"] == 2


@pytest.mark.parametrize("kwargs", [
    dict(size="3"), dict(size=0), dict(n_sites=3), dict(n_sites="12"), dict(n_sites=[0]),
    dict(images=np.zeros((4, 1, 28, 28))), dict(images="x"),
])
def test_leakage_stages_refuses_bad_input(kwargs):
    _raises(InvalidParameterError, leakage_stages,
            **(dict(images=_IMAGES, labels=_LABELS) | kwargs))


def test_leakage_stages_makes_one_stage_per_count():
    stages = leakage_stages(images=_IMAGES, labels=_LABELS, n_sites=(1, 2, 4), iterations=5)
    assert [s.n_sites for s in stages] == [1, 2, 4] and {s.size for s in stages} == {28}


@pytest.mark.parametrize("kwargs", [
    dict(site_ids=0, length=3), dict(site_ids="ab", length=3), dict(site_ids=[0], length=3),
    dict(site_ids=[0, 1], length=0), dict(site_ids=[0, 1], length=10**18),
    dict(site_ids=[0, 1], length=3, threshold=0.5),
])
def test_secagg_server_refuses_bad_settings(kwargs):
    _raises(InvalidParameterError, SecAggServer, **kwargs)


def test_secagg_server_accepts_a_round():
    server = SecAggServer(site_ids=[2, 0, 1], length=3)
    assert server.site_ids == (0, 1, 2) and server.threshold == 2


@pytest.mark.parametrize("seed, length", [
    (0, 4), (None, 4), ("x" * 32, 4), (bytes(31), 4), (bytes(32), -1), (bytes(32), 10**18),
    (bytes(32), 2.5),
])
def test_prg_refuses_bad_input(seed, length):
    _raises(InvalidParameterError, prg, seed, length)


def test_prg_is_a_deterministic_stream():
    a = prg(bytes(32), 5)
    assert a.dtype == np.uint64 and a.shape == (5,)
    assert np.array_equal(a, prg(bytes(32), 5)) and prg(bytes(32), 0).size == 0


@pytest.mark.parametrize("changes", [
    dict(sites=np.array([])), dict(sites=3), dict(sites=["a", "b"]), dict(dropouts=3),
    dict(dropouts=[(1,)]), dict(server_lr=math.nan),
])
def test_federation_settings_refuse_bad_input(changes):
    _raises(InvalidParameterError, FederationSettings, **changes)


@pytest.mark.parametrize("sites", [(), [], None])
def test_federation_settings_default_to_four_hospitals(sites):
    assert len(FederationSettings(sites=sites).sites) == 4


@pytest.mark.parametrize("delta, clip", [
    (np.array(["a", "b"]), 1.0), ([[1.0], [1.0, 2.0]], 1.0), (np.zeros((2, 2)), 1.0),
    (None, 1.0), (np.ones(3), 0.0), (np.ones(3), -0.0), (np.ones(3), math.nan), (np.ones(3), "1"),
])
def test_clip_update_refuses_bad_input(delta, clip):
    _raises(InvalidParameterError, clip_update, delta, clip)


def test_clip_update_scales_to_the_norm():
    clipped, norm = clip_update(np.array([3.0, 4.0]), 1.0)
    assert norm == pytest.approx(5.0) and np.linalg.norm(clipped) == pytest.approx(1.0)
    same, _ = clip_update(np.array([0.3, 0.4]), 1.0)
    assert np.array_equal(same, [0.3, 0.4])


@pytest.fixture
def small_model():
    from medpriv_widgets.models import make_model

    return make_model(size=28, width=4)


@pytest.mark.parametrize("vector", [np.array([]), np.zeros((2, 2)), np.array(["a"]), None,
                                    [[1.0], [1.0, 2.0]]])
def test_load_flat_refuses_what_does_not_fit(small_model, vector):
    _raises(InvalidParameterError, load_flat, small_model, vector)


def test_load_flat_round_trips_flatten(small_model):
    theta = flatten(small_model)
    load_flat(small_model, theta * 2)
    assert np.allclose(flatten(small_model), theta * 2)
    _raises(InvalidParameterError, load_flat, small_model, theta[:-1])


# ------------------------------------------------------------------------------ classroom
@pytest.mark.parametrize("path", [b"x", 3, "", " ", LONG])
@pytest.mark.parametrize("fn", [classroom_ledger, open_classroom_ledger, reset_classroom_budget])
def test_classroom_ledgers_refuse_unusable_paths(fn, path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path lands in the test's folder
    kwargs = dict(path=path)
    if fn is reset_classroom_budget:
        kwargs |= dict(epsilon=1.0, delta=1e-5)
    _raises(InvalidParameterError, fn, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(epsilon=math.nan), dict(epsilon="1"),
                                    dict(delta=5e-324), dict(delta=0.7)])
def test_classroom_ledger_refuses_bad_budgets(kwargs, tmp_path):
    _raises(InvalidParameterError, classroom_ledger, path=tmp_path / "class.sqlite", **kwargs)


def test_classroom_ledger_opens_and_resets(tmp_path):
    path = tmp_path / "class.sqlite"
    ledger = classroom_ledger(epsilon=1.0, delta=1e-5, path=path)
    assert ledger is not None and open_classroom_ledger(path).path == ledger.path
    ledger.spend(0.5, note="a question")
    reset_classroom_budget(path=path, epsilon=2.0, delta=1e-5)   # a new budget, as documented
    again = open_classroom_ledger(path)
    assert again.budget == (2.0, 1e-5) and again.remaining()[0] == 2.0


# ------------------------------------------------------------------------------ data
@pytest.mark.parametrize("size, split", [(0, "train"), ("28", "train"), (28, "x"), (28, None)])
def test_find_local_refuses_unknown_sizes_and_splits(size, split):
    _raises(InvalidParameterError, find_local, size, split)


def test_find_local_answers_for_a_known_size():
    found = find_local(28, "train")
    assert found is None or found[0].is_file()


@pytest.mark.parametrize("path, error", [
    (LONG, DataError), (3, InvalidParameterError), (b"x", InvalidParameterError),
    ("", InvalidParameterError),
])
def test_load_dataset_refuses_unusable_paths(path, error):
    _raises(error, load_dataset, path=path)


@pytest.mark.parametrize("split, labels", [
    ("train", None), ("train", [[1], [2, 3]]), ("train", np.array(["a"])), ("train", [0.5]),
    ("train", math.nan), (None, [0]), (3, [0]),
])
def test_shipped_patient_ids_refuse_bad_input(split, labels):
    _raises(InvalidParameterError, shipped_patient_ids, split, labels)


def test_shipped_patient_ids_give_none_for_another_order():
    assert shipped_patient_ids("train", np.zeros(3, dtype=int)) is None
    assert shipped_patient_ids("train", np.zeros(3)) is None  # whole floats are labels too


@pytest.mark.parametrize("path, error", [("", InvalidParameterError), (None, InvalidParameterError),
                                         (b"x", InvalidParameterError), (LONG, DataError)])
def test_file_md5_refuses_unusable_paths(path, error):
    _raises(error, file_md5, path)


def test_file_md5_of_a_folder_and_of_a_file(tmp_path):
    assert "folder" in _raises(DataError, file_md5, tmp_path)
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    assert file_md5(f) == hashlib.md5(b"abc").hexdigest()


@pytest.mark.parametrize("kwargs", [dict(fractions=math.nan), dict(fractions="ab"),
                                    dict(fractions=None), dict(data="x"), dict(data=None)])
def test_split_by_patient_refuses_bad_input(phantoms, kwargs):
    _raises(InvalidParameterError, split_by_patient, **(dict(data=phantoms) | kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(patient_ids=[[1], [2, 3]]), dict(patient_ids=np.array([1, "a", None], dtype=object)),
    dict(n=10**18), dict(patient_ids=["a", "b"], fractions=0.5),
])
def test_patient_split_refuses_bad_input(kwargs):
    _raises(InvalidParameterError, patient_split, **kwargs)


def test_split_by_patient_keeps_patients_apart(phantoms):
    a, b = split_by_patient(phantoms, fractions=(0.5, 0.5), seed=0)
    assert len(a) + len(b) == len(phantoms)
    assert not set(a.patient_ids) & set(b.patient_ids)


# ------------------------------------------------------------------------------ doctor
@pytest.mark.parametrize("rows", [[], np.array([]), torch.tensor(0.0), ["a"], None])
@pytest.mark.parametrize("fn", [as_json, as_table])
def test_doctor_outputs_refuse_what_is_not_rows(fn, rows):
    _raises(InvalidParameterError, fn, rows)


def test_doctor_outputs_of_rows():
    rows = [Check("data", READY, "verified"), Check("disk", NOT_READY, "full", "free space")]
    assert as_json(rows)["ready"] is False
    assert "free space" in as_table(rows)


# ------------------------------------------------------------------------------ exercises
@pytest.mark.parametrize("exercise_id", ["", "nan", None, 3, "99-x"])
def test_otter_test_file_refuses_unknown_exercises(exercise_id):
    _raises(InvalidParameterError, otter_test_file, exercise_id)


def test_otter_test_file_of_an_exercise():
    first = next(iter(EXERCISES.values()))
    assert first.variable in otter_test_file(first.id)


@pytest.mark.parametrize("submissions", ["anna.ipynb", 3, None])
def test_grade_refuses_what_is_not_a_list_of_notebooks(submissions):
    _raises(InvalidParameterError, grade, submissions, lesson="02")


@pytest.mark.parametrize("sigma", [1e300, math.nan, math.inf, 0.0, -1.0, "1", None, True])
def test_run_epsilon_refuses_sigmas_outside_the_answer_range(sigma):
    _raises(InvalidParameterError, run_epsilon, sigma)


def test_run_epsilon_of_a_valid_sigma():
    assert 1.5 < run_epsilon(1.0) < 2.0  # the exercise's explanation: σ = 1.0 spends ε ≈ 1.83


@pytest.mark.parametrize("n", [1e300, 10**18, 0, -1, 2.5, True, math.nan, "3", None])
def test_upper_refuses_bad_counts(n):
    _raises(InvalidParameterError, upper, n)


def test_upper_resolves_at_the_solution():
    assert upper(3700) <= FPR < upper(3600)


@pytest.mark.parametrize("lesson", ["", "00", "a/b", None, 3, b"02"])
def test_notebook_makers_refuse_unknown_lessons(lesson):
    _raises(InvalidParameterError, exercise_cells, lesson)
    _raises(InvalidParameterError, solution_notebook, lesson)


def test_notebook_makers_of_a_lesson():
    assert exercise_cells("02") and solution_notebook("02").cells
    _raises(InvalidParameterError, solution_notebook, "02", metadata="x")


@pytest.mark.parametrize("kwargs", [
    dict(notebooks="", lessons_only=None), dict(notebooks=3), dict(notebooks=LONG),
    dict(lessons_only="a/b"), dict(lessons_only=["a"]), dict(lessons_only=3),
])
def test_update_refuses_bad_input(kwargs, tmp_path):
    _raises(InvalidParameterError, update, **(dict(notebooks=tmp_path) | kwargs))


def test_update_of_an_empty_folder_changes_nothing(tmp_path):
    assert update(tmp_path, lessons_only=["02"]) == []


# ------------------------------------------------------------------------------ serve
def test_prepare_refuses_unusable_folders(tmp_path):
    _raises(DataError, prepare, tmp_path / "copies", source=LONG)
    _raises(DataError, prepare, tmp_path / "copies", source=tmp_path)  # no lessons there
    _raises(InvalidParameterError, prepare, tmp_path / LONG)
    _raises(InvalidParameterError, prepare, "")


def test_prepare_copies_the_lessons(tmp_path):
    copies = prepare(tmp_path / "copies")
    assert copies and all(p.is_file() for p in copies)


@pytest.mark.parametrize("kwargs", [dict(port=0), dict(port="8866"), dict(port=10**18),
                                    dict(ip=""), dict(ip=3), dict(ip="a b"), dict(folder=b"x")])
def test_serve_refuses_bad_settings_before_copying(kwargs, tmp_path):
    _raises(InvalidParameterError, serve, **(dict(folder=tmp_path / "d") | kwargs))
    assert not (tmp_path / "d").exists()


def test_serve_refuses_an_unusable_folder_before_starting_voila(tmp_path):
    _raises(InvalidParameterError, serve, folder=tmp_path / LONG)
