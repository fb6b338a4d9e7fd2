"""Lesson 06's sentences: budgets never read as more left than there is; the comparison, the
server's view and the attack in words; the benchmark is found by `medpriv bench`."""

from __future__ import annotations

import pytest

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.explain import (comparison_statement, leakage_statement,
                                     secure_view_statement, site_budget_statement)


def test_a_used_budget_share_is_rounded_up():
    s = site_budget_statement(site="Rural clinic", spent=1.201, budget=4.0, locked=False)
    assert s.numbers["share"] == 0.31 and s.numbers["share"] >= 1.201 / 4.0
    assert "Rural clinic has used 31% of its privacy budget" in s.text
    locked = site_budget_statement(site="Rural clinic", spent=3.9, budget=4.0, locked=True)
    assert locked.numbers["share"] == 1.0 and "locked" in locked.text


def test_comparison_names_the_gap_and_the_best_hospital():
    s = comparison_statement(federated=0.946, centralised=0.960, best_single=0.940,
                             best_site="District hospital", rounds=20)
    assert "0.946" in s.text and "0.960 (0.014 more)" in s.text and "District hospital" in s.text
    assert "beats working alone" in s.text
    worse = comparison_statement(federated=0.90, centralised=0.96, best_single=0.93,
                                 best_site="A", rounds=2)
    assert "did not beat" in worse.text
    with pytest.raises(InvalidParameterError):
        comparison_statement(federated=1.5, centralised=0.9, best_single=0.9, best_site="A",
                             rounds=1)


def test_server_view_and_attack_sentences():
    assert "random-looking" in secure_view_statement(secure=True, site="A").text
    assert "as it is" in secure_view_statement(secure=False, site="A").text
    one = leakage_statement(n_sites=1, psnr=28.4, verdict="recognisable")
    assert "recognise" in one.text and "Fowl" not in one.text
    many = leakage_statement(n_sites=4, psnr=14.9, verdict="not recognisable")
    assert "Fowl et al. 2022" in many.text and "differential privacy is still needed" in many.text


def test_the_benchmark_is_found_by_the_cli():
    from medpriv_widgets.bench import BENCHMARKS

    assert "federated" in BENCHMARKS and BENCHMARKS["federated"].startswith("federated hospitals")
