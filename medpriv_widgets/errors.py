"""Typed errors. Every message is a sentence that tells the user what to do.

All errors derive from :class:`MedprivError`, so a widget can catch that one class and show the
message in place. Parameter errors are also ``ValueError`` so ordinary Python code that expects
``ValueError`` keeps working.
"""


class MedprivError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidParameterError(MedprivError, ValueError):
    """A parameter is outside what is allowed (the message names it, the range, and the value)."""


class DataError(MedprivError):
    """A data file is missing, corrupt or malformed."""


class ChecksumError(DataError):
    """A file's checksum does not match the registry; the file is not used."""


class SchemaError(DataError):
    """An ``.npz`` file does not have the MedMNIST layout (keys, shapes, dtypes, labels)."""


class DataUnavailableError(DataError):
    """The data cannot be found locally and cannot be downloaded."""


class PrivacyBudgetError(MedprivError):
    """Base class for privacy-budget problems."""


class BudgetExhausted(PrivacyBudgetError):
    """A spend the remaining budget cannot cover; the dataset is now locked."""


class DatasetLocked(PrivacyBudgetError):
    """The dataset's budget is spent; queries and training against it are refused."""


class LedgerCorrupt(PrivacyBudgetError):
    """The ledger file on disk is unreadable or was edited by hand."""


class CacheError(MedprivError):
    """A cached result is unusable (for example written by another package version)."""


class NotComputedYet(MedprivError, LookupError):
    """A result a dashboard needs is not in the cache yet; the message says how to compute it."""


class SecureAggregationError(MedprivError):
    """Secure aggregation cannot release a correct sum (too few sites left to remove the masks,
    or a protocol rule was broken); nothing, not even a partial sum, is released."""


class TamperedMessageError(MedprivError):
    """An encrypted message failed authentication: it was altered on the way, or opened with the
    wrong key; its content is not used."""


class ProtocolError(MedprivError):
    """A peer of the AnoMed protocol (challenge, anonymizer or deanonymizer) did not answer,
    answered with an error, or sent arrays that are not what the protocol says."""
