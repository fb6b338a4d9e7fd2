"""Sentences of lessons 03, 05 and 07: the split used, the validation/test gap, the data size
behind an AUC, and the one command instructors run."""

from __future__ import annotations

import pytest

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.explain.membership import precompute_command, split_statement
from medpriv_widgets.explain.training import (data_size_statement, setting_text,
                                              validation_gap_statement)


def test_split_by_patient_or_by_image_is_said():
    by_patient = split_statement(by_patient=True, n_images=1000, n_member_patients=380,
                                 n_nonmember_patients=390, n_shared=0)
    assert "split by patient" in by_patient.text and "no patient is on both sides" in by_patient.text
    shared = split_statement(by_patient=True, n_images=1000, n_member_patients=380,
                             n_nonmember_patients=390, n_shared=44)
    assert "44 patients have X-rays on both sides" in shared.text and "flatters" in shared.text
    by_image = split_statement(by_patient=False, n_images=1000, n_member_patients=500,
                               n_nonmember_patients=500, n_shared=0)
    assert "split by X-ray" in by_image.text and "not by patient" in by_image.text


def test_instructors_run_the_workshop_profile_for_every_lesson():
    assert precompute_command("binder") == "medpriv precompute --profile workshop"
    assert precompute_command("workshop") == "medpriv precompute --profile workshop"
    assert precompute_command("fast") == "medpriv precompute --profile fast"
    with pytest.raises(InvalidParameterError, match="profile"):
        precompute_command("laptop")


def test_the_workshop_profile_contains_what_the_lessons_read():
    """The sentence above is only true while the workshop profile holds the binder one."""
    from medpriv_widgets.experiments.profiles import profile_stages

    workshop = {repr(s.key()) for s in profile_stages("workshop", parts=("membership",
                                                                          "equal_epsilon"))}
    binder = {repr(s.key()) for s in profile_stages("binder", parts=("membership",
                                                                      "equal_epsilon"))}
    assert binder <= workshop


def test_validation_gap_is_explained_only_when_there_is_one():
    gap = validation_gap_statement(val_auc=0.98, test_auc=0.908)
    assert "0.98" in gap.text and "0.908" in gap.text and "official test split" in gap.text
    assert "judge a model by them" in gap.text and "cropped" not in gap.text
    assert "cropped differently" in validation_gap_statement(val_auc=0.98, test_auc=0.9,
                                                             official_test=False).text
    assert validation_gap_statement(val_auc=0.91, test_auc=0.905).text == ""


def test_data_size_says_why_the_same_epsilon_costs_more_here():
    said = data_size_statement(n_train=500, size=28, other_n_train=5000, other_size=64,
                               other_lesson="lesson 03")
    assert "500 X-rays of 28 × 28 px" in said.text and "about 5,000" in said.text
    assert "costs more accuracy here" in said.text and "fewer patients" in said.text


def test_setting_text_names_what_the_models_learn_from():
    text = setting_text(size=64, n_train=4970, n_val=262, n_test=624, epochs=12)
    assert text.startswith("64 × 64 px chest X-rays: 4,970 for training")
    assert "262 more" in text and "624 X-rays of other children" in text and "12 passes" in text
