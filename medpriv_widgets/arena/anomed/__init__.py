"""The AnoMed protocol: an arena scenario as a challenge, our defences as anonymizers, LiRA as a
deanonymizer — the routes and wire format of AnoMed's libraries (``anomed-challenge`` 0.0.21,
``anomed-anonymizer`` 0.0.22, ``anomed-deanonymizer`` 0.0.11, ``anomed-utils`` 0.3.8; MIT).

AnoMed runs each part as its own web app (a container each); nothing orchestrates them: the
caller POSTs ``/fit`` then ``/evaluate`` in order. Their libraries pin numpy 1.26 and pandas 2.2,
so they cannot share this environment; these modules speak the protocol with the standard
library instead (:mod:`.web`), and ``tests/test_anomed_conformance.py`` runs the real AnoMed
libraries in a virtual environment of their own against them, in both directions.

- :mod:`.wire`: named numpy arrays as ``np.savez_compressed`` bytes; X-rays as uint8.
- :mod:`.web`: routes over ``http.server``, and a urllib client.
- :mod:`.challenge`: :class:`ArenaChallenge` (data, judges) and its routes.
- :mod:`.anonymizer`: :class:`ArenaAnonymizer` (a registered defence) and its routes.
- :mod:`.deanonymizer`: :class:`LiraDeanonymizer` (offline LiRA) and its routes.
- :mod:`.serve`: ``python -m medpriv_widgets.arena.anomed.serve challenge|anonymizer|
  deanonymizer`` with AnoMed's environment variables (``CHALLENGE_HOST``, ``ATTACK_TARGET_HOST``).
"""

from .anonymizer import ArenaAnonymizer, anonymizer_app, serve_anonymizer
from .challenge import ArenaChallenge, ChallengeData, challenge_app, challenge_data, serve_challenge
from .deanonymizer import LiraDeanonymizer, deanonymizer_app, serve_deanonymizer

__all__ = ["ArenaAnonymizer", "ArenaChallenge", "ChallengeData", "LiraDeanonymizer",
           "anonymizer_app", "challenge_app", "challenge_data", "deanonymizer_app",
           "serve_anonymizer", "serve_challenge", "serve_deanonymizer"]
