"""Lesson 01 in a real browser, as a workshop attendee works it (MEDPRIV_FAST=1: the X-ray
network is trained small, inside Run All, into the session's temporary cache).

Run All; the linkage lab names patients; untick postcode and birth date → fewer names, untick the
last column → a sentence in place, tick one again → names come back; move the k slider → the
released table coarsens and nobody is named one-to-one, the homogeneity sentence shows; ask for
another anonymous X-ray → five archive X-rays, frame on the same patient when found; tick
"anonymise" → the query changes; no traceback anywhere.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

NOTEBOOK = "notebooks/01_anonymization_is_not_enough.ipynb"
LINK = ".medpriv-linkage"
KANON = ".medpriv-kanon"
REID = ".medpriv-reid"


def _box(column: str) -> str:
    return f"{LINK} .medpriv-linkage-col-{column} input[type=checkbox]"


def _named(summary: str) -> int:
    m = re.search(r"right name to ([\d,]+) of", summary)
    return int(m.group(1).replace(",", "")) if m else 0


def test_lesson_01_columns_k_and_xray_lookup(lab):
    page = lab.page
    lab.run_lesson(NOTEBOOK, timeout_s=360)
    assert "settings: FAST" in lab.output_text(), "MEDPRIV_FAST did not reach the kernel"

    # 1. Columns → names.
    summary = lab.text(f"{LINK} .medpriv-linkage-summary")
    named = _named(summary)
    assert named > 100, summary
    assert page.locator(f"{LINK} .medpriv-linkage-table td").count() > 0, "no names shown"
    lab.click(_box("postcode"))
    summary2 = lab.wait_text_changed(f"{LINK} .medpriv-linkage-summary", summary)
    lab.click(_box("birth_date"))
    summary3 = lab.wait_text_changed(f"{LINK} .medpriv-linkage-summary", summary2)
    assert _named(summary3) < named, (summary, summary3)
    lab.click(_box("sex"))            # nothing released any more
    lab.wait_text(f"{LINK} .medpriv-message", "at least one quasi-identifier")
    lab.click(_box("birth_date"))     # the lab keeps working
    lab.wait_text(f"{LINK} .medpriv-linkage-summary", "right name to")
    assert lab.text(f"{LINK} .medpriv-message") == ""

    # 2. k slider → generalisation, nobody named, homogeneity sentence.
    preview = lab.text(f"{KANON} .medpriv-kanon-preview")
    k_summary = lab.text(f"{KANON} .medpriv-kanon-summary")
    assert "released as recorded" in k_summary
    lab.press_slider(f"{KANON} .medpriv-kanon-k", "ArrowRight", times=4)
    k_summary2 = lab.wait_text_changed(f"{KANON} .medpriv-kanon-summary", k_summary,
                                       timeout_s=90)
    assert re.search(r"among at least [2-9]", k_summary2), k_summary2
    assert "rows named: 0.0%" in k_summary2, k_summary2
    assert lab.text(f"{KANON} .medpriv-kanon-preview") != preview
    assert "Homogeneity attack" in lab.text(f"{KANON} .medpriv-kanon-disclosed")
    lab.snap("lesson01_kanon", KANON)

    # 3. An anonymous X-ray → top-5 archive X-rays.
    lab.wait_text(f"{REID} .medpriv-reid-answer", "(Found|not among)", timeout_s=60)
    assert page.locator(f"{REID} .medpriv-reid-matches img").count() == 5
    answer = lab.text(f"{REID} .medpriv-reid-answer")
    same = page.locator(f"{REID} .medpriv-reid-same").count()
    assert (same > 0) == answer.startswith("Found"), (answer, same)
    query_before = page.locator(f"{REID} .medpriv-reid-query img").get_attribute("src")
    lab.click(f"{REID} .medpriv-reid-anonymise input[type=checkbox]")
    page.wait_for_function(
        """([sel, old]) => { const i = document.querySelector(sel);
                             return !!i && i.getAttribute('src') !== old; }""",
        arg=[f"{REID} .medpriv-reid-query img", query_before], timeout=60_000)
    matches_before = page.locator(f"{REID} .medpriv-reid-matches img").first.get_attribute("src")
    for _ in range(3):        # a new query can, rarely, have the same first neighbour
        lab.click(f"{REID} .medpriv-reid-next")
        try:
            page.wait_for_function(
                """([sel, old]) => { const i = document.querySelector(sel);
                                     return !!i && i.getAttribute('src') !== old; }""",
                arg=[f"{REID} .medpriv-reid-matches img", matches_before], timeout=20_000)
            break
        except Exception:
            continue
    else:
        pytest.fail("'Another anonymous X-ray' did not change the neighbours")
    assert page.locator(f"{REID} .medpriv-reid-matches img").count() == 5
    lab.snap("lesson01_xray", REID)
    lab.assert_no_errors("after using every lab of lesson 01")
