"""The registry agrees with the provenance notes, and URLs are built as documented."""

from __future__ import annotations

import re

import pytest

from medpriv_widgets.data import OFFICIAL, STAND_INS, file_md5
from medpriv_widgets.data.registry import ZENODO_BASE_URL, entry_for_md5, url_for


def test_official_md5s_and_urls_match_provenance(shared_data):
    text = (shared_data / "PROVENANCE.md").read_text()
    for size, entry in OFFICIAL.items():
        # Table row: | PneumoniaMNIST | 64 | https://...pneumoniamnist_64.npz?download=1 | `md5` |
        row = re.search(rf"\| PneumoniaMNIST \| {size} \| (\S+) .*?\| `([0-9a-f]{{32}})` \|", text)
        assert row, f"no provenance row for size {size}"
        assert row.group(2) == entry.md5
        assert row.group(1) == url_for(entry, base=ZENODO_BASE_URL)


def test_stand_in_md5s_match_provenance_and_files(shared_data):
    text = (shared_data / "PROVENANCE.md").read_text()
    for entry in STAND_INS.values():
        assert f"| `{entry.filename}` | `{entry.md5}` |" in text
        assert file_md5(shared_data / entry.filename) == entry.md5
        assert not entry.official and "not official" in entry.kind
    assert file_md5(shared_data / "pneumoniamnist.npz") == OFFICIAL[28].md5


def test_url_override(monkeypatch):
    monkeypatch.setenv("MEDPRIV_DATA_URL", "http://127.0.0.1:8000/mirror/")
    assert url_for(OFFICIAL[64]) == "http://127.0.0.1:8000/mirror/pneumoniamnist_64.npz"
    monkeypatch.delenv("MEDPRIV_DATA_URL")
    assert url_for(OFFICIAL[28]).endswith("/pneumoniamnist.npz?download=1")


@pytest.mark.parametrize("entry", list(OFFICIAL.values()) + list(STAND_INS.values()))
def test_md5_lookup(entry):
    assert entry_for_md5(entry.md5) is entry
    assert entry_for_md5("0" * 32) is None


def test_md5_cache_sees_changes(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"a" * 10)
    first = file_md5(f)
    f.write_bytes(b"b" * 11)
    assert file_md5(f) != first


def test_md5_same_size_rewrite_is_seen(tmp_path):
    f = tmp_path / "g.bin"
    f.write_bytes(b"a" * 10)
    first = file_md5(f)
    f.write_bytes(b"b" * 10)  # same size, possibly the same mtime tick
    assert file_md5(f) != first
