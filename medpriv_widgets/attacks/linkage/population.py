"""A seeded synthetic hospital registry and an overlapping public source (no real people).

:func:`make_registry` draws the patients of one hospital in a German city; :func:`make_public_source`
draws what an attacker can read about residents — a register of names, birth dates, sex and
postcodes that covers part of the patients plus residents who never were in the hospital, with
some birth dates mistyped, and for a few patients an admission date they posted about.

Names come from Faker's ``de_DE`` lists (drawn with Zipf-like weights, as real name frequencies
are); every other field is drawn with numpy, vectorised, so 100,000 rows take well under a
second. Marginals, roughly those of German hospital statistics:

- age of patients: 9 % children, 46 % 65 or older; residents follow the population's age
  structure;
- postcode: 90 % from the city's postcodes (lognormal population per postcode), 10 % from
  anywhere in Germany;
- ward depends on age and sex (paediatrics for children, obstetrics for women 18–45, geriatric
  patients mostly cardiology and pneumology), diagnosis (ICD-10) depends on the ward.

``person_id`` is the ground truth that links a patient to their public record. It is never
released and never used by an attack; only the scoring reads it.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..._validate import check_int, check_real

#: The day the registry is drawn; ages and admissions are relative to it.
REFERENCE_DATE = np.datetime64("2026-01-01")
#: Direct identifiers: never part of a release.
DIRECT_IDENTIFIERS = ("name", "insurance_number")
#: Columns a release may contain besides the diagnosis (the quasi-identifiers of this registry).
QUASI_IDENTIFIERS = ("birth_date", "sex", "postcode", "admission_date", "ward")
SENSITIVE = "diagnosis"
TRUTH = "person_id"

# Age bands (years) and their shares: hospital cases and residents (rounded Destatis shapes).
_AGE_BANDS = np.array([[0, 5], [5, 18], [18, 30], [30, 45], [45, 65], [65, 80], [80, 100]])
_AGE_PATIENTS = np.array([5, 4, 8, 11, 26, 29, 17], dtype=float)
_AGE_RESIDENTS = np.array([5, 12, 14, 19, 28, 15, 7], dtype=float)

# Ward → (diagnosis, ICD-10, weight).
WARDS = {
    "Paediatrics": [("Pneumonia", "J18.9", 35), ("Bronchiolitis", "J21.9", 20),
                    ("Gastroenteritis", "A09", 20), ("Asthma", "J45.9", 10),
                    ("Appendicitis", "K35.8", 10), ("Type 1 diabetes", "E10.9", 5)],
    "Pneumology": [("Pneumonia", "J18.9", 40), ("COPD", "J44.9", 30),
                   ("Lung cancer", "C34.9", 15), ("Asthma", "J45.9", 10),
                   ("Tuberculosis", "A15.0", 5)],
    "Cardiology": [("Heart failure", "I50.9", 35), ("Atrial fibrillation", "I48.9", 30),
                   ("Myocardial infarction", "I21.9", 25), ("Hypertension", "I10", 10)],
    "Surgery": [("Hip fracture", "S72.0", 30), ("Hernia", "K40.9", 30),
                ("Appendicitis", "K35.8", 20), ("Cholecystitis", "K81.0", 20)],
    "Oncology": [("Breast cancer", "C50.9", 30), ("Colon cancer", "C18.9", 25),
                 ("Lung cancer", "C34.9", 25), ("Leukaemia", "C95.9", 20)],
    "Psychiatry": [("Depression", "F32.9", 45), ("Alcohol dependence", "F10.2", 25),
                   ("Schizophrenia", "F20.9", 20), ("Anorexia nervosa", "F50.0", 10)],
    "Infectious diseases": [("HIV disease", "B24", 40), ("Pneumonia", "J18.9", 30),
                            ("Hepatitis C", "B18.2", 30)],
    "Obstetrics": [("Childbirth", "O80", 80), ("Miscarriage", "O03.9", 20)],
}
_ADULT_WARDS = ["Pneumology", "Cardiology", "Surgery", "Oncology", "Psychiatry",
                "Infectious diseases"]
# Weights of the adult wards per age band from 18 on (rows: 18–29 … 80+).
_ADULT_WARD_WEIGHTS = np.array([
    [10, 4, 30, 4, 35, 17],
    [12, 10, 30, 10, 28, 10],
    [18, 25, 25, 18, 10, 4],
    [25, 33, 20, 16, 4, 2],
    [30, 38, 20, 10, 1, 1],
], dtype=float)

_CITY_POSTCODE_RANGE = (80331, 81929)   # Munich
#: Share of people living in the city around the hospital (the rest: anywhere in Germany).
CITY_SHARE = 0.9


@functools.lru_cache(maxsize=1)
def _name_lists() -> tuple[tuple, tuple, tuple]:
    """Faker de_DE first names (female, male) and surnames, in a fixed shuffled order so that
    Zipf ranks do not follow the alphabet."""
    from faker.providers.person.de_DE import Provider

    rng = np.random.default_rng(20260101)
    out = []
    for names in (Provider.first_names_female, Provider.first_names_male, Provider.last_names):
        names = sorted(set(names))
        out.append(tuple(names[i] for i in rng.permutation(len(names))))
    return tuple(out)


def _zipf_choice(rng: np.random.Generator, options: tuple, n: int, exponent: float = 1.0):
    weights = 1.0 / np.arange(1, len(options) + 1) ** exponent
    idx = rng.choice(len(options), size=n, p=weights / weights.sum())
    return np.asarray(options, dtype=object)[idx]


def _postcode_pool(seed: int, n_city: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(city postcodes, their population weights, postcodes elsewhere in Germany)."""
    from faker import Faker

    rng = np.random.default_rng([seed, 1])
    lo, hi = _CITY_POSTCODE_RANGE
    city = np.sort(rng.choice(np.arange(lo, hi + 1), size=n_city, replace=False))
    weights = rng.lognormal(0.0, 0.6, size=n_city)
    fake = Faker("de_DE")
    fake.seed_instance(seed)
    # Faker's de_DE postcodes: a pool of 2,000 from across Germany (not per row).
    elsewhere = np.array([fake.postcode() for _ in range(2000)], dtype=object)
    elsewhere = elsewhere[~np.isin(elsewhere.astype(int), city)]
    return np.array([f"{c:05d}" for c in city], dtype=object), weights / weights.sum(), elsewhere


def _people(rng: np.random.Generator, n: int, *, age_weights: np.ndarray,
            postcodes: tuple) -> pd.DataFrame:
    """Names, birth dates, sex and postcodes of ``n`` people."""
    female_names, male_names, surnames = _name_lists()
    band = rng.choice(len(_AGE_BANDS), size=n, p=age_weights / age_weights.sum())
    age_days = (rng.uniform(_AGE_BANDS[band, 0], _AGE_BANDS[band, 1]) * 365.25).astype(np.int64)
    birth = REFERENCE_DATE - age_days.astype("timedelta64[D]")
    female = rng.random(n) < 0.51
    first = np.where(female, _zipf_choice(rng, female_names, n), _zipf_choice(rng, male_names, n))
    last = _zipf_choice(rng, surnames, n, exponent=0.8)
    city, weights, elsewhere = postcodes
    in_city = rng.random(n) < CITY_SHARE
    postcode = np.where(in_city, rng.choice(city, size=n, p=weights),
                        rng.choice(elsewhere, size=n))
    return pd.DataFrame({
        "name": pd.array(first + " " + last, dtype="str"),
        "birth_date": pd.to_datetime(birth),
        "sex": pd.Categorical(np.where(female, "F", "M"), categories=["F", "M"]),
        "postcode": pd.array(postcode, dtype="str"),
        "_age_band": band,
    })


def _wards_and_diagnoses(rng: np.random.Generator, band: np.ndarray, female: np.ndarray):
    n = band.shape[0]
    ward = np.empty(n, dtype=object)
    ward[band <= 1] = "Paediatrics"
    adult = np.flatnonzero(band >= 2)
    probs = _ADULT_WARD_WEIGHTS[band[adult] - 2]
    probs = probs / probs.sum(axis=1, keepdims=True)
    pick = (rng.random(adult.size)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    ward[adult] = np.asarray(_ADULT_WARDS, dtype=object)[np.minimum(pick, len(_ADULT_WARDS) - 1)]
    # A third of women aged 18–44 in hospital are there to give birth.
    births = (band >= 2) & (band <= 3) & female & (rng.random(n) < 0.33)
    ward[births] = "Obstetrics"
    diagnosis = np.empty(n, dtype=object)
    icd = np.empty(n, dtype=object)
    for name, options in WARDS.items():
        rows = np.flatnonzero(ward == name)
        if rows.size == 0:
            continue
        w = np.array([o[2] for o in options], dtype=float)
        k = rng.choice(len(options), size=rows.size, p=w / w.sum())
        diagnosis[rows] = np.array([o[0] for o in options], dtype=object)[k]
        icd[rows] = np.array([o[1] for o in options], dtype=object)[k]
    return ward, diagnosis, icd


def make_registry(*, n: int = 2000, seed: int = 0, n_postcodes: int = 60) -> pd.DataFrame:
    """The patients of one (synthetic) hospital, one row per admission.

    Parameters
    ----------
    n : int
        Number of patients, 10 to 1,000,000.
    seed : int
        Same seed, same registry (and the same public source from :func:`make_public_source`).
    n_postcodes : int
        Postcodes of the city around the hospital (5 to 1,000).

    Returns
    -------
    pandas.DataFrame with columns ``person_id`` (int, ground truth, never released), ``name``,
    ``insurance_number`` (letter + 9 digits, the form of a German health-insurance number),
    ``birth_date`` and ``admission_date`` (datetime64, day resolution), ``sex`` ('F'/'M'),
    ``postcode`` (5-digit string), ``ward``, ``diagnosis`` and ``icd10``. Attributes
    (``df.attrs``): ``seed`` and ``n_postcodes``.
    """
    n = check_int("n", n, low=10, high=1_000_000)
    seed = check_int("seed", seed, low=0)
    n_postcodes = check_int("n_postcodes", n_postcodes, low=5, high=1000)
    rng = np.random.default_rng([seed, 0])
    pool = _postcode_pool(seed, n_postcodes)
    df = _people(rng, n, age_weights=_AGE_PATIENTS, postcodes=pool)
    ward, diagnosis, icd = _wards_and_diagnoses(rng, df["_age_band"].to_numpy(),
                                                (df["sex"] == "F").to_numpy())
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), dtype=object)
    insurance = letters[rng.integers(0, 26, n)] + np.char.zfill(
        rng.integers(0, 10**9, n).astype(str), 9).astype(object)
    admission = REFERENCE_DATE - rng.integers(1, 366, n).astype("timedelta64[D]")
    df.insert(0, TRUTH, np.arange(1, n + 1, dtype=np.int64))
    df.insert(2, "insurance_number", pd.array(insurance, dtype="str"))
    df["admission_date"] = pd.to_datetime(admission)
    df["ward"] = pd.array(ward, dtype="str")
    df["diagnosis"] = pd.array(diagnosis, dtype="str")
    df["icd10"] = pd.array(icd, dtype="str")
    df = df.drop(columns="_age_band")
    df.attrs.update(seed=seed, n_postcodes=n_postcodes)
    return df


def make_public_source(registry: pd.DataFrame, *, coverage: float = 0.7,
                       others_per_patient: float = 1.0, typo_rate: float = 0.05,
                       posted_rate: float = 0.1, seed: int | None = None) -> pd.DataFrame:
    """What an attacker can read: a register of residents that overlaps the hospital's patients.

    Parameters
    ----------
    registry : DataFrame from :func:`make_registry`.
    coverage : float in [0, 1]
        Share of the patients who appear in the public source.
    others_per_patient : float ≥ 0
        Residents who never were in the hospital, per patient (they make false matches possible).
    typo_rate : float in [0, 1]
        Share of public rows whose birth date is off by 1–3 days (a clerk's typo): an exact join
        misses them, a fuzzy join finds them.
    posted_rate : float in [0, 1]
        Share of the covered patients who posted their admission date ("in hospital since
        Monday"); the others have no admission date here (NaT).
    seed : int, optional
        Defaults to the registry's seed.

    Returns
    -------
    pandas.DataFrame with ``person_id`` (the patient's, or 0 for residents who are not
    patients; ground truth for scoring only), ``name``, ``birth_date``, ``sex``, ``postcode``,
    ``admission_date``; rows shuffled.
    """
    _check_registry(registry)
    coverage = check_real("coverage", coverage, low=0.0, high=1.0)
    others_per_patient = check_real("others_per_patient", others_per_patient, low=0.0, high=100.0)
    typo_rate = check_real("typo_rate", typo_rate, low=0.0, high=1.0)
    posted_rate = check_real("posted_rate", posted_rate, low=0.0, high=1.0)
    seed = registry.attrs.get("seed", 0) if seed is None else check_int("seed", seed, low=0)
    rng = np.random.default_rng([seed, 2])
    covered = registry.loc[rng.random(len(registry)) < coverage]
    patients = covered[[TRUTH, "name", "birth_date", "sex", "postcode"]].copy()
    posted = rng.random(len(covered)) < posted_rate
    patients["admission_date"] = covered["admission_date"].where(posted)
    n_others = int(round(others_per_patient * len(registry)))
    pool = _postcode_pool(seed, int(registry.attrs.get("n_postcodes", 60)))
    others = _people(rng, n_others, age_weights=_AGE_RESIDENTS, postcodes=pool)
    others = others.drop(columns="_age_band")
    others.insert(0, TRUTH, np.zeros(n_others, dtype=np.int64))
    others["admission_date"] = pd.Series(pd.NaT, index=others.index, dtype="datetime64[ns]")
    public = pd.concat([patients, others], ignore_index=True)
    typo = rng.random(len(public)) < typo_rate
    shift = rng.choice([-3, -2, -1, 1, 2, 3], size=int(typo.sum()))
    public.loc[typo, "birth_date"] = public.loc[typo, "birth_date"] + pd.to_timedelta(shift, "D")
    public = public.iloc[rng.permutation(len(public))].reset_index(drop=True)
    public["sex"] = pd.Categorical(public["sex"], categories=["F", "M"])
    return public


def _check_registry(registry) -> None:
    from ...errors import InvalidParameterError

    if not isinstance(registry, pd.DataFrame):
        raise InvalidParameterError(
            f"`registry` must be a pandas DataFrame from make_registry(); got "
            f"{type(registry).__name__}.")
    missing = [c for c in (TRUTH, "name", "birth_date", "sex", "postcode", "admission_date")
               if c not in registry.columns]
    if missing:
        raise InvalidParameterError(
            f"`registry` must have the columns of make_registry(); missing {missing}. "
            "Make it with medpriv_widgets.attacks.linkage.make_registry().")


__all__ = ["DIRECT_IDENTIFIERS", "QUASI_IDENTIFIERS", "REFERENCE_DATE", "SENSITIVE", "TRUTH",
           "WARDS", "make_public_source", "make_registry"]
