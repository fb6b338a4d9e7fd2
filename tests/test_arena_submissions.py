"""Submissions from a notebook: a defence or an attack enters the board through its own process;
malformed ones (crash, NaN, wrong shape, labels, logits, True/False, a runaway loop) become rows
marked failed with the reason and leave every other row alone; the same submission gives the
same row."""

from __future__ import annotations

import math
import os
import time
import warnings

import numpy as np
import pytest

from medpriv_widgets.arena.board import Board
from medpriv_widgets.arena.leaderboard import Leaderboard
from medpriv_widgets.arena.submissions import (attack_split, check_probabilities, check_scores,
                                               fingerprint, submit_attack, submit_defence)
from medpriv_widgets.cache import ResultStore
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.experiments import last_record

pytestmark = [pytest.mark.slow]

SMALL = "pneumonia-28-small"
MEMBERSHIP = ("loss", "lira_offline", "lira_online")


class PooledLogistic:
    """Logistic regression on 7×7-pooled pixels, numpy only (a defence)."""

    def fit(self, X, y):
        F = self._features(X)
        self.mu, self.sd = F.mean(0), F.std(0) + 1e-6
        F = (F - self.mu) / self.sd
        w, b = np.zeros(F.shape[1]), 0.0
        for _ in range(200):
            p = 1 / (1 + np.exp(-(F @ w + b)))
            w -= 0.1 * F.T @ (p - y) / len(y)
            b -= 0.1 * np.mean(p - y)
        self.w, self.b = w, b + np.random.normal(scale=1e-3)  # seeded: reproducible

    def _features(self, X):
        return X.reshape(len(X), 4, 7, 4, 7).mean((2, 4)).reshape(len(X), -1)

    def predict(self, X):
        F = (self._features(X) - self.mu) / self.sd
        return 1 / (1 + np.exp(-(F @ self.w + self.b)))


class ReturnsLabels(PooledLogistic):
    def predict(self, X):
        return (super().predict(X) >= 0.5).astype(np.float32)


class ReturnsNaN(PooledLogistic):
    def predict(self, X):
        p = super().predict(X)
        p[3] = np.nan
        return p


class ReturnsLogits(PooledLogistic):
    def predict(self, X):
        p = super().predict(X)
        return np.log(p) - np.log1p(-p)


class WrongShape(PooledLogistic):
    def predict(self, X):
        return super().predict(X)[:-1]


class Crashes(PooledLogistic):
    def fit(self, X, y):
        raise RuntimeError("my model diverged")


class RunsForever(PooledLogistic):
    def fit(self, X, y):
        with open(os.environ["MEDPRIV_TEST_PIDFILE"], "w") as f:
            f.write(str(os.getpid()))
        while True:
            pass


class ConfidenceAttack:
    """Membership score = the target's confidence in the true label."""

    def fit(self, members, nonmembers, target):
        self.target = target
        X, y = members
        assert X.dtype == np.float32 and X.ndim == 4 and y.ndim == 1

    def score(self, X, y):
        p = self.target(X)
        return np.where(y == 1, p, 1 - p)


class GuessesBooleans(ConfidenceAttack):
    def score(self, X, y):
        return super().score(X, y) > 0.9


@pytest.fixture
def arena(shared_data, tmp_path_factory, tmp_path, monkeypatch):
    """(board, store, leaderboard) with the small board computed once per session and its
    rows on a fresh leaderboard."""
    root = tmp_path_factory.getbasetemp() / "medpriv-arena-small"
    store = ResultStore(root)
    board = Board(scenario=SMALL)
    if not (root / "complete").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert last_record(board.run(cache=store)).finished
        (root / "complete").write_text("ok")
    lb = Leaderboard(tmp_path / "lb.sqlite")
    lb.record(board.results(cache=store))
    monkeypatch.setenv("MEDPRIV_TEST_PIDFILE", str(tmp_path / "pid"))
    return board, store, lb


def _others(lb, label):
    return sorted(r.comparable() for r in lb.rows() if r.result.defence != label
                  and not r.result.attack.startswith(label))


def test_a_good_defence_is_attacked_like_the_builtin_ones(arena):
    board, store, lb = arena
    before = _others(lb, "logistic")
    rows = submit_defence(PooledLogistic, name="logistic", board=board, cache=store,
                          leaderboard=lb, submitter="ann")
    assert [r.attack for r in rows] == list(MEMBERSHIP)
    for r in rows:
        assert r.ok and r.defence.startswith("logistic #") and r.scenario == SMALL
        assert 0.6 < r.utility_auc <= 1.0 and 0.0 <= r.mia_auc <= 1.0
        assert r.n_nonmembers == 100 and math.isinf(r.epsilon_claimed)
    stored = [x for x in lb.rows() if x.result.defence == rows[0].defence]
    assert {x.submitter for x in stored} == {"ann"} and {x.entry for x in stored} == {"defence"}
    assert _others(lb, rows[0].defence) == before  # nothing else changed


def test_the_same_submission_gives_the_same_row(arena, tmp_path):
    board, store, lb = arena
    first = submit_defence(PooledLogistic, name="repro", board=board, cache=store, leaderboard=lb)
    snapshot = sorted(r.comparable() for r in lb.rows())
    again = submit_defence(PooledLogistic, name="repro", board=board, cache=store, leaderboard=lb)
    assert sorted(r.comparable() for r in lb.rows()) == snapshot
    assert [r.as_dict() for r in again] == [r.as_dict() for r in first]
    # without any cache it runs again, seeded: the same numbers (only the wall time differs)
    fresh = submit_defence(PooledLogistic, name="repro", board=board, cache=None)
    timing = {"seconds_defence", "seconds_attack"}
    for a, b in zip(first, fresh):
        da = {k: v for k, v in a.as_dict().items() if k not in timing}
        db = {k: v for k, v in b.as_dict().items() if k not in timing}
        assert da == db
    assert fingerprint(PooledLogistic) == fingerprint(PooledLogistic)
    assert fingerprint(PooledLogistic) != fingerprint(ReturnsLabels)


@pytest.mark.parametrize("cls, words", [
    (ReturnsLabels, "labels (only 0 and 1) instead of probabilities"),
    (ReturnsNaN, "NaN"),
    (ReturnsLogits, "probabilities in [0, 1]"),
    (WrongShape, "shape"),
    (Crashes, "RuntimeError: my model diverged"),
])
def test_a_malformed_defence_becomes_failed_rows_and_the_board_is_untouched(arena, cls, words):
    board, store, lb = arena
    before = sorted(r.comparable() for r in lb.rows())
    rows = submit_defence(cls, name=cls.__name__, board=board, cache=store, leaderboard=lb)
    assert [r.status for r in rows] == ["failed"] * len(MEMBERSHIP)
    assert all(words in r.reason for r in rows), rows[0].reason
    assert all(math.isnan(r.mia_auc) for r in rows)
    after = lb.rows()
    assert sorted(r.comparable() for r in after if r.result.defence != rows[0].defence) == before
    assert sum(r.result.defence == rows[0].defence for r in after) == len(MEMBERSHIP)


def test_a_runaway_defence_is_stopped_at_its_time_limit(arena, tmp_path):
    board, store, lb = arena
    t0 = time.perf_counter()
    rows = submit_defence(RunsForever, name="forever", board=board, cache=store,
                          leaderboard=lb, time_limit_s=3)
    assert time.perf_counter() - t0 < 120
    assert all(r.status == "failed" and "time limit of 3 s" in r.reason for r in rows)
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):  # the process really is gone
        os.kill(pid, 0)


def test_bad_arguments_are_errors_not_rows(arena):
    board, store, lb = arena

    class NoPredict:
        def fit(self, X, y):
            pass

    with pytest.raises(InvalidParameterError, match="predict"):
        submit_defence(NoPredict, name="x", board=board, cache=store)
    with pytest.raises(InvalidParameterError, match="name"):
        submit_defence(PooledLogistic, name="", board=board, cache=store)
    with pytest.raises(InvalidParameterError, match="time_limit_s"):
        submit_defence(PooledLogistic, name="x", board=board, time_limit_s=0)
    with pytest.raises(InvalidParameterError, match="board"):
        submit_defence(PooledLogistic, name="x", board="pneumonia-28")
    with pytest.raises(InvalidParameterError, match="defence"):
        submit_attack(ConfidenceAttack, name="x", board=board, defence="fedavg")


def test_output_checks_say_what_is_wrong():
    with pytest.raises(InvalidParameterError, match="True/False"):
        check_probabilities(np.array([True, False]), 2, what="predict()")
    with pytest.raises(InvalidParameterError, match="numpy array"):
        check_probabilities([0.1, 0.2], 2, what="predict()")
    with pytest.raises(InvalidParameterError, match="sum to 1"):
        check_probabilities(np.array([[0.2, 0.2], [0.5, 0.5]]), 2, what="predict()")
    p = check_probabilities(np.array([[0.8, 0.2], [0.4, 0.6]]), 2, what="predict()")
    assert p.tolist() == pytest.approx([0.2, 0.6])
    with pytest.raises(InvalidParameterError, match="whole ROC"):
        check_scores(np.array([True, False]), 2, what="score()")
    with pytest.raises(InvalidParameterError, match="shape"):
        check_scores(np.zeros(3), 2, what="score()")


def test_a_submitted_attack_sees_no_truth_and_is_judged_on_unseen_patients(arena, monkeypatch):
    board, store, lb = arena
    split = attack_split(board.data)
    ids = np.asarray(board.data.population.patient_ids)
    known = set(ids[split["known_members"]]) | set(ids[split["known_nonmembers"]])
    assert not known & set(ids[split["eval"]])
    assert 0 < split["eval_is_member"].mean() < 1
    assert not np.all(np.diff(split["eval_is_member"].astype(int)) <= 0)  # shuffled
    row = submit_attack(ConfidenceAttack, name="confidence", board=board, cache=store,
                        leaderboard=lb)
    assert row.ok and row.defence == "none" and row.attack.startswith("confidence #")
    assert row.n_members + row.n_nonmembers == len(split["eval"])
    assert 0.0 <= row.mia_auc <= 1.0 and row.utility_auc > 0.5

    from medpriv_widgets.arena import sandbox

    seen = {}

    def capture(payload, **kw):
        seen.update(payload)
        return sandbox.SandboxOutcome(False, None, "captured", 0.0)

    monkeypatch.setattr(sandbox, "run_in_sandbox", capture)
    submit_attack(ConfidenceAttack, name="peek", board=board, cache=None)
    assert set(seen) == {"run", "submission", "seed", "torch", "members", "nonmembers",
                         "X_eval", "y_eval", "target"}
    assert all(a.dtype != bool for a in (seen["y_eval"], seen["members"][1]))


def test_an_attack_that_answers_true_false_is_a_failed_row(arena):
    board, store, lb = arena
    row = submit_attack(GuessesBooleans, name="booleans", board=board, cache=store,
                        leaderboard=lb)
    assert row.status == "failed" and "score per example" in row.reason
