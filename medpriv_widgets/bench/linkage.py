"""Benchmark: linkage attack on a 100,000-patient synthetic registry — generation time and share
re-identified per released column set.

``medpriv bench linkage``: draws the registry and its public source (target: ≤ 5 s for 100,000
rows), links releases of growing column sets exactly and with a ± 3-day fuzzy birth date, and
times the full k-anonymity search at k = 10. ``--quick``: 10,000 rows.
"""

from __future__ import annotations

import os
import time

from . import peak_rss_mb

COLUMN_SETS = (("sex",), ("postcode",), ("birth_date",), ("birth_date", "sex"),
               ("postcode", "birth_date", "sex"),
               ("postcode", "birth_date", "sex", "admission_date"))


def run(*, quick: bool = False, progress: bool = True) -> dict:
    from ..attacks.linkage import (SWEENEY_2000, anonymise, link, make_public_source,
                                   make_registry, make_release, uniqueness)

    n = 10_000 if quick else 100_000
    t0 = time.perf_counter()
    registry = make_registry(n=n, seed=0)
    registry_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    public = make_public_source(registry)
    public_seconds = time.perf_counter() - t1
    per_set = {}
    for cols in COLUMN_SETS:
        release = make_release(registry, cols)
        t = time.perf_counter()
        exact = link(release, public, columns=cols)
        exact_s = time.perf_counter() - t
        row = {"unique": round(uniqueness(release, cols), 4),
               "reidentified": round(exact.share_reidentified, 4),
               "wrong": round(exact.share_wrong, 4), "seconds": round(exact_s, 2)}
        if "birth_date" in cols:
            t = time.perf_counter()
            fuzzy = link(release, public, columns=cols, tolerance_days=3)
            row.update(fuzzy_reidentified=round(fuzzy.share_reidentified, 4),
                       fuzzy_wrong=round(fuzzy.share_wrong, 4),
                       fuzzy_seconds=round(time.perf_counter() - t, 2))
        per_set[" + ".join(cols)] = row
        if progress:
            print(f"{' + '.join(cols):45s} {row}")
    qi = ("birth_date", "sex", "postcode")
    t = time.perf_counter()
    anon = anonymise(make_release(registry, qi), qi=qi, k=10)
    anonymise_seconds = time.perf_counter() - t
    return {
        "rows": n, "public_rows": len(public),
        "registry_seconds": round(registry_seconds, 2), "public_seconds": round(public_seconds, 2),
        "seconds": round(registry_seconds + public_seconds, 2),
        "reidentified": per_set,
        "uniqueness_postcode_birth_date_sex": per_set["postcode + birth_date + sex"]["unique"],
        "sweeney_2000": SWEENEY_2000["share"],
        "anonymise_k10_seconds": round(anonymise_seconds, 2),
        "anonymise_k10_levels": anon.describe_levels(),
        "anonymise_k10_information_loss": round(anon.information_loss, 4),
        "targets": {"seconds_max": 5.0},
        "device": "CPU", "torch_threads": None,
        "load_average_1min": round(os.getloadavg()[0], 2), "peak_rss_mb": peak_rss_mb(),
    }
