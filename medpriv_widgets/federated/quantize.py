"""Fixed-point encoding of model updates, so that masks can be added and removed exactly.

Secure aggregation adds random masks in a finite ring; floats cannot be masked exactly (rounding
would leave residue of the masks in the sum). Each value x becomes the integer round(x · 2^f)
taken modulo 2^64 (two's complement), stored as ``uint64``: numpy's unsigned arithmetic wraps
modulo 2^64, which is exactly the ring. The sum of n encoded values decodes to the sum of the
values with an error of at most n · 2^−(f+1) per coordinate (each rounding is off by at most
half a step), provided no partial sum leaves ±2^63 / 2^f (checked: :meth:`Quantizer.encode`
refuses values that could wrap, it never clips them silently).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import check_int
from ..errors import InvalidParameterError

#: Bits of the ring Z_{2^64} the masked values live in.
MODULUS_BITS = 64


@dataclass(frozen=True)
class Quantizer:
    """round(x · 2^f) mod 2^64, for sums of at most ``max_parties`` encoded vectors.

    Attributes
    ----------
    fractional_bits : int
        f: the step is 2^−f (f = 24: 6.0e−8, far below the size of a useful model update).
    max_parties : int
        The most vectors that will be summed; sets the largest value that can be encoded
        without the sum wrapping around (:attr:`max_abs`).
    """

    fractional_bits: int = 24
    max_parties: int = 64

    def __post_init__(self) -> None:
        check_int("fractional_bits", self.fractional_bits, low=0, high=48)
        check_int("max_parties", self.max_parties, low=1, high=1 << 16)

    @property
    def step(self) -> float:
        """Resolution 2^−f (units of the values)."""
        return 2.0 ** -self.fractional_bits

    @property
    def max_abs(self) -> float:
        """Largest |value| that can be encoded: the sum of ``max_parties`` of them stays inside
        the signed range ±2^63 (units of the values)."""
        return (2.0 ** 62) / self.max_parties * self.step

    def max_sum_error(self, n_parties: int) -> float:
        """Largest error per coordinate of a decoded sum of ``n_parties`` encoded vectors."""
        return check_int("n_parties", n_parties, low=1) * self.step / 2.0

    def encode(self, values) -> np.ndarray:
        """float array (any shape) → uint64 array of the same shape (the ring element)."""
        x = np.asarray(values, dtype=np.float64)
        if not np.isfinite(x).all():
            raise InvalidParameterError(
                "An update to aggregate contains NaN or infinite values, so it cannot be "
                "encoded; the local training diverged. Lower the learning rate and train again.")
        biggest = float(np.abs(x).max()) if x.size else 0.0
        if biggest > self.max_abs:
            raise InvalidParameterError(
                f"An update to aggregate holds the value {biggest:.3g}, beyond the largest value "
                f"secure aggregation can add up without wrapping around (±{self.max_abs:.3g} "
                f"with {self.fractional_bits} fractional bits for up to {self.max_parties} "
                f"sites). Clip the updates (DP-FedAvg does) or use fewer fractional bits.")
        return np.rint(x * 2.0 ** self.fractional_bits).astype(np.int64).view(np.uint64)

    def decode(self, encoded) -> np.ndarray:
        """uint64 ring elements (a single vector or a sum) → float64 values."""
        arr = np.asarray(encoded)
        if arr.dtype != np.uint64:
            raise InvalidParameterError(f"`encoded` must be a uint64 array; got dtype {arr.dtype}.")
        return arr.view(np.int64).astype(np.float64) * self.step


__all__ = ["MODULUS_BITS", "Quantizer"]
