"""Lesson 06 in a real browser, as a workshop attendee works it (MEDPRIV_FAST=1: 3 hospitals,
600 X-rays, 4 rounds).

Run All (trains the federation, the baselines, the attack, the secure run and the DP lab); read
the hospitals' table; untick and tick "secure aggregation" and watch what the server receives
turn from the update into noise; move the rounds slider, press Train and watch the rounds come
in; find the hospital whose budget ran out locked in the DP lab.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

NOTEBOOK = "notebooks/06_federated_hospitals.ipynb"
LAB = ".medpriv-federated"
SITES = ".medpriv-federated-sites"
SECURE = ".medpriv-federated-secure input[type='checkbox']"
VIEW = ".medpriv-federated-view-text"
ROUNDS = ".medpriv-federated-rounds"
TRAIN = ".medpriv-federated-train"
STATUS = ".medpriv-federated-status"
FIGURE = ".medpriv-federated-figure"
ATTACK = ".medpriv-federated-attack-text"
COSTS = ".medpriv-federated-costs"


def test_lesson_06_hospitals_secure_aggregation_rounds_and_budgets(lab):
    lab.run_lesson(NOTEBOOK, timeout_s=600)

    # --- the hospitals, the comparison and the attack are on the page
    sites = lab.text(SITES)
    for name in ("University hospital", "Children's hospital", "District hospital"):
        assert name in sites, sites
    assert re.search(r"pooling all X-rays in one place would reach 0\.\d{3}", lab.output_text())
    attack = lab.text(ATTACK)
    assert "one hospital's update" in attack and "securely added updates of 3 hospitals" in attack
    lab.assert_legend_named(FIGURE)

    # --- secure aggregation: the notebook left it on; the server receives noise
    assert "random-looking numbers" in lab.text(VIEW)
    before = lab.text(VIEW)
    lab.click(SECURE)
    view = lab.wait_text_changed(VIEW, before)
    assert "as it is" in view, view          # plain: the update itself
    lab.click(SECURE)
    view = lab.wait_text(VIEW, r"random-looking numbers")
    lab.assert_no_errors("after toggling secure aggregation")

    # --- rounds: one fewer is not cached; Train streams the rounds in
    plot = lab.plot_signature(FIGURE)
    lab.press_slider(ROUNDS, "ArrowLeft")
    lab.wait_text(STATUS, r"No run with these settings yet")
    # what pressing Train will cost is said before it is pressed (the rest is cached: ready)
    lab.wait_text(COSTS, r"Train: about \d+ (s|min) .*Compare with centralised: \w+")
    lab.watch(STATUS)
    lab.click(TRAIN)
    status = lab.wait_seen(STATUS, r"done: global test AUC 0\.\d{3}", timeout_s=300)
    assert any(re.match(r"round \d+ of 3", s) for s in lab.seen(STATUS)), lab.seen(STATUS)
    assert "done" in status
    lab.wait_plot_changed(FIGURE, plot)
    lab.snap("lesson06_trained", LAB)

    # --- the DP lab: a hospital whose budget ran out is locked, visibly
    dp_sites = " ".join((lab.page.locator(SITES).nth(1).text_content() or "").split())
    assert "locked" in dp_sites, dp_sites
    assert re.search(r"\d+%", dp_sites)
    lab.assert_no_errors("after training and the DP lab")
