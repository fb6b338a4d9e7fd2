"""The arena lab (notebook 08) without a browser: it asks for computation when the board is
missing, computes with progress, draws the heat-map, the Pareto plot and one sentence per row,
takes submissions, and shows errors in place while it keeps working."""

from __future__ import annotations

import warnings

import pytest

from medpriv_widgets.arena.leaderboard import Leaderboard
from medpriv_widgets.cache import ResultStore
from medpriv_widgets.experiments import last_record

pytestmark = [pytest.mark.slow]

SMALL = "pneumonia-28-small"


class Logistic:
    def fit(self, X, y):
        import numpy as np

        self.mean = X.reshape(len(X), -1).mean(1)
        self.cut = float(np.median(self.mean))

    def predict(self, X):
        import numpy as np

        m = X.reshape(len(X), -1).mean(1)
        return 1 / (1 + np.exp(-(m - self.cut) * 20))


class Labels(Logistic):
    def predict(self, X):
        return (super().predict(X) > 0.5).astype(float)


@pytest.fixture
def computed(shared_data, tmp_path_factory, tmp_path):
    from medpriv_widgets.arena.board import Board

    root = tmp_path_factory.getbasetemp() / "medpriv-arena-small"
    store = ResultStore(root)
    if not (root / "complete").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert last_record(Board(scenario=SMALL).run(cache=store)).finished
        (root / "complete").write_text("ok")
    return store, Leaderboard(tmp_path / "lb.sqlite")


def test_an_empty_cache_asks_for_compute_and_computes_a_small_board(shared_data, tmp_path):
    from medpriv_widgets.widgets.arena import ArenaLab

    lab = ArenaLab(scenario=SMALL, defences=("none", "dpsgd-eps8"), attacks=("loss",),
                   cache=ResultStore(tmp_path / "c"), leaderboard=Leaderboard(tmp_path / "l.db"))
    assert not lab.compute_button.disabled and "not computed yet" in lab.message.value
    lab.run()
    assert lab.compute_button.disabled and lab.progress.value == pytest.approx(1.0)
    assert len(lab.rows) == 2 and "loss" in lab.table.value
    assert {d for d in lab.heat.data[0].y} == {"none", "dpsgd-eps8"}


def test_the_lab_draws_the_board_and_a_sentence_per_row(computed):
    from medpriv_widgets.explain import row_statement
    from medpriv_widgets.widgets.arena import ArenaLab

    store, lb = computed
    lab = ArenaLab(scenario=SMALL, cache=store, leaderboard=lb)
    assert lab.message.value == "" and len(lab.rows) == len(lab.board.cells())
    heat = lab.heat.data[0]
    assert list(heat.x) == list(lab.board.attacks) and len(heat.y) == len(lab.board.defences)
    assert all(isinstance(v, float) for row in heat.z for v in row)
    dots, front = lab.pareto.data
    assert len(dots.x) == len(lab.board.defences) and 1 <= len(front.x) <= len(dots.x)
    html = lab.table.value
    for r in lab.rows:  # the sentences are the explain module's, escaped into the page
        assert str(row_statement(r)).replace("“", "&ldquo;")[:10].split("&")[0] in html
    assert html.count("<tr>") == len(lab.rows) + 1 and html.count("<li>") == len(lab.rows)
    assert "unresolved" in html  # 100 non-members cannot resolve 0.1 % FPR
    assert "Pareto front" in lab.ranking.value or "exposes the fewest" in lab.ranking.value
    before = lab.pareto.layout.title.text
    lab.attack_picker.value = "lira_online"
    assert lab.pareto.layout.title.text != before and "LiRA (online)" in lab.pareto.layout.title.text


def test_submissions_enter_the_board_and_failures_are_shown_in_place(computed):
    from medpriv_widgets.widgets.arena import ArenaLab

    store, lb = computed
    lab = ArenaLab(scenario=SMALL, cache=store, leaderboard=lb)
    n = len(lab.rows)
    rows = lab.submit_defence(Logistic, name="mean brightness")
    assert all(r.ok for r in rows) and "is on the board" in lab.message.value
    assert len(lab.rows) == n + len(rows) and rows[0].defence in list(lab.heat.data[0].y)
    bad = lab.submit_defence(Labels, name="labels")
    assert all(not r.ok for r in bad)
    assert "labels" in lab.message.value and "instead of probabilities" in lab.message.value
    assert "failed" in lab.table.value
    # the lab keeps working after the failure
    lab.attack_picker.value = "loss"
    assert "loss threshold" in lab.pareto.layout.title.text


def test_an_unknown_scenario_is_a_sentence_before_anything_is_drawn(tmp_path):
    from medpriv_widgets.errors import InvalidParameterError
    from medpriv_widgets.widgets.arena import ArenaLab

    with pytest.raises(InvalidParameterError, match="pneumonia-28"):
        ArenaLab(scenario="cats", cache=ResultStore(tmp_path), leaderboard=Leaderboard(
            tmp_path / "l.db"))
