"""Each lesson's printed verdicts agree with the sentences around them (MEDPRIV_FAST=1, the real
28 px file when present).

Every lesson runs top to bottom in a fresh kernel, with one cell appended that prints what its
widgets show (titles, status lines, slider positions), so a test reads the lesson as a reader
does: the numbers and the words that depend on them.
"""

from __future__ import annotations

import os
import re

import nbformat
import pytest

from medpriv_widgets.bench.lessons import notebooks_dir

pytestmark = pytest.mark.slow

_MARK = "MEDPRIV-VERDICTS"


def run_lesson(name: str, probe: str, *, env: dict) -> tuple[str, str]:
    """(everything the lesson printed, what the appended ``probe`` cell printed)."""
    from nbclient import NotebookClient

    nb = nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"print({_MARK!r})\n{probe}"))
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(notebooks_dir())}}).execute(env=env)
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            data = out.get("data", {})
            texts.append(out.get("text", "") + data.get("text/html", data.get("text/plain", "")))
            assert "Traceback" not in texts[-1], texts[-1]
    text = "\n".join(texts)
    lesson, _, probed = text.partition(_MARK)
    return lesson, probed


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory, shared_data_dir):
    # A fixture, not ``from conftest import``: with tests/browser on sys.path too, "conftest"
    # can name the browser tests' module.
    data = shared_data_dir
    if data is None:
        pytest.skip("../shared/data (the chest X-ray test files) is not present; the verdicts "
                    "are checked on the real 28 px file.")
    root = tmp_path_factory.mktemp("verdicts")
    env = dict(os.environ, MEDPRIV_FAST="1", MEDPRIV_OFFLINE="1", MEDPRIV_DATA_DIR=str(data),
               MEDPRIV_CACHE_DIR=str(root / "cache"), MEDPRIV_LEDGER_DIR=str(root / "ledgers"),
               MEDPRIV_DOWNLOAD_DIR=str(root / "downloads"))
    return env


def test_lesson_00_slider_and_caption_name_the_same_pair(kernel_env):
    text, probed = run_lesson("00_start_here", "print(gallery.slider.value, gallery.index)\n"
                              "print(gallery.caption.value)", env=kernel_env)
    assert "The gallery now shows pair 6 at 64 px" in text
    assert probed.split()[0:2] == ["6", "5"] and "pair 6 of" in probed
    assert re.search(r"Loaded 624 test images of 28 × 28 pixels: \d+ normal, \d+ pneumonia", text)
    assert "SyntheticDataWarning" not in text


def test_lesson_02_attack_budget_and_survey(kernel_env):
    text, probed = run_lesson(
        "02_differential_privacy_basics",
        "print(counting.fig.layout.title.text)\n"
        "print('survey n', survey.n_slider.value, survey.survey.answers.size)\n"
        "print('budget', budget.ledger.locked, budget.bar.value, budget.ask_button.disabled)",
        env=kernel_env)
    # "At small ε the attacker is barely better than a coin flip (50 %); at ε = 5 the noise is
    # so small that the diagnosis leaks again" — and never above the guarantee.
    rows = {float(e): (int(a), float(g)) for e, a, g in
            re.findall(r"^\s*([0-9.]+)\s+(\d+)%\s+([0-9.]+)%$", text, re.M)}
    assert set(rows) == {0.1, 0.5, 1.0, 2.0, 5.0}, text
    assert 35 <= rows[0.1][0] <= 65 and rows[5.0][0] >= 80
    assert all(a <= g + 3 for a, g in rows.values())  # 300 trials: a few points of noise
    # The counting figure at ε = 0.2 says the answers overlap, which they then do.
    assert "ε = 0.2:" in probed and "overlap a lot" in probed
    # The survey widget shows the 1,000 students the lesson printed, slider included.
    assert "survey n 1000 1000" in probed
    spreads = [float(x) for x in re.findall(r"spread ±([0-9.]+) percentage points", text)]
    assert len(spreads) == 2 and spreads[1] < spreads[0]
    # The steward's ledger: three answers, an oversized request refused without locking, the
    # last of the budget spent and the dataset locked; then refused in words.
    steward = re.findall(r"^ε = ([0-9.]+): (answered|REFUSED)", text, re.M)
    assert [v for _, v in steward] == ["answered"] * 3 + ["REFUSED", "answered", "REFUSED"]
    assert "stays open" in text and "The budget is used up: LOCKED." in text
    assert "is locked: no further questions or training" in text
    # ... and the reader's own budget lab starts whole.
    assert "budget False 1.0 False" in probed


def test_lesson_03_reports_what_it_trained(kernel_env):
    text, probed = run_lesson(
        "03_private_training",
        "print(lab.result.epsilon, lab.config_for(8.0).target_epsilon)\n"
        "print(lab.setting.value)\nprint(lab.figure.layout.title.text)",
        env=kernel_env)
    assert "TrainConfig(" not in text  # no raw object in the lesson
    assert re.search(r"Not private \(ε = ∞\)\s+test AUC 0\.\d{3}", text)
    assert re.search(r"DP-SGD \(ε = [0-9.]+\)\s+test AUC 0\.\d{3}", text)
    spent, target = map(float, probed.split()[:2])
    assert 0 < spent <= target  # "the ε reported after training never exceeds the ε you chose"
    assert "for training" in probed and "X-rays of other children" in probed
    assert "computed on CPU (1 thread)" in probed or "GPU" in probed


def test_lessons_05_and_07_numbers_agree_with_their_sentences(kernel_env):
    text, probed = run_lesson(
        "05_membership_inference",
        "print('note:', lab.figure_note.value)\nprint('split:', lab.split.value)\n"
        "print('legend:', [t.name for t in lab.figure.data])\n"
        "print('ticks:', lab.figure.layout.xaxis.ticktext)", env=kernel_env)
    assert "split by patient" in text and "no patient is on both sides" in text
    found = re.search(r"not private: finds ([0-9.]+)% of members", text)
    assert found and float(found.group(1)) > 1.0  # the non-private model leaks
    private = re.search(r"ε = [0-9.]+: finds ([0-9.]+)% of members at 1% false accusations "
                        r"\(95% CI ([0-9.]+)%–([0-9.]+)%\); DP ceiling: ([0-9.]+)%", text)
    assert private, text
    low, ceiling = float(private.group(2)), float(private.group(4))
    assert low <= ceiling  # "the measured curve stays under the red ceiling, up to noise"
    assert "trace" not in probed.split("legend:")[1].split("\n")[0]
    ticks = probed.split("ticks:")[1].split("\n")[0]
    assert ticks.strip() == "('0.01%', '0.1%', '1%', '10%', '100%')", ticks  # not '100μ'

    text7, probed7 = run_lesson(
        "07_risk_utility_tradeoff",
        "print(dash.slider.value)\nprint(dash.recon_caption.value)\nprint(dash.message.value)",
        env=kernel_env)
    assert "Measured on this model" in text7 and "lesson 03 trains on about 5,000" in text7
    assert "Not computed" not in probed7
