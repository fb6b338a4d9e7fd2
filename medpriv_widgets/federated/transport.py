"""Encrypted transport of model weights and updates: useless without the key, and tamper-evident.

AES-256-GCM from ``cryptography`` (authenticated encryption): a stolen update or model file is
random-looking bytes without the key, and a single changed bit makes opening it fail with
:class:`~medpriv_widgets.errors.TamperedMessageError` (its content is never used). The sender,
receiver and round are authenticated with it (associated data), so an update replayed into
another round or delivered to another party is refused too.

Arrays are serialised with ``numpy.savez`` and read back with ``allow_pickle=False``: nothing
received over the network is ever unpickled. A key is 32 random bytes (:func:`new_key`), or
agreed between a hospital and the server with X25519 + HKDF (:func:`agree_key`), so it never
travels.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import InvalidParameterError, TamperedMessageError


def new_key() -> bytes:
    """A fresh random 256-bit AES-GCM key."""
    return AESGCM.generate_key(bit_length=256)


def agree_key(private: X25519PrivateKey, peer_public: bytes, *, context: str) -> bytes:
    """The 32-byte key two parties agree on (X25519, then HKDF-SHA256 bound to ``context``)."""
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"medpriv transport {context}".encode()).derive(shared)


@dataclass(frozen=True)
class SealedUpdate:
    """What travels: who sent it to whom in which round (readable), and the ciphertext."""

    sender: str
    receiver: str
    round: int
    nonce: bytes
    ciphertext: bytes

    def _aad(self) -> bytes:
        return f"medpriv-update|{self.sender}|{self.receiver}|{self.round}".encode()


def _check_key(key) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
        raise InvalidParameterError(
            "`key` must be 32 bytes (from new_key() or agree_key()); got "
            f"{type(key).__name__} of length {len(key) if hasattr(key, '__len__') else '?'}.")
    return bytes(key)


def _to_bytes(arrays: Mapping[str, object]) -> bytes:
    if not isinstance(arrays, Mapping) or not arrays:
        raise InvalidParameterError("`arrays` must be a non-empty mapping of names to arrays "
                                    "(e.g. a model's state_dict).")
    plain = {}
    for name, value in arrays.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        arr = np.asarray(value)
        if arr.dtype == object:
            raise InvalidParameterError(f"`arrays[{name!r}]` must be numeric; got an object array.")
        plain[str(name)] = arr
    buf = io.BytesIO()
    np.savez(buf, **plain)
    return buf.getvalue()


def seal(arrays: Mapping[str, object], *, key: bytes, sender: str, receiver: str,
         round: int = 0) -> SealedUpdate:
    """Encrypt and authenticate ``arrays`` (name → numpy array or tensor) for ``receiver``."""
    key = _check_key(key)
    nonce = os.urandom(12)
    sealed = SealedUpdate(str(sender), str(receiver), int(round), nonce, b"")
    return replace(sealed, ciphertext=AESGCM(key).encrypt(nonce, _to_bytes(arrays), sealed._aad()))


def open_sealed(sealed: SealedUpdate, *, key: bytes) -> dict[str, np.ndarray]:
    """Decrypt; raise :class:`TamperedMessageError` if anything was altered or the key is wrong."""
    if not isinstance(sealed, SealedUpdate):
        raise InvalidParameterError(f"`sealed` must be a SealedUpdate; got {type(sealed).__name__}.")
    key = _check_key(key)
    try:
        plain = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, sealed._aad())
    except InvalidTag:
        raise TamperedMessageError(
            f"The update from {sealed.sender} to {sealed.receiver} (round {sealed.round}) failed "
            f"its authentication check: it was altered on the way, relabelled, or sealed with "
            f"another key. It was discarded and nothing from it was used; ask {sealed.sender} to "
            f"send it again, and check the connection if it happens twice.") from None
    with np.load(io.BytesIO(plain), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def tamper(sealed: SealedUpdate, *, byte: int = 0) -> SealedUpdate:
    """A copy with one bit of the ciphertext flipped: what an attacker on the wire might send
    (for lessons and tests)."""
    data = bytearray(sealed.ciphertext)
    data[byte % len(data)] ^= 0x01
    return replace(sealed, ciphertext=bytes(data))


__all__ = ["SealedUpdate", "agree_key", "new_key", "open_sealed", "seal", "tamper"]
