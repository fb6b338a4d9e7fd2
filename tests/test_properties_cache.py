"""Cache keys and namespaces with generated inputs (issue 15, items 4-5).

- Keys: two configs share a key exactly when they are equal *with their types*: {1: 'a'} and
  {'1': 'a'}, nan and 'nan', True and 1, 1 and 1.0 never do; dict order, tuple vs list, -0.0
  vs 0.0 and one NaN vs another never matter.
- Namespaces: one plain folder name, or a sentence; an accepted one stays inside the root.
- Another version's entry: a miss, computed again.
"""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medpriv_widgets import __version__
from medpriv_widgets.cache import ResultCache, check_namespace, config_key
from medpriv_widgets.errors import InvalidParameterError

PROPS = settings(database=None, deadline=None, max_examples=300)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                    st.sampled_from(["nan", "inf", "1", "1.0", "True", "None"]))
keys = st.one_of(st.integers(-3, 3), st.text(max_size=3), st.sampled_from(["1", "nan", "True"]),
                 st.booleans(), st.none(), st.floats(allow_nan=False, max_value=3, min_value=-3))
configs = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner),
    st.dictionaries(keys, inner, max_size=3)), max_leaves=8)


def same(a, b) -> bool:
    """Equality that also compares types (the reference the keys must follow)."""
    def kind(v):
        if v is None:
            return "none"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int):
            return "int"
        if isinstance(v, float):
            return "float"
        if isinstance(v, str):
            return "str"
        if isinstance(v, (list, tuple)):
            return "list"
        return "dict"

    if kind(a) != kind(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        unmatched = list(b.items())
        for ka, va in a.items():
            for i, (kb, vb) in enumerate(unmatched):
                if same(ka, kb) and same(va, vb):
                    del unmatched[i]
                    break
            else:
                return False
        return True
    return a == b


@PROPS
@given(configs, configs)
def test_keys_collide_exactly_when_configs_are_equal_with_types(a, b):
    assert (config_key({"c": a}) == config_key({"c": b})) == same(a, b)


@PROPS
@given(configs)
def test_keys_ignore_order_tuple_or_list_and_sign_of_zero(a):
    def rebuilt(v):
        if isinstance(v, dict):
            return dict(reversed([(k, rebuilt(x)) for k, x in v.items()]))
        if isinstance(v, tuple):
            return [rebuilt(x) for x in v]
        if isinstance(v, list):
            return tuple(rebuilt(x) for x in v)
        if isinstance(v, float) and v == 0:
            return -v
        return v

    assert config_key({"c": a}) == config_key({"c": rebuilt(a)})


def test_the_audits_collisions_are_gone():
    assert config_key({1: "a"}) != config_key({"1": "a"})
    assert config_key({"x": float("nan")}) != config_key({"x": "nan"})
    assert config_key({"x": True}) != config_key({"x": 1})
    assert config_key({"x": float("nan")}) == config_key({"x": float("nan")})


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@PROPS
@given(st.one_of(st.text(max_size=12), st.sampled_from(["", ".", "..", "../x", "a/b", "a\\b",
                                                         "x/..", "ok", "a..b", "/abs", "~"])))
def test_namespaces_are_one_plain_folder_inside_the_root(tmp_path_factory, name):
    root = tmp_path_factory.getbasetemp() / "cache-root"
    valid = bool(_PLAIN.fullmatch(name)) and ".." not in name
    if not valid:
        with pytest.raises(InvalidParameterError, match="namespace"):
            check_namespace(name)
        return
    cache = ResultCache(name, root=root)
    assert cache.directory.resolve().parent == root.resolve()


def test_an_entry_of_another_version_is_computed_again(tmp_path):
    cache = ResultCache("demo", root=tmp_path)
    entry = cache.put({"k": 1}, "old")
    meta = json.loads((entry / "meta.json").read_text())
    meta["version"] = "0.0.0"
    (entry / "meta.json").write_text(json.dumps(meta))
    assert cache.get({"k": 1}) is None
    assert {"k": 1} not in cache  # "in" agrees with get: not counted as ready
    assert cache.get_or_compute({"k": 1}, lambda: "new") == "new"
    assert json.loads((entry / "meta.json").read_text())["version"] == __version__
    assert {"k": 1} in cache
