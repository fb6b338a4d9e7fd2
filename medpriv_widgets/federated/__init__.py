"""Federated learning across hospitals: sites, FedAvg, DP and a budget per site, secure aggregation.

The images never leave the hospitals; only model changes travel. Wiring in a few lines::

    settings = FederationSettings(sites=default_sites(4), rounds=20, noise_multiplier=1.0,
                                  secure_aggregation=True)
    ledgers = site_ledgers(folder, settings, epsilon=4.0)     # one budget per hospital
    for p in Federation(settings, ledgers=ledgers).run(cache=store):
        print(p.message)                                      # p.partial: a RoundRecord

- :mod:`.hospitals`: a patient-disjoint, non-IID, seeded split into 2–6 sites.
- :mod:`.site` / :mod:`.server`: a hospital's local training (the project's DP-SGD stages) and
  the server's FedAvg / site-level DP-FedAvg step.
- :mod:`.federation`: the rounds as a cached, stoppable :class:`~medpriv_widgets.experiments.Stage`;
  :mod:`.baselines`: centralised and site-alone training through
  :class:`~medpriv_widgets.experiments.TrainModel`.
- :mod:`.secure_aggregation`, :mod:`.quantize`, :mod:`.transport`: pairwise X25519 masks,
  Shamir recovery of dropped sites, fixed-point encoding, AES-GCM sealed updates.
- :mod:`.leakage`: gradient inversion on one site's update vs on the aggregate of N sites.
- :mod:`.flower`: the same site and server logic as Flower apps (extra ``medpriv_widgets[flower]``).
"""

from .federation import (DROPPED, LOCKED, LOCKED_NOW, TRAINED, Federation, FederationResult,
                         RoundRecord, SiteRound)
from .hospitals import DEFAULT_SITES, Hospital, SiteSpec, default_sites, make_hospitals, union
from .ledgers import site_ledgers
from .quantize import Quantizer
from .secure_aggregation import SecureSum, secure_sum
from .settings import FederationSettings, fast_settings
from .transport import SealedUpdate, new_key, open_sealed, seal, tamper

__all__ = ["DEFAULT_SITES", "DROPPED", "Federation", "FederationResult", "FederationSettings",
           "Hospital", "LOCKED", "LOCKED_NOW", "Quantizer", "RoundRecord", "SealedUpdate",
           "SecureSum", "SiteRound", "SiteSpec", "TRAINED", "default_sites", "fast_settings",
           "make_hospitals", "new_key", "open_sealed", "seal", "secure_sum", "site_ledgers",
           "tamper", "union"]
