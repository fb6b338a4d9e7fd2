"""``medpriv data status [--json]`` and ``medpriv data fetch`` end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from medpriv_widgets.cli import main
from medpriv_widgets.data import OFFICIAL, load_dataset
from medpriv_widgets.errors import ChecksumError


@pytest.fixture
def data_copy(shared_data, tmp_path, monkeypatch):
    """A writable copy of the 28 px file in a tmp MEDPRIV_DATA_DIR."""
    folder = tmp_path / "datadir"
    folder.mkdir()
    shutil.copy(shared_data / "pneumoniamnist.npz", folder / "pneumoniamnist.npz")
    monkeypatch.setenv("MEDPRIV_DATA_DIR", str(folder))
    return folder / "pneumoniamnist.npz"


def _status_json(capsys):
    assert main(["data", "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _row(rows, name):
    return [r for r in rows if r["name"] == name]


def test_status_json_verified_then_corrupt(data_copy, capsys):
    rows = _status_json(capsys)
    for r in rows:
        assert {"name", "size", "path", "verified"} <= set(r)
    (r28,) = _row(rows, "pneumoniamnist_28")
    assert r28["verified"] is True and r28["size"] == 28 and r28["path"] == str(data_copy)
    assert r28["official"] is True and r28["selected"] is True
    assert r28["bytes"] == data_copy.stat().st_size
    (r64,) = _row(rows, "pneumoniamnist_64")
    assert r64["verified"] is None and r64["path"] is None

    raw = bytearray(data_copy.read_bytes())
    raw[5000] ^= 0xFF
    data_copy.write_bytes(bytes(raw))
    rows = _status_json(capsys)
    (r28,) = _row(rows, "pneumoniamnist_28")
    assert r28["verified"] is False and r28["selected"] is False
    with pytest.raises(ChecksumError, match="pneumoniamnist.npz"):
        load_dataset(size=28, split="train")


def test_status_table_reports_stand_ins(shared_data, capsys):
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert "kermany_cxr_64" in out and "development stand-in, not official" in out
    assert "pneumoniamnist_28 *" in out  # the file load_dataset uses


def test_status_without_any_data(no_data_dir, capsys):
    rows = _status_json(capsys)
    assert all(r["verified"] is None and r["path"] is None for r in rows)
    assert {r["size"] for r in rows} == {28, 64, 128}
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert "not found" in out and "missing" not in out
    # ... and what to do about it.
    assert "Next step: `medpriv data fetch --size 28 64 128`" in out
    assert "SYNTHETIC" in out and "MEDPRIV_DATA_DIR" in out


def test_status_names_only_the_sizes_that_still_need_a_file(data_copy, capsys):
    assert main(["data", "status"]) == 0  # only the 28 px file is there
    out = capsys.readouterr().out
    assert "Next step: `medpriv data fetch --size 64 128`" in out
    assert "No usable file for 64 px, 128 px" in out


@pytest.mark.parametrize("flag", [["--json"], []])
def test_status_into_a_closed_pipe_ends_quietly(shared_data, flag):
    """`medpriv data status --json | head -c 5`: the reader leaves early; no traceback."""
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "medpriv_widgets.cli", "data", "status", *flag],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # as `head` does once it has read enough
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


def test_fetch_downloads_and_verifies(shared_data, file_server, tmp_path, monkeypatch, capsys):
    folder, url = file_server
    shutil.copy(shared_data / "pneumoniamnist.npz", folder / "pneumoniamnist.npz")
    monkeypatch.delenv("MEDPRIV_OFFLINE")
    monkeypatch.delenv("MEDPRIV_DATA_DIR")
    assert main(["data", "fetch", "--size", "28", "--base-url", url, "--quiet"]) == 0
    assert "verified" in capsys.readouterr().out
    assert (tmp_path / "downloads" / "pneumoniamnist.npz").is_file()
    rows = _status_json(capsys)
    (r28,) = _row(rows, "pneumoniamnist_28")
    assert r28["verified"] is True and r28["place"] == "download cache"


def test_fetch_failure_exits_nonzero_per_size(shared_data, file_server, tmp_path, monkeypatch,
                                              capsys):
    folder, url = file_server
    bad = folder / "pneumoniamnist.npz"
    shutil.copy(shared_data / "pneumoniamnist.npz", bad)
    raw = bytearray(bad.read_bytes())
    raw[-100] ^= 0xFF
    bad.write_bytes(bytes(raw))
    monkeypatch.delenv("MEDPRIV_OFFLINE")
    monkeypatch.delenv("MEDPRIV_DATA_DIR")
    monkeypatch.setenv("MEDPRIV_DATA_URL", url)
    assert main(["data", "fetch", "--size", "28", "64", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "28 px: FAILED" in err and OFFICIAL[28].md5 in err
    assert "64 px: FAILED" in err and "404" in err
    downloads = tmp_path / "downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []


def test_fetch_offline_is_refused(no_data_dir, capsys):
    assert main(["data", "fetch", "--size", "28"]) == 1
    assert "MEDPRIV_OFFLINE" in capsys.readouterr().err


def test_console_entry_point_json(shared_data):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "medpriv_widgets.cli", "data", "status", "--json"],
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    rows = json.loads(out.stdout)
    assert _row(rows, "pneumoniamnist_28")[0]["verified"] is True
