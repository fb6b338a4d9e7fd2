"""The Binder environment (environment.yml) and the pip set-up (requirements.txt) pin the same
versions, so Binder users run what `make test` tested."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def _norm(name: str) -> str:
    """PEP 503 normalisation: 'Scikit_Image' and 'scikit-image' are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _base(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0': the local label only says which wheel index it came from."""
    return version.split("+", 1)[0]


def parse_requirements(text: str) -> dict[str, str]:
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = PIN.match(line)
        assert m, f"requirements.txt line is not an exact pin (name==version): {raw!r}"
        pins[_norm(m.group(1))] = m.group(2)
    return pins


def pip_lines_of_environment(text: str) -> list[str]:
    """The entries of the `- pip:` list in environment.yml (no YAML library needed)."""
    lines, inside, indent = [], False, None
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lead = len(raw) - len(raw.lstrip())
        if stripped in ("- pip:", "-pip:"):
            inside, indent = True, lead
            continue
        if inside:
            if lead <= indent:
                inside = False
                continue
            assert stripped.startswith("- "), f"unexpected line in the pip section: {raw!r}"
            lines.append(stripped[2:].split(" #", 1)[0].strip())
    return lines


def parse_environment(text: str) -> dict[str, str]:
    pins = {}
    for entry in pip_lines_of_environment(text):
        if entry.startswith("-"):
            continue  # options such as --extra-index-url
        m = PIN.match(entry)
        assert m, f"environment.yml pip entry is not an exact pin (name==version): {entry!r}"
        pins[_norm(m.group(1))] = m.group(2)
    return pins


@pytest.fixture(scope="module")
def requirement_pins() -> dict[str, str]:
    return parse_requirements((REPO / "requirements.txt").read_text())


@pytest.fixture(scope="module")
def environment_text() -> str:
    return (REPO / "environment.yml").read_text()


def test_parsers_read_what_they_should():
    # Guards the test itself: a parser that found nothing would make the comparisons vacuous.
    req = parse_requirements("# c\ntorch==2.13.0\nScikit_Image==0.26.0  # x\n")
    assert req == {"torch": "2.13.0", "scikit-image": "0.26.0"}
    env = parse_environment("dependencies:\n  - python=3.11\n  - pip:\n"
                            "      - --extra-index-url https://x\n      - torch==2.13.0+cpu\n"
                            "  - other\n")
    assert env == {"torch": "2.13.0+cpu"}


def test_requirements_are_exact_pins(requirement_pins):
    assert len(requirement_pins) >= 10
    assert "torch" in requirement_pins and "jupyterlab" in requirement_pins


def test_every_requirement_pin_is_in_environment_yml(requirement_pins, environment_text):
    env = parse_environment(environment_text)
    missing = sorted(set(requirement_pins) - set(env))
    assert not missing, f"pinned in requirements.txt but absent from environment.yml: {missing}"
    differ = {name: (version, env[name]) for name, version in requirement_pins.items()
              if _base(env[name]) != _base(version)}
    assert not differ, f"versions differ (requirements.txt, environment.yml): {differ}"


def test_every_environment_pin_is_in_requirements(requirement_pins, environment_text):
    env = parse_environment(environment_text)
    extra = sorted(set(env) - set(requirement_pins))
    assert not extra, f"pinned in environment.yml but absent from requirements.txt: {extra}"


def test_environment_yml_follows_binder_conventions(environment_text):
    deps = [line.strip() for line in environment_text.splitlines()]
    assert "- python=3.11" in deps
    pip = pip_lines_of_environment(environment_text)
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip
    torch_pin = parse_environment(environment_text)["torch"]
    assert torch_pin.endswith("+cpu"), "Binder has no GPU: pin the CPU wheel (torch==X+cpu)"
    # -r / -c / -e would make repo2docker copy the repo first and rebuild torch on every edit.
    for entry in pip:
        assert not re.match(r"^-(r|c|e)\b|^--(requirement|constraint|editable)\b", entry), entry


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_binder_scripts_are_executable(name):
    path = REPO / name
    assert path.is_file(), f"{name} is missing at the repository root"
    assert os.access(path, os.X_OK), f"{name} must be executable (chmod +x {name})"
    text = path.read_text()
    assert text.startswith("#!"), f"{name} needs a shebang line"
    if name == "start":
        assert text.rstrip().splitlines()[-1].strip() == 'exec "$@"'
    else:
        assert "set -e" in text
