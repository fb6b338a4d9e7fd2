"""Bad input to the attacks, experiments, statistics, progress, models, device and CLI entry
points gets a typed error with a sentence (issue 15, item 8).

A few representative bad values per entry point that the fuzz (tests/test_fuzz_entry_points.py)
found raising raw Python errors, a valid call where it is cheap (so the checks do not refuse
what the lessons pass), and generated inputs for the shared array checks of
``medpriv_widgets._validate``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from medpriv_widgets._validate import check_array, check_mask
from medpriv_widgets.attacks.membership import (StackedModels, complementary_halves,
                                                fit_gaussians, lira_scores, logit_confidence,
                                                loss_threshold_scores, roc_auc, roc_curve,
                                                run_attacks, stacked_scores, tpr_at_fpr,
                                                train_stacked)
from medpriv_widgets.attacks.reidentification import (EmbeddingNet, anonymise_images,
                                                      contrastive_loss, pixel_embeddings)
from medpriv_widgets.cli import main
from medpriv_widgets.device import device_label
from medpriv_widgets.errors import InvalidParameterError, MedprivError
from medpriv_widgets.experiments.audit import make_canaries
from medpriv_widgets.experiments.membership.results import most_vulnerable
from medpriv_widgets.experiments.membership.settings import member_split
from medpriv_widgets.experiments.speed import probe_seconds
from medpriv_widgets.experiments.stage import human_seconds, run_stages
from medpriv_widgets.models import make_model
from medpriv_widgets.models.linear import PixelLogistic, make_pixel_logistic
from medpriv_widgets.progress import Progress, StoppedEarly, final_result, last_record
from medpriv_widgets.stats import clopper_pearson_arrays, rank_auc

_ACTION = re.compile(r"\b(must|needs?|use|choose|pass|give|run|check|wrap|convert|add|try|"
                     r"divide|build)\b", re.IGNORECASE)


def _is_sentence(message: str) -> bool:
    """Says what is required or what to do, and ends like a sentence."""
    text = message.strip()
    return len(text) >= 20 and text.endswith(".") and bool(_ACTION.search(text)) \
        and "Traceback" not in text


def _raises(error: type[MedprivError], fn, *args, **kwargs) -> str:
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert _is_sentence(message), message
    return message


NAN = math.nan
RAGGED = [[1, 2], [3]]
MEMBER = np.array([True, False] * 4)


# ------------------------------------------------------------------------------ membership
@pytest.mark.parametrize("scores, is_member, name", [
    (np.array(["a", "b"]), MEMBER[:2], "scores"),
    ("abc", MEMBER, "scores"),
    (None, MEMBER, "scores"),
    (np.linspace(0, 1, 8), RAGGED, "is_member"),
    (np.linspace(0, 1, 8), np.array([1, 0, 2, 0, 1, 0, 1, 0]), "is_member"),
    (np.r_[NAN, np.ones(7)], MEMBER, "scores"),
    (np.ones(3), MEMBER, "same length"),
])
@pytest.mark.parametrize("fn", [roc_curve, roc_auc])
def test_roc_refuses_bad_scores_and_memberships(fn, scores, is_member, name):
    assert name in _raises(InvalidParameterError, fn, scores=scores, is_member=is_member)


def test_roc_still_scores_a_valid_attack_with_infinite_scores():
    scores = np.r_[np.inf, np.linspace(0.0, 1.0, 7)]
    assert roc_auc(scores=scores, is_member=MEMBER.astype(int)) == pytest.approx(
        rank_auc(scores, MEMBER))
    op = tpr_at_fpr(scores=scores, is_member=MEMBER, fpr=0.25)
    assert 0.0 <= op.tpr <= 1.0
    _raises(InvalidParameterError, tpr_at_fpr, scores=scores, is_member=RAGGED, fpr=0.25)


def _shadows(k: int = 4, n: int = 6):
    rng = np.random.default_rng(0)
    mask = np.zeros((k, n), dtype=bool)
    mask[::2] = True  # models 0, 2 trained on everything, 1, 3 on nothing
    return rng.normal(size=(k, n)), mask, rng.normal(size=n)


@pytest.mark.parametrize("change, name", [
    (dict(shadow_scores="abc"), "shadow_scores"),
    (dict(shadow_scores=RAGGED), "shadow_scores"),
    (dict(shadow_scores=np.zeros((2, 2, 2, 2))), "shadow_scores"),
    (dict(shadow_scores=np.full((4, 6), np.inf)), "shadow_scores"),
    (dict(in_mask=RAGGED), "in_mask"),
    (dict(in_mask=np.full((4, 6), 2)), "in_mask"),
    (dict(target_scores="abc"), "target_scores"),
    (dict(target_scores=np.full(6, NAN)), "target_scores"),
])
def test_lira_and_run_attacks_refuse_bad_arrays(change, name):
    shadow, mask, target = _shadows()
    kwargs = dict(target_scores=target, shadow_scores=shadow, in_mask=mask) | change
    assert name in _raises(InvalidParameterError, lira_scores, **kwargs)
    assert name in _raises(InvalidParameterError, run_attacks, **kwargs)
    if "target_scores" not in change:
        assert name in _raises(InvalidParameterError, fit_gaussians,
                               shadow_scores=kwargs["shadow_scores"], in_mask=kwargs["in_mask"])


def test_lira_and_loss_attack_still_score_valid_input():
    shadow, mask, target = _shadows()
    out = run_attacks(target_scores=target, shadow_scores=shadow, in_mask=mask)
    assert set(out) == {"lira_online", "lira_offline", "loss"}
    assert all(v.shape == (6,) and np.isfinite(v).all() for v in out.values())


@pytest.mark.parametrize("target", ["abc", None, RAGGED, np.array([]), np.zeros((2, 2, 2))])
def test_loss_attack_refuses_what_is_not_scores(target):
    assert "target_scores" in _raises(InvalidParameterError, loss_threshold_scores,
                                      target_scores=target)


@pytest.mark.parametrize("kwargs, name", [
    (dict(patient_ids=np.arange(8).astype(str), n_models=10**18), "n_models"),
    (dict(patient_ids=np.arange(8).astype(str), n_models=2.5), "n_models"),
    (dict(patient_ids=None, n_models=2), "patient_ids"),
    (dict(patient_ids=RAGGED, n_models=2), "patient_ids"),
    (dict(patient_ids="abc", n_models=2), "patient_ids"),
])
def test_complementary_halves_refuses_bad_sizes_before_allocating(kwargs, name):
    assert name in _raises(InvalidParameterError, complementary_halves, **kwargs)


def test_complementary_halves_still_pairs_halves():
    mask = complementary_halves(np.repeat(np.arange(10).astype(str), 2), n_models=4, seed=1)
    assert mask.shape == (4, 20) and (mask.sum(0) == 2).all()


@pytest.mark.parametrize("models", [np.array([]), [], ["not a model"], None])
def test_stacked_models_need_a_list_of_models(models):
    assert "models" in _raises(InvalidParameterError, StackedModels, models)


def test_stacked_models_refuse_models_that_differ():
    with pytest.raises(InvalidParameterError, match="same size, width"):
        StackedModels([make_model(size=28, width=4), make_model(size=28, width=8)])


@pytest.mark.parametrize("logits, labels, name", [
    (np.zeros((8, 2)), torch.zeros(8, dtype=torch.long), "logits"),
    (torch.zeros(8), torch.zeros(8, dtype=torch.long), "logits"),
    (torch.zeros(8, 2), np.zeros(8), "labels"),
    (torch.zeros(8, 2), torch.zeros(7, dtype=torch.long), "labels"),
    (torch.zeros(8, 2), torch.full((8,), 2), "labels"),
    (torch.zeros(8, 2), torch.zeros(8), "labels"),
])
def test_logit_confidence_refuses_bad_tensors(logits, labels, name):
    assert name in _raises(InvalidParameterError, logit_confidence, logits, labels)


def test_logit_confidence_still_computes_the_score():
    z = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    got = logit_confidence(z, torch.tensor([0, 0]))
    assert torch.allclose(got, torch.tensor([2.0, -1.0]))


def _small_models(k: int = 2):
    return [make_model(size=28, seed=i, width=4, activation="tanh").state_dict() for i in range(k)]


@pytest.mark.parametrize("change, name", [
    (dict(state_dicts=np.array([1, 2, 3])), "state_dicts"),
    (dict(state_dicts=[]), "state_dicts"),
    (dict(images=torch.rand(4, 3, 28, 28)), "images"),
    (dict(images=torch.zeros(4, 1, 28, 28, dtype=torch.uint8)), "images"),
    (dict(images=torch.full((4, 1, 28, 28), NAN)), "images"),
    (dict(labels=np.array([0, 1, 0, 1])), "labels"),
    (dict(labels=torch.tensor([0, 1])), "labels"),
    (dict(batch_size=NAN), "batch_size"),
    (dict(size=3), "size"),
])
def test_stacked_scores_refuse_bad_input(change, name):
    kwargs = dict(state_dicts=_small_models(), images=torch.rand(4, 1, 28, 28),
                  labels=torch.tensor([0, 1, 0, 1]), size=28, width=4) | change
    assert name in _raises(InvalidParameterError, stacked_scores, **kwargs)


def test_stacked_scores_still_score_valid_input():
    out = stacked_scores(state_dicts=_small_models(), images=torch.rand(4, 1, 28, 28),
                         labels=torch.tensor([0, 1, 0, 1]), size=28, width=4, augment=True)
    assert out.shape == (2, 4, 2) and np.isfinite(out).all()


@pytest.mark.parametrize("in_mask", [RAGGED, np.full((2, 4), 3), np.ones((2, 5), bool)])
def test_train_stacked_refuses_a_bad_membership_matrix(in_mask):
    gen = train_stacked(images=torch.rand(4, 1, 28, 28), labels=torch.tensor([0, 1, 0, 1]),
                        in_mask=in_mask, size=28, width=4, epochs=1, batch_size=2)
    assert "in_mask" in _raises(InvalidParameterError, next, gen)


# ------------------------------------------------------------------------------ re-identification
@pytest.mark.parametrize("images", [np.zeros((2, 1, 28, 28)), "x", torch.rand(28, 28),
                                    torch.zeros((2, 1, 28, 28), dtype=torch.uint8),
                                    torch.full((2, 1, 28, 28), NAN), torch.rand(2, 1, 4, 4)])
def test_anonymise_images_refuses_what_is_not_xrays(images):
    assert "images" in _raises(InvalidParameterError, anonymise_images, images)


@pytest.mark.parametrize("images", ["x", None, torch.rand(2, 3, 28, 28)])
def test_pixel_embeddings_refuse_what_is_not_xrays(images):
    assert "images" in _raises(InvalidParameterError, pixel_embeddings, images)


def test_reidentification_valid_calls_still_work():
    x = torch.rand(3, 1, 32, 32)
    assert anonymise_images(x).shape == x.shape
    emb = pixel_embeddings(x)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)
    net = EmbeddingNet(width=4, dim=8)
    loss = contrastive_loss(net(x), torch.tensor([0, 0, 1]), temperature=0.1)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("kwargs", [dict(dim=-1), dict(width=0), dict(dim=2.5), dict(width=None)])
def test_embedding_net_refuses_bad_sizes(kwargs):
    assert next(iter(kwargs)) in _raises(InvalidParameterError, EmbeddingNet, **kwargs)


@pytest.mark.parametrize("z, labels, temperature, name", [
    (np.zeros(3), torch.tensor([0, 0, 1]), 0.1, "`z`"),
    (torch.rand(3, 4), np.array([0, 0, 1]), 0.1, "`labels`"),
    (torch.rand(3, 4), torch.tensor([0, 1]), 0.1, "`labels`"),
    (torch.rand(3, 4), torch.tensor([0, 0, 1]), NAN, "temperature"),
    (torch.rand(3, 4), torch.tensor([0, 0, 1]), 0.0, "temperature"),
])
def test_contrastive_loss_refuses_bad_input(z, labels, temperature, name):
    assert name in _raises(InvalidParameterError, contrastive_loss, z, labels,
                           temperature=temperature)


# ------------------------------------------------------------------------------ experiments
@pytest.mark.parametrize("kwargs, name", [
    (dict(n=10, size=10**18), "size"),
    (dict(n=10**9, size=28), "`n`"),
    (dict(n=10_000, size=512), "pixels"),
    (dict(n=10, size=28, seed=-1), "seed"),
    (dict(n=NAN), "`n`"),
])
def test_make_canaries_refuses_sizes_it_cannot_hold(kwargs, name):
    assert name in _raises(InvalidParameterError, make_canaries, **kwargs)


def test_make_canaries_still_makes_canaries():
    images, labels = make_canaries(n=6, size=28, seed=0)
    assert images.shape == (6, 1, 28, 28) and labels.tolist() == [0, 1, 0, 1, 0, 1]


_IDS = np.array([f"p{i // 2}" for i in range(8)])


@pytest.mark.parametrize("change, name", [
    (dict(scores=np.array([])), "scores"),
    (dict(scores="abc"), "scores"),
    (dict(is_member=RAGGED), "is_member"),
    (dict(patient_ids=None), "patient_ids"),
    (dict(patient_ids=_IDS[:3]), "one entry per image"),
    (dict(labels=np.array(["a"] * 8)), "labels"),
])
def test_most_vulnerable_refuses_bad_arrays(change, name):
    kwargs = dict(scores=np.linspace(0, 1, 8), is_member=MEMBER, patient_ids=_IDS,
                  labels=np.arange(8) % 2) | change
    assert name in _raises(InvalidParameterError, most_vulnerable, **kwargs)


def test_most_vulnerable_still_ranks_members():
    top = most_vulnerable(scores=np.linspace(0, 1, 8), is_member=MEMBER, patient_ids=_IDS,
                          labels=np.arange(8) % 2, n=2)
    assert [t["patient_id"] for t in top] == ["p3", "p2"] and top[0]["label"] == 0


@pytest.mark.parametrize("seed", [None, -1, 2.5, "3"])
def test_member_split_checks_its_seed(seed):
    assert "seed" in _raises(InvalidParameterError, member_split, _IDS, n=8, seed=seed)


@pytest.mark.parametrize("max_age_s", ["1", NAN, -1.0, None])
def test_probe_seconds_checks_max_age(max_age_s):
    assert "max_age_s" in _raises(InvalidParameterError, probe_seconds, max_age_s=max_age_s)


@pytest.mark.parametrize("seconds", ["1", None, True, [1]])
def test_human_seconds_needs_a_number(seconds):
    assert "seconds" in _raises(InvalidParameterError, human_seconds, seconds)


def test_human_seconds_still_words_numbers():
    assert human_seconds(45) == "45 s" and human_seconds(math.inf) == "unknown time"
    assert human_seconds(10**400) == "unknown time"


@pytest.mark.parametrize("stages", [torch.tensor(1.0), None, 3, "abc", [1]])
def test_run_stages_needs_a_list_of_stages(stages):
    assert "stages" in _raises(InvalidParameterError, next, run_stages(stages, cache=None))


# ------------------------------------------------------------------------------ progress
@pytest.mark.parametrize("records", [torch.tensor(1.0), None, 3, [1, 2]])
@pytest.mark.parametrize("fn", [last_record, final_result])
def test_progress_readers_refuse_what_is_not_progress(fn, records):
    assert "records" in _raises(InvalidParameterError, fn, records)


def test_progress_readers_say_what_to_do_when_nothing_or_a_stop_came():
    _raises(StoppedEarly, final_result, iter([]))
    stopped = Progress("training", 1, 4, "stopped after 1 of 4 epochs", stopped=True)
    assert "stopped after 1 of 4 epochs" in _raises(StoppedEarly, final_result, [stopped])
    assert final_result([Progress("x", 1, 1, "done", partial=42)]) == 42


# ------------------------------------------------------------------------------ stats
@pytest.mark.parametrize("successes, trials, confidence, name", [
    (np.array(["a", "b"]), 2, 0.95, "successes"),
    (np.array([1, 3]), 2, 0.95, "successes"),
    (np.array([0.5]), 2, 0.95, "successes"),
    (np.array([1]), 2.5, 0.95, "trials"),
    (np.array([1]), 2, 1.0, "confidence"),
])
def test_clopper_pearson_arrays_checks_counts(successes, trials, confidence, name):
    assert name in _raises(InvalidParameterError, clopper_pearson_arrays, successes, trials,
                           confidence)


@pytest.mark.parametrize("scores, positive, name", [
    (np.ones(1), np.array([1, 0, 1]), "one entry per example"),
    (np.array(["a"]), np.array([True]), "scores"),
    (np.array([NAN, 1.0]), np.array([True, False]), "scores"),
    (np.ones(2), RAGGED, "positive"),
])
def test_rank_auc_checks_its_arrays(scores, positive, name):
    assert name in _raises(InvalidParameterError, rank_auc, scores, positive)


def test_stats_valid_calls_still_work():
    low, high = clopper_pearson_arrays(np.array([0, 5, 10]), 10, 0.95)
    assert low[0] == 0.0 and high[2] == 1.0 and 0 < low[1] < 0.5 < high[1] < 1
    assert rank_auc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0
    assert math.isnan(rank_auc(np.array([0.1, 0.9]), np.array([True, True])))


# ------------------------------------------------------------------------------ models, device
@pytest.mark.parametrize("kwargs, name", [
    (dict(size=10**18), "size"), (dict(size=2), "size"),
    (dict(size=28, num_classes=10**18), "num_classes"),
])
def test_pixel_logistic_refuses_impossible_sizes(kwargs, name):
    assert name in _raises(InvalidParameterError, PixelLogistic, **kwargs)
    assert name in _raises(InvalidParameterError, make_pixel_logistic, **kwargs)


@pytest.mark.parametrize("images", [torch.rand(2, 1, 64, 64), torch.rand(2, 3, 28, 28),
                                    torch.zeros(2, 1, 28, 28, dtype=torch.uint8)])
def test_pixel_logistic_refuses_images_it_was_not_built_for(images):
    assert "images" in _raises(InvalidParameterError, make_pixel_logistic(size=28), images)


def test_pixel_logistic_still_classifies():
    assert make_pixel_logistic(size=28, seed=2**64 - 1)(torch.rand(3, 1, 28, 28)).shape == (3, 2)


@pytest.mark.parametrize("device", ["gpu", 3, b"cpu"])
def test_device_label_refuses_what_is_not_a_device(device):
    assert "device" in _raises(InvalidParameterError, device_label, device)


def test_device_label_reads_names_and_devices():
    assert device_label("cpu").startswith("CPU (") and device_label(torch.device("cpu")) \
        == device_label("cpu")
    if not torch.cuda.is_available():
        assert "no CUDA GPU" in _raises(InvalidParameterError, device_label, "cuda")


# ------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("argv", [b"x", "data status", [3], ("data", None)])
def test_cli_refuses_a_command_line_that_is_not_words(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: medpriv") and "must be a list of words" in err


def test_cli_says_what_is_wrong_with_an_unwritable_path(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "folder" / "grades.csv"
    code = main(["exercises", "grade", "--lesson", "03", "--csv", str(missing),
                 str(tmp_path / "none.ipynb")])
    err = capsys.readouterr().err
    assert code in (1, 2) and err.startswith("medpriv: ") and "Traceback" not in err


# ------------------------------------------------------------------------------ the shared checks
_ARRAY_LIKE = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6),
    st.lists(st.lists(st.integers(-3, 3), max_size=3), max_size=3),
    st.lists(st.text(max_size=2), max_size=3),
    st.none(), st.text(max_size=3), st.booleans(), st.integers(), st.binary(max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(_ARRAY_LIKE)
def test_check_array_gives_finite_floats_or_a_sentence(value):
    try:
        out = check_array("scores", value, ndim=1)
    except InvalidParameterError as exc:
        assert _is_sentence(str(exc)) and "`scores`" in str(exc)
    else:
        assert out.dtype == np.float64 and out.ndim == 1 and out.size >= 1
        assert np.isfinite(out).all()


@settings(max_examples=200, deadline=None)
@given(_ARRAY_LIKE)
def test_check_mask_gives_bools_or_a_sentence(value):
    try:
        out = check_mask("is_member", value)
    except InvalidParameterError as exc:
        assert _is_sentence(str(exc)) and "`is_member`" in str(exc)
    else:
        assert out.dtype == bool
        assert np.array_equal(out, np.asarray(value).astype(bool))
