"""Linkage attacks on "anonymised" patient tables, broken pseudonyms, and k-anonymity's limits.

- :mod:`.population`: a seeded synthetic hospital registry and an overlapping public source.
- :mod:`.attack`: the linkage attack (exact and fuzzy), uniqueness, the published anchors
  (Sweeney 2000, Rocher et al. 2019).
- :mod:`.pseudonyms`: unsalted hashes vs a dictionary attack, keyed (HMAC) pseudonyms, linking
  releases on a consistent pseudonym.
- :mod:`.anonymity`: k-anonymity, ℓ-diversity, t-closeness.
- :mod:`.generalise`: full-domain generalisation and suppression to a target k, and its
  information loss.
- :mod:`.mondrian`: k-anonymity by local recoding (Mondrian): small groups, ranges released.
- :mod:`.homogeneity`: the homogeneity attack on a k-anonymous release.

No Jupyter here; :mod:`medpriv_widgets.widgets.anonymization` draws it.
"""

from .anonymity import (AnonymityReport, anonymity_report, class_sizes, k_anonymity, l_diversity,
                        t_closeness)
from .attack import (ROCHER_2019, SWEENEY_2000, LinkageResult, check_columns, link, make_release,
                     reidentification_by_columns, uniqueness)
from .generalise import (HIERARCHY_LEVELS, LEVEL_NAMES, AnonymisedRelease, anonymise, generalise,
                         generalise_column)
from .homogeneity import HomogeneityResult, homogeneity_attack
from .mondrian import MondrianRelease, mondrian
from .population import (DIRECT_IDENTIFIERS, QUASI_IDENTIFIERS, SENSITIVE, TRUTH, WARDS,
                         make_public_source, make_registry)
from .pseudonyms import (DictionaryAttackResult, dictionary_attack, exhaustive_search_seconds,
                         hash_pseudonyms, keyed_pseudonyms, link_releases, new_key)

__all__ = [
    "AnonymisedRelease", "AnonymityReport", "DIRECT_IDENTIFIERS", "DictionaryAttackResult",
    "HIERARCHY_LEVELS", "HomogeneityResult", "LEVEL_NAMES", "LinkageResult", "MondrianRelease",
    "QUASI_IDENTIFIERS", "mondrian",
    "ROCHER_2019", "SENSITIVE", "SWEENEY_2000", "TRUTH", "WARDS", "anonymise", "anonymity_report",
    "check_columns", "class_sizes", "dictionary_attack", "exhaustive_search_seconds",
    "generalise", "generalise_column", "hash_pseudonyms", "homogeneity_attack", "k_anonymity",
    "keyed_pseudonyms", "l_diversity", "link", "link_releases", "make_public_source",
    "make_registry", "make_release", "new_key", "reidentification_by_columns", "t_closeness",
    "uniqueness",
]
