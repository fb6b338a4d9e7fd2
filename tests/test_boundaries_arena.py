"""Bad input to the arena's public functions gets a typed error with a sentence (issue 15).

One or a few representative bad values per entry point that the fuzz
(tests/test_fuzz_entry_points.py) found raising raw Python errors, and a valid call where it
is cheap, so the checks do not refuse what the arena itself passes.
"""

from __future__ import annotations

import io
import math
import pickle
import re
import zipfile

import numpy as np
import pytest

from medpriv_widgets.arena.anomed import serve as anomed_serve
from medpriv_widgets.arena.anomed import web, wire
from medpriv_widgets.arena.anomed.challenge import challenge_data
from medpriv_widgets.arena.anomed.deanonymizer import target_probability
from medpriv_widgets.arena.leaderboard import Leaderboard
from medpriv_widgets.arena.scoring import audited_epsilon, membership_fields, resolved
from medpriv_widgets.arena.submissions import attack_split, logit_scores
from medpriv_widgets.arena.update_attack import attacked_members
from medpriv_widgets.arena.views import heatmap, pareto_points
from medpriv_widgets.errors import InvalidParameterError, MedprivError, ProtocolError
from medpriv_widgets.explain.arena import ranking_statement


_ACTION = re.compile(r"\b(must|needs?|use|choose|give|run|check|send|split|apply|score|set|"
                     r"try)\b", re.IGNORECASE)


def _is_sentence(message: str) -> bool:
    """Says what is required or what to do, and ends like a sentence."""
    text = message.strip()
    return len(text) >= 20 and text.endswith(".") and bool(_ACTION.search(text))


def _raises(error: type[MedprivError], fn, *args, **kwargs) -> str:
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert _is_sentence(message), message
    return message


# ------------------------------------------------------------------------------ scoring
def _membership(n: int = 200):
    rng = np.random.default_rng(0)
    member = np.arange(n) % 2 == 0
    return rng.normal(size=n) + member, member


@pytest.mark.parametrize("kwargs, names", [
    (dict(scores=["a", "b"], is_member=[True, False]), "`scores`"),
    (dict(scores=[[1.0], [1.0, 2.0]], is_member=[True, False]), "`scores`"),
    (dict(scores=[math.nan, 1.0], is_member=[True, False]), "`scores`"),
    (dict(scores=[1.0, 2.0], is_member=[2, 0]), "`is_member`"),
    (dict(scores=[1.0, 2.0, 3.0], is_member=[True, False]), "same length"),
    (dict(scores=[1.0, 2.0], is_member=[True, True]), "both members and non-members"),
    (dict(scores=[1.0, 2.0], is_member=[True, False], delta=math.nan), "`delta`"),
    (dict(scores=[1.0, 2.0], is_member=[True, False], delta="1e-5"), "`delta`"),
])
@pytest.mark.parametrize("fn", [audited_epsilon, membership_fields])
def test_scoring_refuses_bad_membership_input(fn, kwargs, names):
    kwargs = {"delta": 1e-5, **kwargs}
    assert names in _raises(InvalidParameterError, fn, **kwargs)


def test_scoring_still_scores_valid_input():
    scores, member = _membership()
    assert audited_epsilon(scores=scores, is_member=member, delta=1e-5) >= 0.0
    fields = membership_fields(scores=scores, is_member=member.astype(int), delta=1e-5)
    assert fields["n_members"] == 100 and 0.5 < fields["mia_auc"] <= 1.0


@pytest.mark.parametrize("n, fpr", [(math.nan, 0.01), (10, math.nan), (-1, 0.01), (10, 2.0),
                                    ("10", 0.01)])
def test_resolved_refuses_bad_counts_and_rates(n, fpr):
    _raises(InvalidParameterError, resolved, n, fpr)


def test_resolved_still_counts():
    assert resolved(1000, 0.001) and not resolved(999, 0.001)


# ------------------------------------------------------------------------------ submissions
@pytest.mark.parametrize("p, labels, names", [
    ([0.2, 0.9], [], "equal length"),
    (["x", "y"], [0, 1], "`p_pneumonia`"),
    ([0.2, math.nan], [0, 1], "`p_pneumonia`"),
    ([0.2, 1.5], [0, 1], "probabilities"),
    ([[0.2, 0.9]], [0, 1], "`p_pneumonia`"),
    ([0.2, 0.9], [0, 2], "`labels`"),
])
def test_logit_scores_refuses_bad_input(p, labels, names):
    assert names in _raises(InvalidParameterError, logit_scores, p, labels)


def test_logit_scores_still_scores():
    s = logit_scores(np.array([0.9, 0.9]), np.array([1, 0]))
    assert s.shape == (2, 1) and s[0, 0] > 0 > s[1, 0]


@pytest.mark.parametrize("fn", [attack_split, challenge_data,
                                lambda data: attacked_members(data, 8)])
@pytest.mark.parametrize("data", [None, "pneumonia-28", np.float64(1.0)])
def test_scenario_functions_refuse_what_is_not_scenario_data(fn, data):
    assert "ScenarioData" in _raises(InvalidParameterError, fn, data)


@pytest.mark.parametrize("n", [0, -1, 2.5, math.nan, "8"])
def test_attacked_members_refuses_bad_counts_before_loading(n):
    from medpriv_widgets.arena.data import scenario_data
    from medpriv_widgets.arena.scenarios import get_scenario

    data = scenario_data(get_scenario("pneumonia-28"))  # lazy: nothing is loaded for this
    assert "`n`" in _raises(InvalidParameterError, attacked_members, data, n)


# ------------------------------------------------------------------------------ views
@pytest.mark.parametrize("kwargs", [
    dict(results=np.float64(1.0)), dict(results="abc"), dict(results=[1.0]),
    dict(results=[], defences="none"), dict(results=[], attacks=[1, 2]),
])
def test_heatmap_refuses_what_is_not_results(kwargs):
    _raises(InvalidParameterError, heatmap, **kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(results=np.float64(1.0)), dict(results=[None]), dict(results=[], attack=3),
])
def test_pareto_points_refuses_what_is_not_results(kwargs):
    _raises(InvalidParameterError, pareto_points, **kwargs)


def test_views_still_take_an_empty_board():
    assert pareto_points([]) == []
    assert heatmap([], defences=["none"], attacks=("lira",)).values.shape == (1, 1)


# ------------------------------------------------------------------------------ leaderboard
@pytest.mark.parametrize("path", [3, None, "", "x" * 300])
def test_leaderboard_refuses_unusable_paths(tmp_path, path):
    if isinstance(path, str) and path:
        path = str(tmp_path / path)
    _raises(InvalidParameterError, Leaderboard, path)


def test_leaderboard_refuses_a_folder_and_opens_a_file(tmp_path):
    assert "folder" in _raises(InvalidParameterError, Leaderboard, tmp_path)
    Leaderboard(tmp_path / "board.sqlite")


# ------------------------------------------------------------------------------ explain
_RANKING = dict(best_defence="dpsgd-eps8", best_utility=0.85, best_risk=0.1,
                baseline_utility=0.9, baseline_risk=0.6)


@pytest.mark.parametrize("name, value", [
    ("best_defence", ""), ("best_defence", 3), ("best_utility", "a"), ("best_risk", math.nan),
    ("baseline_utility", 1.5), ("baseline_risk", -0.1), ("best_risk", True),
])
def test_ranking_statement_refuses_bad_numbers(name, value):
    assert f"`{name}`" in _raises(InvalidParameterError, ranking_statement,
                                  **{**_RANKING, name: value})


def test_ranking_statement_still_speaks():
    assert "dpsgd-eps8" in ranking_statement(**_RANKING).text


# ------------------------------------------------------------------------------ AnoMed wire
@pytest.mark.parametrize("arrays", ["abc", [np.zeros(2)], {"": np.zeros(2)},
                                    {"file": np.zeros(2)}, {3: np.zeros(2)}])
def test_arrays_to_bytes_refuses_what_is_not_named_arrays(arrays):
    _raises(InvalidParameterError, wire.arrays_to_bytes, arrays)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("data, error", [
    ("abc", InvalidParameterError), (None, InvalidParameterError), (b"", ProtocolError),
    (b"not a zip", ProtocolError), (b"PK\x03\x04 broken", ProtocolError),
    (pickle.dumps({"X": [1, 2]}), ProtocolError), (_npy(np.zeros(3)), ProtocolError),
])
def test_bytes_to_arrays_refuses_what_is_not_a_payload(data, error):
    _raises(error, wire.bytes_to_arrays, data)


def test_bytes_to_arrays_refuses_a_header_that_declares_more_than_it_holds():
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        npy, {"descr": "|u1", "fortran_order": False, "shape": (10**6, 10**6)})
    npy.write(b"\0" * 16)
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w", zipfile.ZIP_STORED) as z:
        z.writestr("X.npy", npy.getvalue())
    assert "declares" in _raises(ProtocolError, wire.bytes_to_arrays, payload.getvalue())


def test_wire_round_trip_still_works():
    X = np.arange(12, dtype=np.uint8).reshape(3, 1, 2, 2)
    back = wire.bytes_to_arrays(wire.arrays_to_bytes({"X": X, "y": np.array([0, 1, 1])}),
                                expected=("X", "y"))
    np.testing.assert_array_equal(back["X"], X)
    _raises(InvalidParameterError, wire.bytes_to_arrays, wire.arrays_to_bytes({"X": X}),
            expected="X")


@pytest.mark.parametrize("images", ["x", [["a"]], np.zeros((2, 3)), np.zeros((2, 3, 4, 4)),
                                    np.full((1, 1, 2, 2), math.nan), [[[0.1], [0.2, 0.3]]]])
def test_images_to_uint8_refuses_what_is_not_xrays(images):
    _raises(InvalidParameterError, wire.images_to_uint8, images)


def test_images_to_uint8_still_converts():
    out = wire.images_to_uint8(np.array([[[[0.0, 0.5], [1.0, 1.02]]]]))
    assert out.dtype == np.uint8 and out.ravel().tolist() == [0, 128, 255, 255]


@pytest.mark.parametrize("prediction", ["x", [[0.1], [0.2, 0.3]], [0.2, math.nan],
                                        [[0.1, 0.2, 0.7]], [1.5, 0.2]])
def test_target_probability_refuses_what_is_not_probabilities(prediction):
    _raises(InvalidParameterError, target_probability, prediction)


def test_target_probability_still_reads_both_shapes():
    np.testing.assert_allclose(target_probability([[0.3, 0.7], [0.9, 0.1]]), [0.7, 0.1])
    np.testing.assert_allclose(target_probability(np.array([0.7, 0.1])), [0.7, 0.1])


# ------------------------------------------------------------------------------ AnoMed web
@pytest.mark.parametrize("routes", ["abc", [("GET", "/")], {"/": print},
                                    {("GET", "/"): "not a function"}, {("PUT", "/"): print}])
def test_app_refuses_routes_it_cannot_serve(routes):
    _raises(InvalidParameterError, web.App, routes)


@pytest.mark.parametrize("kwargs", [
    dict(url=""), dict(url=3), dict(url="ftp://x/"), dict(url="http://[::1"),
    dict(url="http://127.0.0.1:99999/"), dict(url="http://127.0.0.1:1/", params="a=b"),
    dict(url="http://127.0.0.1:1/", timeout=math.nan),
    dict(url="http://127.0.0.1:1/", timeout=-1.0),
])
@pytest.mark.parametrize("fn", [web.get_json, web.get_arrays, web.post, web.post_json,
                                web.post_arrays])
def test_clients_refuse_bad_addresses_before_connecting(fn, kwargs):
    _raises(InvalidParameterError, fn, **kwargs)


@pytest.mark.parametrize("fn", [web.get_arrays, web.post_arrays])
def test_array_clients_refuse_a_single_expected_name(fn):
    _raises(InvalidParameterError, fn, "http://127.0.0.1:1/", expected="X")


def test_clients_name_an_answer_that_is_not_what_they_read():
    app = web.App({("GET", "/"): lambda req: web.Response(200, b"<html>", "text/html"),
                   ("POST", "/"): lambda req: web.Response(200, b"<html>", "text/html")})
    with web.serve(app) as server:
        assert "not JSON" in _raises(ProtocolError, web.get_json, server.url + "/")
        assert "not JSON" in _raises(ProtocolError, web.post_json, server.url + "/")
        _raises(ProtocolError, web.get_arrays, server.url + "/")
        _raises(ProtocolError, web.post_arrays, server.url + "/")


@pytest.mark.parametrize("argv", ["challenge", [], ["nonsense"], ["challenge", "--port", "x"],
                                  [3], ("challenge", None)])
def test_serve_main_refuses_arguments_without_exiting(argv):
    _raises(InvalidParameterError, anomed_serve.main, argv)
