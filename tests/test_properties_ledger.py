"""The privacy ledger with generated spends and generated forgeries (issue 15, item 4).

- Any sequence of spends: the recorded total never exceeds the budget, a refused spend records
  and spends nothing, a locked dataset refuses, and what is spent is exactly the composition of
  what is recorded.
- Any record changed to a value of the wrong sign or type, even with every checksum recomputed
  (a careful forger), is refused with LedgerCorrupt; so is any record edited without them.
"""

from __future__ import annotations

import gc
import json
import math
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medpriv_widgets.errors import BudgetExhausted, DatasetLocked, LedgerCorrupt
from medpriv_widgets.privacy.accounting import compose_budget
from medpriv_widgets.privacy.ledger import PrivacyLedger
from test_ledger import forge

PROPS = settings(database=None, deadline=None, max_examples=25,
                 suppress_health_check=[HealthCheck.too_slow,
                                        HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _ledger_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPRIV_LEDGER_DIR", str(tmp_path / "ledgers"))


spends = st.lists(st.one_of(
    st.tuples(st.just("basic"), st.floats(1e-4, 0.6), st.sampled_from([0.0, 0.0, 1e-7, 4e-6])),
    # a few DP-SGD settings, so the PRV compositions repeat (and are cached) across examples
    st.tuples(st.just("dpsgd"), st.sampled_from([1.0, 1.5, 3.0]), st.sampled_from([50, 200]))),
    min_size=1, max_size=10)


@pytest.mark.slow
@settings(database=None, deadline=None, max_examples=20,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.floats(0.2, 3.0), spends)
def test_spends_never_exceed_the_budget_and_add_up(budget, requests):
    with tempfile.TemporaryDirectory() as folder:
        led = PrivacyLedger(Path(folder) / "l.sqlite", epsilon=budget, delta=1e-5, dataset="d",
                            institution="i")
        for kind, a, b in requests:
            before, n_before = led.spent(), len(led.history)
            try:
                if kind == "basic":
                    led.spend(a, b, note="q")
                else:
                    led.spend_dpsgd(noise_multiplier=a, sample_rate=0.01, steps=b, note="run")
            except BudgetExhausted:  # refused: nothing recorded, nothing spent
                assert len(led.history) == n_before and led.spent() == before
            except DatasetLocked:
                assert led.locked and len(led.history) == n_before
        history = led.history
        eps, dlt = led.spent()
        assert eps <= budget * (1 + 1e-9) and dlt <= 1e-5 * (1 + 1e-9)
        assert all(r["total_epsilon"] <= budget * (1 + 1e-9) for r in history)
        expected = compose_budget(
            basic=[(r["epsilon"], r["delta"]) for r in history if r["kind"] == "basic"],
            gaussian=[(r["params"]["noise_multiplier"], r["params"]["sample_rate"],
                       r["params"]["steps"]) for r in history if r["kind"] == "gaussian"],
            delta_budget=1e-5)
        assert eps == pytest.approx(expected[0], rel=1e-9, abs=1e-12)
        if history:
            assert history[-1]["total_epsilon"] == pytest.approx(eps, rel=1e-9, abs=1e-12)
        assert [r["seq"] for r in history] == list(range(1, len(history) + 1))


def _ledger_with_history(folder: Path) -> Path:
    led = PrivacyLedger(folder / "l.sqlite", epsilon=5.0, delta=1e-5, dataset="d",
                        institution="i")
    led.spend(0.5, note="count")
    led.spend(0.25, 1e-6, note="mean")
    led.spend_dpsgd(noise_multiplier=1.0, sample_rate=0.01, steps=100, note="training")
    path = led.path
    del led
    gc.collect()
    return path


bad_values = st.sampled_from([-1.0, -1e-300, float("nan"), float("inf"), "0.1", None, True, [],
                              {}, 1e308, -0.5])
fields = st.sampled_from(["epsilon", "delta", "total_epsilon", "total_delta", "seq", "note",
                          "kind", "params.noise_multiplier", "params.sample_rate",
                          "params.steps", "budget.epsilon", "budget.delta", "format"])


@PROPS
@given(st.integers(0, 3), fields, bad_values)
def test_a_forged_record_of_the_wrong_sign_or_type_is_refused(record, field, value):
    if field == "budget.epsilon" and value == 1e308:
        return  # a larger budget of the right type and sign: a checksum is not a signature
    if field == "note" and isinstance(value, str):
        return  # any text is a valid note: a forged note of the right type is not detectable
    with tempfile.TemporaryDirectory() as folder:
        path = _ledger_with_history(Path(folder))
        changed = []

        def mutate(body):
            n = mutate.seen
            mutate.seen += 1
            if n != record:
                return
            target, key = body, field
            if "." in field:
                outer, key = field.split(".")
                target = body.get(outer)
                if not isinstance(target, dict):
                    return
            if key not in target or (target[key] == value and type(target[key]) is type(value)):
                return
            target[key] = value
            changed.append(field)

        mutate.seen = 0
        forge(path, mutate)
        if not changed:
            return
        with pytest.raises(LedgerCorrupt):
            led = PrivacyLedger(path, dataset="d", institution="i")
            led.spent()


@PROPS
@given(st.integers(1, 4), st.binary(min_size=1, max_size=8))
def test_any_hand_edit_without_the_checksum_is_refused(seq, junk):
    with tempfile.TemporaryDirectory() as folder:
        path = _ledger_with_history(Path(folder))
        con = sqlite3.connect(path, isolation_level=None)
        try:
            body = con.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0]
            edited = body.replace('"', "'", 1) + junk.hex()
            con.execute("UPDATE events SET body = ? WHERE seq = ?", (edited, seq))
        finally:
            con.close()
        with pytest.raises(LedgerCorrupt, match="checksum"):
            PrivacyLedger(path, dataset="d", institution="i")
