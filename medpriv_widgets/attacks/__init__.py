"""Attacks on medical models and data, each seeing only what its adversary sees.

- :mod:`.reconstruction`: rebuild X-rays from a model update (gradient inversion, analytic and
  malicious-server attacks).
- :mod:`.membership`: tell whether a patient was in the training data (loss threshold, LiRA).
- :mod:`.linkage`: link "anonymous" records back to people; pseudonyms, k-anonymity.
- :mod:`.reidentification`: recognise a patient from the X-ray itself.

Scoring against the truth is always a separate step from the attack.
"""
