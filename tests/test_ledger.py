"""PrivacyLedger: spending, locking, persistence, kill -9 safety, concurrency, integrity."""

from __future__ import annotations

import gc
import json
import math
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medpriv_widgets.errors import (BudgetExhausted, DatasetLocked, InvalidParameterError,
                                    LedgerCorrupt, PrivacyBudgetError)
from medpriv_widgets.privacy.accounting import dpsgd_epsilon
from medpriv_widgets.privacy.ledger import PrivacyLedger, default_ledger_path

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _ledger_dir(tmp_path, monkeypatch):
    """Default ledgers go to a folder of this test (conftest isolates only the caches)."""
    monkeypatch.setenv("MEDPRIV_LEDGER_DIR", str(tmp_path / "ledgers"))


def make(tmp_path, **kw) -> PrivacyLedger:
    args = dict(epsilon=1.0, delta=1e-5, dataset="pneumoniamnist", institution="Hospital A") | kw
    return PrivacyLedger(tmp_path / "ledger.sqlite", **args)


def events(path) -> list[tuple[int, str, dict]]:
    """The raw log, read with sqlite3 itself: (seq, kind, body)."""
    con = sqlite3.connect(path)
    try:
        return [(seq, kind, json.loads(body)) for seq, kind, body in
                con.execute("SELECT seq, kind, body FROM events ORDER BY seq")]
    finally:
        con.close()


def forge(path, mutate) -> None:
    """A determined forger's edit: ``mutate(body)`` changes records in place, then every
    checksum of the chain is recomputed (so only the ledger's schema checks can object)."""
    from medpriv_widgets.privacy.ledger_store import _chain

    con = sqlite3.connect(path, isolation_level=None)
    try:
        rows = con.execute("SELECT seq, kind, body FROM events ORDER BY seq").fetchall()
        con.execute("BEGIN")
        prev = ""
        for seq, kind, body in rows:
            body = json.loads(body)
            mutate(body)
            text = json.dumps(body, sort_keys=True, separators=(",", ":"))  # NaN allowed here
            digest = _chain(prev, seq, kind, text)
            con.execute("UPDATE events SET body = ?, prev = ?, hash = ? WHERE seq = ?",
                        (text, prev, digest, seq))
            prev = digest
        con.execute("COMMIT")
    finally:
        con.close()


def edit(path, sql: str, *args) -> None:
    """A hand edit with the sqlite3 tool (no checksum recomputed)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute(sql, args)
    finally:
        con.close()


# ----------------------------------------------------------------------------- basics
def test_spends_add_up_and_exhaustion_locks(tmp_path):
    led = make(tmp_path)
    for i in range(9):
        rec = led.spend(0.1, note=f"count {i}", mechanism="laplace")
        assert rec["epsilon"] == 0.1 and rec["seq"] == i + 1
    assert led.spent()[0] == pytest.approx(0.9)
    assert not led.locked
    led.spend(0.1, note="count 9")  # the last of the budget: spent, and the dataset locks
    assert led.spent()[0] == pytest.approx(1.0)
    assert led.remaining()[0] == pytest.approx(0.0, abs=1e-12)
    assert led.locked and len(led.history) == 10
    with pytest.raises(DatasetLocked, match="is locked: no further questions or training") as info:
        led.check_open()
    assert "'count 9' used the last of it" in str(info.value)
    assert "Hospital A" in str(info.value) and "reset(confirm=True)" in str(info.value)
    with pytest.raises(DatasetLocked):
        led.spend(0.001, note="tiny")
    assert led.fraction_used() == 1.0


def test_an_oversized_request_is_refused_without_locking_what_is_left(tmp_path):
    led = make(tmp_path)
    led.spend(0.7, note="first count")
    with pytest.raises(BudgetExhausted) as info:
        led.spend(0.5, note="one too big")
    # In words: what it would spend, what is left, what now; no δ for a pure-ε question.
    text = str(info.value)
    assert "'one too big' would spend ε = 0.5 of the privacy budget, but only ε = 0.3" in text
    assert "Nothing was spent, and the dataset stays open" in text and "δ" not in text
    assert "Hospital A" in text and "locked" not in text
    assert not led.locked and len(led.history) == 1  # the refused spend is not recorded
    led.check_open()
    led.spend(0.3, note="what is left")  # a request that fits is still answered ...
    assert led.locked  # ... and uses the budget up
    with pytest.raises(DatasetLocked):
        led.spend(0.1, note="after")


def test_lock_closes_on_purpose(tmp_path):
    led = make(tmp_path)
    led.spend(0.2, note="x")
    led.lock(reason="the study ended")
    led.lock(reason="again")  # nothing changes
    assert led.locked and led.remaining()[0] == pytest.approx(0.8)
    with pytest.raises(DatasetLocked, match=r"is locked \(the study ended\)"):
        led.check_open()
    with pytest.raises(InvalidParameterError, match="reason"):
        led.lock(reason=" ")
    led.reset(confirm=True)
    assert not led.locked


def test_history_records_what_when_mechanism(tmp_path):
    led = make(tmp_path)
    led.spend(0.2, 1e-6, note="noisy mean age", mechanism="gaussian-classic")
    (rec,) = led.history
    assert rec["note"] == "noisy mean age" and rec["mechanism"] == "gaussian-classic"
    assert rec["epsilon"] == 0.2 and rec["delta"] == 1e-6
    assert rec["when"].endswith("+00:00")
    assert led.remaining() == (pytest.approx(0.8), pytest.approx(1e-5 - 1e-6))


def test_dpsgd_spends_compose_tightly(tmp_path):
    led = make(tmp_path, epsilon=5.0)
    for epoch in range(3):
        led.spend_dpsgd(noise_multiplier=1.0, sample_rate=0.01, steps=100, note=f"epoch {epoch}")
    one_run = dpsgd_epsilon(noise_multiplier=1.0, sample_rate=0.01, steps=300, delta=1e-5)
    one_epoch = dpsgd_epsilon(noise_multiplier=1.0, sample_rate=0.01, steps=100, delta=1e-5)
    eps, dlt = led.spent()
    assert eps == pytest.approx(one_run, rel=1e-12)
    assert eps < 3 * one_epoch  # tight composition beats adding per-epoch ε
    assert dlt == 1e-5
    assert math.fsum(r["epsilon"] for r in led.history) == pytest.approx(eps)
    # Basic spends add on top; δ they commit is taken from the Gaussian part.
    led.spend(0.5, note="a Laplace count")
    assert led.spent()[0] == pytest.approx(one_run + 0.5, rel=1e-12)
    preview = led.cost_of_dpsgd(noise_multiplier=1.0, sample_rate=0.01, steps=100)
    assert 0 < preview < one_epoch
    assert len(led.history) == 4  # previews record nothing


def test_gaussian_answers_compose_with_training(tmp_path):
    led = make(tmp_path, epsilon=10.0)
    led.spend_gaussian(sigma=4.0, sensitivity=1.0, note="noisy count (Gaussian)")
    led.spend_gaussian(sigma=4.0, sensitivity=1.0, note="noisy count again")
    single = led.history[0]["epsilon"]
    assert led.spent()[0] < 2 * single  # joint accounting is tighter than the sum


def test_no_noise_training_cannot_be_covered(tmp_path):
    led = make(tmp_path, epsilon=50.0)
    with pytest.raises(BudgetExhausted):
        led.spend_dpsgd(noise_multiplier=0.0, sample_rate=0.01, steps=10, note="non-private")
    assert led.history == [] and not led.locked  # refused; the budget is still there


# ----------------------------------------------------------------------------- persistence
def test_persists_across_instances_and_refuses_other_budget(tmp_path):
    make(tmp_path).spend(0.3, note="before restart")
    again = PrivacyLedger(tmp_path / "ledger.sqlite", epsilon=None, delta=None,
                          dataset="pneumoniamnist", institution="Hospital A")
    assert again.budget == (1.0, 1e-5)
    assert again.spent()[0] == pytest.approx(0.3)
    with pytest.raises(InvalidParameterError, match="created with the budget"):
        make(tmp_path, epsilon=2.0)
    with pytest.raises(InvalidParameterError, match="belongs to dataset"):
        make(tmp_path, institution="Hospital B")


def test_default_path_is_per_institution_and_dataset(tmp_path):
    a = PrivacyLedger(None, epsilon=1.0, delta=1e-5, dataset="pneumoniamnist",
                      institution="Hospital A")
    b = PrivacyLedger(None, epsilon=1.0, delta=1e-5, dataset="pneumoniamnist",
                      institution="Hospital B")
    assert a.path == default_ledger_path(dataset="pneumoniamnist", institution="Hospital A")
    # Ledgers live in their own folder, never under the disposable result cache.
    assert str(a.path).startswith(os.environ["MEDPRIV_LEDGER_DIR"])
    assert not str(a.path).startswith(os.environ["MEDPRIV_CACHE_DIR"])
    assert a.path != b.path
    a.spend(0.5, note="x")
    assert b.spent() == (0.0, 0.0)
    # A directory as path: the same layout below it.
    c = PrivacyLedger(tmp_path, epsilon=1.0, delta=1e-5, dataset="d", institution="i")
    assert c.path == tmp_path / "i" / "d.sqlite"


def test_reset_needs_explicit_confirmation(tmp_path):
    led = make(tmp_path)
    led.spend(0.9, note="big")
    with pytest.raises(BudgetExhausted):
        led.spend(0.2, note="too much")
    led.spend(0.1, note="the rest")
    for bad in ({}, {"confirm": False}, {"confirm": "yes"}, {"confirm": 1}):
        with pytest.raises(InvalidParameterError, match="instructor"):
            led.reset(**bad)
    assert led.locked
    led.reset(confirm=True)
    assert not led.locked and led.history == [] and led.remaining()[0] == 1.0
    # The old record is kept: the log only grows.
    assert [k for _, k, _ in events(led.path)] == ["create", "spend", "spend", "lock", "reset"]
    assert events(led.path)[1][2]["note"] == "big"
    led.reset(confirm=True, epsilon=3.0)
    assert led.budget == (3.0, 1e-5)


@pytest.mark.parametrize("kwargs", [dict(epsilon=0.0), dict(epsilon=float("nan")),
                                    dict(epsilon=-1.0), dict(epsilon=float("inf")),
                                    dict(delta=0.0), dict(delta=1.0)])
def test_bad_budget(tmp_path, kwargs):
    with pytest.raises(InvalidParameterError, match=next(iter(kwargs))):
        make(tmp_path, **kwargs)


def test_bad_spend(tmp_path):
    led = make(tmp_path)
    for eps in (0.0, -0.1, float("nan"), float("inf"), "0.1"):
        with pytest.raises(InvalidParameterError, match="epsilon"):
            led.spend(eps, note="x")
    with pytest.raises(InvalidParameterError, match="delta"):
        led.spend(0.1, 1.0, note="x")
    with pytest.raises(InvalidParameterError, match="note"):
        led.spend(0.1, note="  ")
    with pytest.raises(InvalidParameterError, match="sample_rate"):
        led.spend_dpsgd(noise_multiplier=1.0, sample_rate=0.0, steps=1, note="x")
    assert led.history == [] and not led.locked


# ----------------------------------------------------------------------------- integrity
def test_hand_edited_file_is_detected(tmp_path):
    led = make(tmp_path)
    led.spend(0.9, note="big")
    edit(led.path, "UPDATE events SET body = replace(body, '\"epsilon\":0.9', '\"epsilon\":0.01') "
                   "WHERE kind = 'spend'")  # "nobody will notice"
    assert events(led.path)[1][2]["epsilon"] == 0.01
    with pytest.raises(LedgerCorrupt, match="checksum"):
        led.remaining()
    with pytest.raises(LedgerCorrupt):
        led.spend(0.05, note="more")
    with pytest.raises(LedgerCorrupt):
        led.check_open()
    # A fresh reader (another notebook) sees it too.
    with pytest.raises(LedgerCorrupt, match="checksum"):
        PrivacyLedger(led.path, dataset="pneumoniamnist", institution="Hospital A")


def test_truncated_file_is_detected_and_reset_recovers(tmp_path):
    led = make(tmp_path)
    led.spend(0.2, note="x")
    path = led.path
    del led
    gc.collect()  # closes the connection: the log is now all in the main file
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(LedgerCorrupt, match="cannot be read|holds no records|misses"):
        PrivacyLedger(path, dataset="pneumoniamnist", institution="Hospital A")
    # Re-opening with the budget still works, so an instructor can reset.
    again = make(tmp_path)
    with pytest.raises(LedgerCorrupt):
        again.spent()
    again.reset(confirm=True)
    assert again.history == [] and not again.locked
    assert list(tmp_path.glob("ledger.sqlite.corrupt-*")), "the damaged file is kept aside"


def test_unlocking_by_hand_is_detected(tmp_path):
    led = make(tmp_path)
    led.spend(1.0, note="all of it")
    assert led.locked
    edit(led.path, "DELETE FROM events WHERE kind = 'lock'")
    with pytest.raises(LedgerCorrupt):
        led.check_open()


# ----------------------------------------------------------------------------- kill -9
_CHILD = """
import sys
from medpriv_widgets.privacy.ledger import PrivacyLedger
led = PrivacyLedger(sys.argv[1], epsilon=1000.0, delta=1e-5, dataset="d", institution="i")
i = int(sys.argv[2])
while True:
    led.spend(0.01, note=f"s{i}")
    print(i, flush=True)
    i += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_spend_loses_nothing_and_counts_nothing_twice(tmp_path):
    path = tmp_path / "ledger.json"
    PrivacyLedger(path, epsilon=1000.0, delta=1e-5, dataset="d", institution="i")
    rng = random.Random(1234)
    next_index = 0
    for _ in range(20):  # the audit's 20 kill -9 runs
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(next_index)],
                                stdout=subprocess.PIPE, text=True, cwd=REPO)
        confirmed = []
        target = rng.randint(3, 25)
        while len(confirmed) < target:
            line = proc.stdout.readline()
            assert line, "child died on its own"
            confirmed.append(int(line))
        time.sleep(rng.uniform(0.0, 0.01))  # land somewhere inside a spend
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        confirmed += [int(x) for x in rest.split()]
        assert proc.returncode == -signal.SIGKILL

        led = PrivacyLedger(path, dataset="d", institution="i")  # file must be valid
        notes = [r["note"] for r in led.history]
        assert len(notes) == len(set(notes)), "a spend was counted twice"
        # All spends are a gap-free sequence s0..sk: every confirmed spend is present, and at
        # most the one in flight at the kill was completed without being confirmed.
        assert notes == [f"s{i}" for i in range(len(notes))]
        assert confirmed[-1] + 1 <= len(notes) <= confirmed[-1] + 2
        assert led.spent()[0] == pytest.approx(0.01 * len(notes))
        next_index = len(notes)


# ----------------------------------------------------------------------------- concurrency
def _spender(path: str, name: str, queue) -> None:
    led = PrivacyLedger(path, dataset="d", institution="i")
    done = []
    try:
        while True:
            led.spend(0.07, note=f"{name}-{len(done)}")
            done.append(f"{name}-{len(done)}")
    except (BudgetExhausted, DatasetLocked):
        pass
    finally:
        queue.put(done)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
@pytest.mark.parametrize("writers", ["AB", "ABCD"])  # 2 and the audit's 4 concurrent writers
def test_concurrent_processes_never_exceed_the_budget(tmp_path, writers):
    path = tmp_path / "ledger.json"
    PrivacyLedger(path, epsilon=1.0, delta=1e-5, dataset="d", institution="i")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_spender, args=(str(path), name, queue)) for name in writers]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    led = PrivacyLedger(path, dataset="d", institution="i")
    successful = sorted(sum(results, []))
    assert sorted(r["note"] for r in led.history) == successful
    assert len(successful) == 14  # 14 × 0.07 = 0.98 ≤ 1 < 15 × 0.07
    assert led.spent()[0] == pytest.approx(0.07 * len(successful))
    assert led.spent()[0] <= 1.0 + 1e-9
    assert not led.locked  # 0.02 is left: the refused requests did not throw it away


def test_errors_are_privacy_budget_errors():
    assert issubclass(BudgetExhausted, PrivacyBudgetError)
    assert issubclass(LedgerCorrupt, PrivacyBudgetError)


def test_refusal_names_delta_only_when_delta_is_the_problem(tmp_path):
    led = PrivacyLedger(tmp_path / "d.json", epsilon=1.0, delta=1e-5, dataset="cohort",
                        institution="demo")
    led.spend(0.2, 9e-6, note="first release")
    with pytest.raises(BudgetExhausted) as info:
        led.spend(0.1, 5e-6, note="histogram of ages")
    text = str(info.value)
    assert "would spend δ = 5e-6" in text and "only δ = 1e-6 is left" in text
    assert "'cohort' at institution 'demo'" in text and "stays open" in text
    assert not led.locked
    led.reset(confirm=True)
    led.spend(0.7, note="first count")
    with pytest.raises(BudgetExhausted, match=r"would spend ε = 0\.5 of the privacy budget, but "
                                              r"only ε = 0\.3 is left") as info:
        led.spend(0.5, note="second count")
    assert "δ" not in str(info.value)


# ----------------------------------------------------------------------------- where and what
def test_a_missing_file_is_noticed_not_restarted_with_a_full_budget(tmp_path):
    led = make(tmp_path)
    led.spend(0.9, note="most of it")
    path = led.path
    del led
    gc.collect()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(LedgerCorrupt, match="was created on .* but its file is missing") as info:
        PrivacyLedger(path, dataset="pneumoniamnist", institution="Hospital A")
    assert "reset(confirm=True)" in str(info.value)
    # Passing the budget again does not quietly start over either.
    again = make(tmp_path)
    with pytest.raises(LedgerCorrupt, match="missing"):
        again.spend(0.5, note="fresh start?")
    again.reset(confirm=True)  # only an instructor's reset starts a new budget
    assert again.spent() == (0.0, 0.0)
    first = events(path)[0][2]
    assert first["replaces"] and first["dataset"] == "pneumoniamnist"


def test_a_replaced_file_is_noticed(tmp_path):
    make(tmp_path).spend(0.9, note="most of it")
    gc.collect()
    other = tmp_path / "other"
    PrivacyLedger(other / "ledger.sqlite", epsilon=1.0, delta=1e-5, dataset="pneumoniamnist",
                  institution="Hospital A")
    gc.collect()
    os.replace(other / "ledger.sqlite", tmp_path / "ledger.sqlite")  # a fresh, full budget
    with pytest.raises(LedgerCorrupt, match="file was replaced"):
        PrivacyLedger(tmp_path / "ledger.sqlite", dataset="pneumoniamnist",
                      institution="Hospital A")


def test_clearing_caches_cannot_reach_ledgers(tmp_path, monkeypatch):
    from medpriv_widgets.cache import ResultCache, ResultStore
    from medpriv_widgets.errors import CacheError

    led = PrivacyLedger(None, epsilon=1.0, delta=1e-5, dataset="d", institution="i")
    led.spend(0.5, note="x")
    store = ResultStore(os.environ["MEDPRIV_CACHE_DIR"])
    for name in ("training", "ledgers", "membership"):
        store.namespace(name).clear()
    for bad in ("", "..", "../x", "a/b", "a\\b", ".hidden", None, 3):
        with pytest.raises(InvalidParameterError, match="namespace"):
            ResultCache(bad, root=tmp_path)
    assert led.spent()[0] == pytest.approx(0.5)
    # A cache deliberately pointed at the ledger folder is refused, not cleared.
    monkeypatch.setenv("MEDPRIV_CACHE_DIR", str(Path(os.environ["MEDPRIV_LEDGER_DIR"]).parent))
    with pytest.raises(CacheError, match="ledger"):
        ResultStore(os.environ["MEDPRIV_CACHE_DIR"]).namespace("ledgers").clear()
    assert led.spent()[0] == pytest.approx(0.5)


def test_an_unusable_folder_says_what_is_wrong_at_once(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    start = time.monotonic()
    with pytest.raises(PrivacyBudgetError, match="cannot be kept in") as info:
        PrivacyLedger(blocker / "ledger.sqlite", epsilon=1.0, delta=1e-5, dataset="d",
                      institution="i")
    assert "another process" not in str(info.value) and "MEDPRIV_LEDGER_DIR" in str(info.value)
    assert time.monotonic() - start < 30  # not the 60 s lock time-out
    if os.geteuid() != 0:  # root may write anywhere
        locked_dir = tmp_path / "read-only"
        locked_dir.mkdir()
        locked_dir.chmod(0o500)
        try:
            with pytest.raises(PrivacyBudgetError, match="permission denied"):
                PrivacyLedger(locked_dir / "ledger.sqlite", epsilon=1.0, delta=1e-5,
                              dataset="d", institution="i")
        finally:
            locked_dir.chmod(0o700)


def test_old_json_ledgers_are_named_not_misread(tmp_path):
    old = tmp_path / "ledger.json"
    old.write_text(json.dumps({"content": {"format": "medpriv-privacy-ledger"}, "sha256": "x"}))
    with pytest.raises(LedgerCorrupt, match="old JSON format"):
        PrivacyLedger(old, dataset="pneumoniamnist", institution="Hospital A")


def test_tampering_is_refused_without_assert_under_python_O(tmp_path):
    path = tmp_path / "l.sqlite"
    led = PrivacyLedger(path, epsilon=1.0, delta=1e-5, dataset="d", institution="i")
    led.spend(0.5, note="x")
    del led
    gc.collect()
    forge(path, lambda body: body.update(epsilon=-0.4, total_epsilon=0.1) if "note" in body
          else None)
    code = ("import sys\n"
            "from medpriv_widgets.errors import LedgerCorrupt\n"
            "from medpriv_widgets.privacy.ledger import PrivacyLedger\n"
            "try:\n"
            f"    PrivacyLedger({str(path)!r}, dataset='d', institution='i')\n"
            "except LedgerCorrupt as exc:\n"
            "    print('refused:', exc)\n"
            "    sys.exit(0)\n"
            "sys.exit(3)\n")
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "refused:" in out.stdout and "number out of range" in out.stdout
