"""Conformance with the real AnoMed libraries, both directions, on 127.0.0.1.

AnoMed's packages (``anomed-challenge`` 0.0.21, ``anomed-anonymizer`` 0.0.22,
``anomed-deanonymizer`` 0.0.11, ``anomed-utils`` 0.3.8) pin numpy 1.26 and pandas 2.2, so they
run in a virtual environment of their own, as AnoMed runs each part in its own container. It is
built once from PyPI and kept in the temporary folder (or ``$MEDPRIV_ANOMED_VENV``), keyed by the
pins; when it cannot be built (no network) the tests skip and say why.

1. Their anonymizer and deanonymizer (their server factories, their ``WrappedAnonymizer``,
   ``SupervisedLearningMIA`` and ``WebClassifier``) against **our** challenge serving an arena
   scenario: fit, evaluate, and our answer carries their ``fpr = fp/n`` and the standard
   ``fpr_standard = fp/(fp+tn)``.
2. **Our** anonymizer (DP-SGD at ε = 8) and our LiRA deanonymizer against **their** challenge
   (``SupervisedLearningMIAChallenge`` with their ``strict_binary_accuracy`` and
   ``evaluate_MIA``) holding the same scenario's X-rays as uint8: their challenge accepts our
   labels and booleans; we report both FPRs.

Every process started here is stopped by its own id (its process group).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

PINS = ("anomed-challenge==0.0.21", "anomed-anonymizer==0.0.22", "anomed-deanonymizer==0.0.11",
        "anomed-utils==0.3.8", "packaging")  # ART needs packaging but does not declare it
SCENARIO = "pneumonia-28-small"


def _venv_dir() -> Path:
    env = os.environ.get("MEDPRIV_ANOMED_VENV")
    if env:
        return Path(env)
    digest = hashlib.sha256(" ".join(PINS).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"medpriv-anomed-venv-{digest}"


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import anomed_challenge, anomed_anonymizer, "
                            "anomed_deanonymizer, anomed_utils, falcon"],
                           capture_output=True, timeout=300)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def anomed_python() -> Path:
    """The Python of AnoMed's own virtual environment (built once, then reused)."""
    from filelock import FileLock

    folder = _venv_dir()
    python = folder / "bin" / "python"
    with FileLock(str(folder) + ".lock", timeout=1800):
        if _works(python):
            return python
        build = subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)],
                               capture_output=True, text=True, timeout=300)
        if build.returncode != 0:
            pytest.skip(f"Could not create AnoMed's virtual environment: {build.stderr[-500:]}")
        pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", *PINS],
                             capture_output=True, text=True, timeout=1500)
        if pip.returncode != 0 or not _works(python):
            pytest.skip("AnoMed's libraries could not be installed from PyPI (network?); CI can "
                        f"reach PyPI. pip said: {(pip.stderr or pip.stdout)[-600:]}")
    return python


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_alive(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def start(tmp_path, anomed_python):
    """start(name, script, env) → base URL of one AnoMed app run in AnoMed's venv."""
    procs = []

    def run(name: str, script: str, env: dict) -> str:
        port = _port()
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(SERVE_PRELUDE) + textwrap.dedent(script))
        log = tmp_path / f"{name}.log"
        handle = open(log, "wb")
        proc = subprocess.Popen([str(anomed_python), str(path)], cwd=tmp_path,
                                env={**os.environ, **env, "PORT": str(port),
                                     "PYTHONUNBUFFERED": "1", "WORK": str(tmp_path)},
                                stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append((proc, handle))
        url = f"http://127.0.0.1:{port}"
        _wait_alive(url, proc, log)
        return url

    yield run
    for proc, handle in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        handle.close()


SERVE_PRELUDE = """
import os, pickle, sys, warnings
from wsgiref.simple_server import make_server, WSGIRequestHandler
import numpy as np
warnings.simplefilter("ignore")

class Quiet(WSGIRequestHandler):
    def log_message(self, *a):
        pass

def serve(app):
    make_server("127.0.0.1", int(os.environ["PORT"]), app, handler_class=Quiet).serve_forever()
"""

THEIR_ANONYMIZER = """
import anomed_anonymizer as anon

class PooledLogistic:
    '''A logistic regression on 7x7-pooled pixels: numpy only, (N, 2) probabilities.'''
    def fit(self, X, y):
        F = self._features(X)
        self.mu, self.sd = F.mean(0), F.std(0) + 1e-6
        F = (F - self.mu) / self.sd
        w, b = np.zeros(F.shape[1]), 0.0
        t = y.astype(float)
        for _ in range(300):
            p = 1 / (1 + np.exp(-(F @ w + b)))
            w -= 0.1 * F.T @ (p - t) / len(t)
            b -= 0.1 * np.mean(p - t)
        self.w, self.b = w, b
    def _features(self, X):
        X = X.astype(np.float32) / 255.0
        return X.reshape(len(X), 4, 7, 4, 7).mean((2, 4)).reshape(len(X), -1)
    def predict(self, X):
        p = 1 / (1 + np.exp(-(((self._features(X) - self.mu) / self.sd) @ self.w + self.b)))
        return np.stack([1 - p, p], 1).astype(np.float32)

def validate(X):
    if X.ndim != 4 or X.shape[1:] != (1, 28, 28):
        raise ValueError("expected (N, 1, 28, 28)")

ch = os.environ["CHALLENGE"]
app = anon.supervised_learning_anonymizer_server_factory(
    anonymizer_identifier="anomed-logistic",
    anonymizer_obj=anon.WrappedAnonymizer(PooledLogistic(), serializer=anon.pickle_anonymizer,
                                         feature_array_validator=validate),
    model_filepath=os.path.join(os.environ["WORK"], "anonymizer.pkl"), default_batch_size=64,
    training_data_url=ch + "/data/anonymizer/training",
    tuning_data_url=ch + "/data/anonymizer/tuning",
    validation_data_url=ch + "/data/anonymizer/validation",
    utility_evaluation_url=ch + "/utility/anonymizer",
    model_loader=anon.unpickle_anonymizer)
serve(app)
"""

THEIR_DEANONYMIZER = """
import anomed_deanonymizer as dean

class ConfidenceMIA(dean.SupervisedLearningMIA):
    '''Member when the target's confidence in the true label is above the midpoint of the
    members' and non-members' median confidences; the target is queried through their
    WebClassifier.'''
    def __init__(self, target_url):
        self.target = dean.WebClassifier(url=target_url, input_shape=(1, 28, 28), nb_classes=2)
    def _confidence(self, X, y):
        p = self.target.predict(X)
        return p[np.arange(len(y)), y.astype(int)]
    def fit(self, X_member, y_member, X_nonmember, y_nonmember):
        self.threshold = 0.5 * (np.median(self._confidence(X_member, y_member))
                                + np.median(self._confidence(X_nonmember, y_nonmember)))
    def infer_memberships(self, X, y, batch_size=None):
        return self._confidence(X, y) >= self.threshold
    def save(self, filepath):
        dean.pickle_deanonymizer(self, filepath)
    def validate_input(self, X):
        if X.ndim != 4:
            raise ValueError("expected (N, 1, S, S)")

ch = os.environ["CHALLENGE"]
app = dean.supervised_learning_MIA_server_factory(
    anonymizer_identifier="anomed-logistic", deanonymizer_identifier="anomed-confidence",
    deanonymizer_obj=ConfidenceMIA(os.environ["TARGET"] + "/predict"),
    model_filepath=os.path.join(os.environ["WORK"], "deanonymizer.pkl"), default_batch_size=64,
    member_url=ch + "/data/deanonymizer/members",
    nonmember_url=ch + "/data/deanonymizer/non-members",
    evaluation_data_url=ch + "/data/attack-success-evaluation",
    utility_evaluation_url=ch + "/utility/deanonymizer",
    model_loader=dean.unpickle_deanonymizer)
serve(app)
"""

THEIR_CHALLENGE = """
import anomed_challenge as challenge
from anomed_challenge import challenge_server

npz = os.environ["DATA"]
ch = challenge.SupervisedLearningMIAChallenge(
    training_data=challenge.NpzFromDisk(npz, X_label="X_train", y_label="y_train"),
    tuning_data=challenge.NpzFromDisk(npz, X_label="X_tuning", y_label="y_tuning"),
    validation_data=challenge.NpzFromDisk(npz, X_label="X_validation", y_label="y_validation"),
    anonymizer_evaluator=challenge.strict_binary_accuracy,
    MIA_evaluator=challenge.evaluate_MIA,
    MIA_evaluation_dataset_length=int(os.environ["MIA_LENGTH"]), seed=0)
serve(challenge_server.supervised_learning_MIA_challenge_server_factory(ch))
"""


@pytest.fixture
def scenario():
    from medpriv_widgets.arena.data import scenario_data
    from medpriv_widgets.arena.scenarios import get_scenario

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = scenario_data(get_scenario(SCENARIO))
        data.population, data.test
    return data


def test_their_anonymizer_and_deanonymizer_against_our_challenge(start, scenario, capsys):
    from medpriv_widgets.arena.anomed import ArenaChallenge, challenge_data, serve_challenge
    from medpriv_widgets.arena.anomed.web import post_json

    challenge = ArenaChallenge(challenge_data(scenario))
    with serve_challenge(challenge) as ours:
        anon = start("their_anonymizer", THEIR_ANONYMIZER, {"CHALLENGE": ours.url})
        assert "message" in post_json(anon + "/fit")
        for split in ("tuning", "validation"):
            answer = post_json(anon + "/evaluate", params={"data_split": split})
            ev = answer["evaluation"]
            assert 0.0 <= ev["accuracy"] <= 1.0 and 0.0 <= ev["auc"] <= 1.0, answer
        dean = start("their_deanonymizer", THEIR_DEANONYMIZER,
                     {"CHALLENGE": ours.url, "TARGET": anon})
        assert "message" in post_json(dean + "/fit")
        ev = post_json(dean + "/evaluate", params={"data_split": "validation"})["evaluation"]
    n, nonmembers = ev["n"], ev["n_nonmembers"]
    assert ev["tp"] + ev["fp"] + ev["tn"] + ev["fn"] == n
    assert ev["fpr"] == pytest.approx(ev["fp"] / n)                      # AnoMed's fp / n
    assert ev["fpr_standard"] == pytest.approx(ev["fp"] / (ev["fp"] + ev["tn"]))
    assert ev["fpr_standard"] == pytest.approx(ev["fpr"] * n / nonmembers)
    # our challenge kept every evaluation (AnoMed's posts placeholder numbers instead)
    kinds = [e["kind"] for e in challenge.evaluations]
    assert kinds == ["anonymizer", "anonymizer", "deanonymizer"]
    with capsys.disabled():
        print(f"\n[AnoMed → our challenge] their attack: TPR {ev['tpr']:.3f}, AnoMed FPR (fp/n) "
              f"{ev['fpr']:.3f}, standard FPR (fp/(fp+tn)) {ev['fpr_standard']:.3f}, n = {n}")


class _Platform:
    """Stands in for the AnoMed platform their challenge posts its (placeholder) numbers to."""

    def __init__(self) -> None:
        from medpriv_widgets.arena.anomed.web import App, json_response, serve

        self.received: list[tuple[str, dict]] = []

        def keep(req):
            self.received.append((req.path, json.loads(req.body or b"{}")))
            return json_response({"ok": True}, 201)

        self.server = serve(App({("POST", "/submissions/anonymizer-evaluation-results"): keep,
                                 ("POST", "/submissions/deanonymizer-evaluation-results"): keep}))


def test_our_anonymizer_and_lira_against_their_challenge(start, scenario, tmp_path, capsys):
    from medpriv_widgets.arena.anomed import (ArenaAnonymizer, LiraDeanonymizer, challenge_data,
                                              serve_anonymizer, serve_deanonymizer)
    from medpriv_widgets.arena.anomed.web import post_json
    from medpriv_widgets.cache import ResultStore

    d = challenge_data(scenario)
    npz = tmp_path / "scenario.npz"
    np.savez_compressed(npz, X_train=d.training[0], y_train=d.training[1],
                        X_tuning=d.tuning[0], y_tuning=d.tuning[1],
                        X_validation=d.validation[0], y_validation=d.validation[1])
    assert d.training[0].dtype == np.uint8  # X-rays travel as uint8
    # their MIA data: half of each split, halved again for tuning / validation
    length = min(len(d.training[1]), len(d.validation[1])) // 4
    platform = _Platform()
    try:
        theirs = start("their_challenge", THEIR_CHALLENGE,
                       {"DATA": str(npz), "MIA_LENGTH": str(length),
                        "ANOMED_HOST": f"127.0.0.1:{platform.server.port}"})
        store = ResultStore(tmp_path / "cache")
        anonymizer = ArenaAnonymizer("dpsgd-eps8", scenario=SCENARIO, cache=store)
        lira = LiraDeanonymizer(scenario=SCENARIO, n_shadows=4, epochs=10)
        with serve_anonymizer(anonymizer, challenge_url=theirs,
                              anonymizer_id="arena-dpsgd") as anon:
            assert "message" in post_json(anon.url + "/fit")
            for split in ("tuning", "validation"):
                ev = post_json(anon.url + "/evaluate", params={"data_split": split})["evaluation"]
                # their strict accuracy accepted our labels (same dtype and shape as y)
                assert set(ev) == {"accuracy"} and 0.0 <= ev["accuracy"] <= 1.0
            with serve_deanonymizer(lira, challenge_url=theirs, target_url=anon.url,
                                    anonymizer_id="arena-dpsgd") as dean:
                assert "message" in post_json(dean.url + "/fit")
                ev = post_json(dean.url + "/evaluate",
                               params={"data_split": "validation"})["evaluation"]
        assert set(ev) == {"acc", "tpr", "fpr"}, ev   # AnoMed's evaluate_MIA: booleans only
        n = 2 * length
        fp = ev["fpr"] * n                               # their fpr is fp / n ...
        assert fp == pytest.approx(round(fp))
        standard = round(fp) / length                    # ... the standard one fp / (fp + tn)
        assert 0.0 <= standard <= 1.0 and standard == pytest.approx(2 * ev["fpr"])
        # their challenge posted placeholder numbers to the platform, not the evaluation
        posted = dict(platform.received)
        assert posted["/submissions/deanonymizer-evaluation-results"]["fpr"] == 0.5
    finally:
        platform.server.close()
    with capsys.disabled():
        print(f"\n[our parts → AnoMed challenge] LiRA (offline, α = 0.01) vs DP-SGD ε = 8: "
              f"TPR {ev['tpr']:.3f}, AnoMed FPR (fp/n) {ev['fpr']:.3f}, standard FPR "
              f"{standard:.3f}, n = {n}")
