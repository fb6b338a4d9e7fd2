"""Our side of the AnoMed protocol, without AnoMed's libraries: the wire format, the routes and
their errors, the challenge's data and judges, and a full round on 127.0.0.1 (our challenge,
our anonymizer serving a defence, our LiRA deanonymizer). The real AnoMed libraries are run
against these in tests/test_anomed_conformance.py."""

from __future__ import annotations

import io
import json
import urllib.request
import warnings

import numpy as np
import pytest

from medpriv_widgets.arena.anomed import (ArenaAnonymizer, ArenaChallenge, LiraDeanonymizer,
                                          challenge_data, serve_anonymizer, serve_challenge,
                                          serve_deanonymizer)
from medpriv_widgets.arena.anomed.web import (App, get_arrays, get_json, json_response, post,
                                              post_arrays, post_json, serve)
from medpriv_widgets.arena.anomed.wire import (arrays_to_bytes, bytes_to_arrays,
                                               images_from_wire, images_to_uint8)
from medpriv_widgets.errors import InvalidParameterError, ProtocolError

SMALL = "pneumonia-28-small"


@pytest.fixture
def data(shared_data):
    from medpriv_widgets.arena.data import scenario_data
    from medpriv_widgets.arena.scenarios import get_scenario

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = scenario_data(get_scenario(SMALL))
        d.population, d.test
    return d


def test_the_wire_format_is_savez_compressed_without_pickles():
    arrays = {"X": np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 1, 28, 28),
              "y": np.array([0, 1], np.uint8), "m": np.array([True, False])}
    back = bytes_to_arrays(arrays_to_bytes(arrays), expected=("X", "y"))
    assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in arrays.items())
    # the same bytes anomed_utils reads: np.load of np.savez_compressed
    with np.load(io.BytesIO(arrays_to_bytes(arrays))) as npz:
        assert sorted(npz.files) == ["X", "m", "y"]
    with pytest.raises(ProtocolError, match="lacks"):
        bytes_to_arrays(arrays_to_bytes({"X": arrays["X"]}), expected=("X", "y"))
    with pytest.raises(ProtocolError, match="not named numpy arrays"):
        bytes_to_arrays(b"garbage")
    buf = io.BytesIO()
    np.savez_compressed(buf, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ProtocolError):
        bytes_to_arrays(buf.getvalue())  # object arrays would need pickles: refused
    with pytest.raises(ProtocolError, match="objects"):
        arrays_to_bytes({"o": np.array([None], dtype=object)})


def test_images_travel_as_uint8():
    x = np.linspace(0, 1, 2 * 28 * 28, dtype=np.float32).reshape(2, 1, 28, 28)
    u = images_to_uint8(x)
    assert u.dtype == np.uint8 and np.abs(images_from_wire(u) - x).max() <= 0.5 / 255 + 1e-7
    with pytest.raises(ProtocolError, match="64×64"):
        images_from_wire(u, size=64)
    with pytest.raises(ProtocolError, match="uint8"):
        images_from_wire(u.astype(np.int32))
    with pytest.raises(ProtocolError, match="finite"):
        images_from_wire(np.full((1, 1, 4, 4), 2.0, np.float32))


def test_routes_answer_like_falcon():
    def boom(req):
        raise RuntimeError("broken")

    app = App({("GET", "/"): lambda r: json_response({"message": "alive"}),
               ("GET", "/need"): lambda r: json_response({"x": r.param("x", choices=("a",))}),
               ("POST", "/boom"): boom,
               ("POST", "/bad"): lambda r: (_ for _ in ()).throw(InvalidParameterError("no."))})
    with serve(app) as s:
        assert get_json(s.url + "/") == {"message": "alive"}
        assert get_json(s.url + "/need", params={"x": "a"}) == {"x": "a"}
        for call, code in ((lambda: get_json(s.url + "/need"), "400"),
                           (lambda: get_json(s.url + "/need", params={"x": "b"}), "400"),
                           (lambda: get_json(s.url + "/nowhere"), "404"),
                           (lambda: post(s.url + "/"), "405"),
                           (lambda: post(s.url + "/boom"), "500"),
                           (lambda: post(s.url + "/bad"), "400")):
            with pytest.raises(ProtocolError, match=f"answered {code}"):
                call()
        req = urllib.request.Request(s.url + "/nowhere")
        try:
            urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
            assert body["title"] == "404 Not Found" and "description" in body
    with pytest.raises(ProtocolError, match="could not be reached"):
        get_json(s.url + "/", timeout=5)


def test_the_challenge_splits_by_patient_and_hides_targets(data):
    d = challenge_data(data)
    assert all(a.dtype == np.uint8 for pair in (d.training, d.tuning, d.validation, d.members)
               for a in pair)
    ids = np.asarray(data.population.patient_ids)
    from medpriv_widgets.arena.submissions import attack_split

    split = attack_split(data)
    assert not set(ids[split["known_members"]]) & set(ids[split["eval_members"]])
    ch = ArenaChallenge(d)
    with serve_challenge(ch) as s:
        assert get_json(s.url + "/")["message"].startswith("Challenge server")
        train = get_arrays(s.url + "/data/anonymizer/training", expected=("X", "y"))
        assert train["X"].shape == d.training[0].shape and train["y"].dtype == np.uint8
        for split_name in ("tuning", "validation"):
            got = get_arrays(f"{s.url}/data/anonymizer/{split_name}", expected=("X", "y"))
            assert got["y"].size == 0  # targets withheld, as AnoMed's discard_targets
        params = {"anonymizer": "a", "deanonymizer": "b", "data_split": "tuning"}
        e1 = get_arrays(s.url + "/data/attack-success-evaluation", params=params)
        e2 = get_arrays(s.url + "/data/attack-success-evaluation", params=params)
        assert np.array_equal(e1["X"], e2["X"])  # the pair's names fix its X-rays
        assert len(e1["X"]) == 2 * min(len(d.eval_members[1]), len(d.eval_non_members[1])) // 2
        tuning = ch.mia_positions(anonymizer="a", deanonymizer="b", data_split="tuning")
        validation = ch.mia_positions(anonymizer="a", deanonymizer="b", data_split="validation")
        for part in (0, 1):  # tuning and validation never share an X-ray
            assert not set(tuning[part]) & set(validation[part])
        with pytest.raises(ProtocolError, match="data_split"):
            get_arrays(s.url + "/data/attack-success-evaluation",
                       params={**params, "data_split": "test"})


def test_the_deanonymizer_judge_reports_anomeds_fpr_and_the_standard_one(data):
    ch = ArenaChallenge(challenge_data(data))
    _, _, member = ch.mia_evaluation(anonymizer="a", deanonymizer="b", data_split="validation")
    guess = member.copy()
    guess[np.flatnonzero(~member)[:3]] = True          # 3 false accusations
    guess[np.flatnonzero(member)[:2]] = False          # 2 members missed
    with serve_challenge(ch) as s:
        ev = post_json(s.url + "/utility/deanonymizer", arrays={"prediction": guess},
                       params={"anonymizer": "a", "deanonymizer": "b",
                               "data_split": "validation"})
        n, neg = member.size, int((~member).sum())
        assert ev["fp"] == 3 and ev["fn"] == 2
        assert ev["fpr"] == pytest.approx(3 / n) and ev["fpr_standard"] == pytest.approx(3 / neg)
        assert "mia_auc" not in ev  # booleans alone have no ROC
        scores = member + np.random.default_rng(0).normal(scale=0.3, size=n)
        ev = post_json(s.url + "/utility/deanonymizer",
                       arrays={"prediction": scores > 0.5, "score": scores},
                       params={"anonymizer": "a", "deanonymizer": "b",
                               "data_split": "validation"})
        assert ev["mia_auc"] > 0.9 and ev["tpr_at_1pct_low"] <= ev["tpr_at_1pct"]
        assert ev["resolved_0_1pct"] is False
        with pytest.raises(ProtocolError, match="one membership per X-ray"):
            post(s.url + "/utility/deanonymizer", arrays={"prediction": guess[:-1]},
                 params={"anonymizer": "a", "deanonymizer": "b", "data_split": "validation"})
        with pytest.raises(ProtocolError, match="prediction"):
            post(s.url + "/utility/anonymizer", arrays={"guess": guess},
                 params={"data_split": "tuning"})
    assert [e["kind"] for e in ch.evaluations] == ["deanonymizer", "deanonymizer"]


def test_a_full_round_with_our_three_parts(data, tmp_path):
    from medpriv_widgets.cache import ResultStore

    ch = ArenaChallenge(challenge_data(data))
    anonymizer = ArenaAnonymizer("dpsgd-eps8", scenario=SMALL, cache=ResultStore(tmp_path))
    with pytest.raises(InvalidParameterError, match="not fitted"):
        anonymizer.predict_proba(ch.data.tuning[0])
    with serve_challenge(ch) as c, serve_anonymizer(anonymizer, challenge_url=c.url) as a:
        with pytest.raises(ProtocolError, match="503"):
            post(a.url + "/predict", arrays={"X": ch.data.tuning[0][:4]})
        assert "successfully" in post_json(a.url + "/fit")["message"]
        ev = post_json(a.url + "/evaluate", params={"data_split": "tuning"})["evaluation"]
        assert 0.5 < ev["auc"] <= 1.0 and ev["n"] == len(ch.data.tuning[1])
        proba = post_arrays(a.url + "/predict", arrays={"X": ch.data.tuning[0][:5]},
                            expected=("prediction",))["prediction"]
        assert proba.shape == (5, 2) and proba.dtype == np.float32
        assert np.allclose(proba.sum(1), 1, atol=1e-5)
        labels = post_arrays(a.url + "/predict", arrays={"X": ch.data.tuning[0][:5]},
                             params={"output": "labels"})["prediction"]
        assert labels.dtype == np.uint8 and set(labels) <= {0, 1}
        with pytest.raises(ProtocolError, match="400"):
            post(a.url + "/predict", arrays={"X": np.zeros((2, 1, 64, 64), np.uint8)})
        lira = LiraDeanonymizer(scenario=SMALL, n_shadows=4, epochs=5)
        with serve_deanonymizer(lira, challenge_url=c.url, target_url=a.url,
                                anonymizer_id="arena-anonymizer") as d:
            with pytest.raises(ProtocolError, match="not fitted"):
                post(d.url + "/evaluate", params={"data_split": "tuning"})
            assert "successfully" in post_json(d.url + "/fit")["message"]
            ev = post_json(d.url + "/evaluate", params={"data_split": "tuning"})["evaluation"]
    for key in ("acc", "tpr", "fpr", "fpr_standard", "mia_auc", "tpr_at_1pct", "epsilon_audited"):
        assert key in ev and 0.0 <= ev[key] <= max(1.0, ev[key])
    assert ev["fpr_standard"] == pytest.approx(ev["fpr"] * ev["n"] / ev["n_nonmembers"])
    kinds = [e["kind"] for e in ch.evaluations]
    assert kinds == ["anonymizer", "deanonymizer"]


def test_defences_that_are_not_one_training_run_cannot_be_anonymizers():
    with pytest.raises(InvalidParameterError, match="not one training run"):
        ArenaAnonymizer("fedavg", scenario=SMALL)
