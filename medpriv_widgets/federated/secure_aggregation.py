"""Secure aggregation: the server learns the sum of the hospitals' updates and nothing else.

The protocol of Bonawitz et al. (2017, "Practical Secure Aggregation for Privacy-Preserving
Machine Learning") for an honest-but-curious server, with real cryptography from
``cryptography``. One round, with the messages as plain dataclasses the server relays::

    sites = [SecAggSite(i, round_id=r) for i in ids]
    server = SecAggServer(site_ids=ids, threshold=t, length=d, round_id=r)
    roster = server.collect_keys([s.advertise() for s in sites])          # 1. public keys
    boxes = server.route_shares({s.site_id: s.share_keys(roster, threshold=t) for s in sites})
    for s in sites: s.receive_shares(boxes[s.site_id])                    # 2. sealed shares
    masked = {s.site_id: s.masked_input(encoded[s.site_id]) for s in online}  # 3. y_u
    request = server.unmasking_request(masked)                            # who survived
    total = server.finish({s.site_id: s.unmask(request) for s in online})  # 4. Σ x_u

1. Each site makes two X25519 key pairs: ``c`` to seal the Shamir shares it sends to each other
   site (AES-GCM under a key agreed with that site, so the relaying server cannot read them),
   and ``s`` for the pairwise masks. It also draws a 16-byte self-mask seed b_u and publishes a
   SHA-256 commitment to it.
2. It splits b_u and its mask private key s_u into Shamir shares (threshold t) and sends one
   share of each to every other site, sealed.
3. Its masked input is y_u = x_u + PRG(b_u) + Σ_{v>u} PRG(s_uv) − Σ_{v<u} PRG(s_uv) (mod 2^64),
   where s_uv is the X25519 agreement of u and v expanded by HKDF-SHA256 and the PRG is the
   ChaCha20 key stream. Alone, y_u is uniformly distributed: it tells the server nothing.
4. The pairwise masks cancel in the sum of the sites that sent their y. For each site that
   dropped out after step 2, the survivors hand over their shares of its s_u; the server
   rebuilds it and removes the masks it left in the others' inputs. For each survivor they hand
   over their shares of b_u (never both for the same site: a site refuses such a request). With
   fewer than t survivors nothing can be unmasked: :class:`SecureAggregationError`, never a
   partial sum.

Shamir's secret sharing comes from pycryptodome (``Crypto.Protocol.SecretSharing.Shamir``,
over GF(2^128), 16-byte secrets; the 32-byte X25519 key is shared as two halves, as Flower's
SecAgg+ does): a maintained library that installs beside our pins, so no field arithmetic is
written here. Reconstructions are checked (the rebuilt key must match its public key, the
rebuilt seed its commitment), so a wrong share is an error, not a wrong sum.

What it does not do: it protects against a server that follows the protocol and looks at what it
receives. A malicious server can defeat it (for example by announcing a roster of Sybil sites or
by sending a crafted model, Fowl et al. 2022), which is why differential privacy is still needed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from Crypto.Protocol.SecretSharing import Shamir
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, PublicFormat, NoEncryption

from .._validate import check_int
from ..errors import InvalidParameterError, SecureAggregationError, TamperedMessageError
from .quantize import Quantizer

_RAW = dict(encoding=Encoding.Raw, format=PublicFormat.Raw)


def _public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(**_RAW)


def _private_bytes(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _hkdf(secret: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=info.encode()).derive(secret)


#: Most values one masked update may hold (8 bytes each: 400 MB of mask per pair of sites);
#: the lessons' models have under a million parameters.
MAX_LENGTH = 50_000_000


def prg(seed: bytes, length: int) -> np.ndarray:
    """``length`` pseudo-random uint64 values from a 32-byte seed (ChaCha20 key stream)."""
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != 32:
        raise InvalidParameterError(
            f"`seed` must be 32 bytes (a key from the key agreement); got {seed!r:.60}.")
    length = check_int("length", length, low=0, high=MAX_LENGTH,
                       hint="Pass the number of values in one update.")
    stream = Cipher(algorithms.ChaCha20(seed, bytes(16)), mode=None).encryptor()
    return np.frombuffer(stream.update(bytes(8 * length)), dtype="<u8").astype(np.uint64)


def _pair_seed(private: X25519PrivateKey, peer: bytes, round_id: str, u: int, v: int) -> bytes:
    a, b = min(u, v), max(u, v)
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer))
    return _hkdf(shared, f"medpriv secagg mask {round_id} {a} {b}")


def _pair_sign(u: int, v: int) -> int:
    """+1 when u adds the mask it shares with v, −1 when it subtracts it."""
    return 1 if v > u else -1


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class AdvertisedKeys:
    """Step 1, site → server → everyone: public keys and the commitment to b_u."""

    site_id: int
    share_key: bytes      # c_u^PK (32 bytes)
    mask_key: bytes       # s_u^PK (32 bytes)
    seed_commitment: bytes  # SHA-256(b_u)


@dataclass(frozen=True)
class SealedShare:
    """Step 2, site u → server → site v: u's Shamir shares for v, AES-GCM sealed."""

    sender: int
    receiver: int
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class MaskedInput:
    """Step 3, site → server: y_u (uint64, the ring Z_{2^64})."""

    site_id: int
    values: np.ndarray


@dataclass(frozen=True)
class UnmaskingRequest:
    """Step 4, server → survivors: who sent y (``survivors``) and who did not (``dropped``)."""

    survivors: tuple[int, ...]
    dropped: tuple[int, ...]


@dataclass(frozen=True)
class UnmaskingShares:
    """Step 4, survivor → server: its shares of b_u (survivors) and of s_u (dropped sites).

    Values are (share index, 16-byte share) pairs; s_u's are two halves."""

    site_id: int
    seed_shares: dict = field(default_factory=dict)
    key_shares: dict = field(default_factory=dict)


# ---------------------------------------------------------------- a site


class SecAggSite:
    """One hospital's side of one round (fresh keys every round, so nothing carries over)."""

    def __init__(self, site_id: int, *, round_id: str | int = 0) -> None:
        self.site_id = check_int("site_id", site_id, low=0)
        self.round_id = str(round_id)
        self._c = X25519PrivateKey.generate()
        self._s = X25519PrivateKey.generate()
        self._b = os.urandom(16)
        self._roster: dict[int, AdvertisedKeys] = {}
        self._held: dict[int, tuple] = {}      # other site → (index, b share, s shares)
        self._index: dict[int, int] = {}       # site id → Shamir index (1-based)
        self._threshold = 0
        self._sent_input = False

    def advertise(self) -> AdvertisedKeys:
        return AdvertisedKeys(self.site_id, _public_bytes(self._c.public_key()),
                              _public_bytes(self._s.public_key()),
                              hashlib.sha256(self._b).digest())

    def _box(self, peer: int) -> AESGCM:
        other = X25519PublicKey.from_public_bytes(self._roster[peer].share_key)
        a, b = sorted((self.site_id, peer))
        return AESGCM(_hkdf(self._c.exchange(other), f"medpriv secagg shares {self.round_id} {a} {b}"))

    def _aad(self, sender: int, receiver: int) -> bytes:
        return f"{self.round_id}|{sender}->{receiver}".encode()

    def share_keys(self, roster: Mapping[int, AdvertisedKeys], *, threshold: int
                   ) -> dict[int, SealedShare]:
        """Step 2: Shamir-share b_u and s_u among the roster; one sealed box per other site."""
        ids = sorted(roster)
        if self.site_id not in roster or roster[self.site_id] != self.advertise():
            raise SecureAggregationError(
                f"The server's list of hospitals does not hold hospital {self.site_id}'s own "
                f"keys; it refuses to go on. Start the round again.")
        n = len(ids)
        threshold = check_int("threshold", threshold, low=2, high=n,
                              hint="At least 2 shares, at most one per hospital.")
        self._roster, self._threshold = dict(roster), threshold
        self._index = {sid: i + 1 for i, sid in enumerate(ids)}
        secret = _private_bytes(self._s)
        b_shares = Shamir.split(threshold, n, self._b)
        s_lo = Shamir.split(threshold, n, secret[:16])
        s_hi = Shamir.split(threshold, n, secret[16:])
        out = {}
        for sid in ids:
            i = self._index[sid] - 1
            payload = b_shares[i][1] + s_lo[i][1] + s_hi[i][1]
            if sid == self.site_id:
                self._held[sid] = (b_shares[i][0], b_shares[i][1], s_lo[i][1], s_hi[i][1])
                continue
            nonce = os.urandom(12)
            out[sid] = SealedShare(self.site_id, sid, nonce, self._box(sid).encrypt(
                nonce, payload, self._aad(self.site_id, sid)))
        return out

    def receive_shares(self, boxes: Mapping[int, SealedShare]) -> None:
        """Keep the shares the other sites sent (opened with the agreed keys)."""
        for sender, box in boxes.items():
            if box.receiver != self.site_id or box.sender != sender or sender not in self._roster:
                raise SecureAggregationError(
                    f"Hospital {self.site_id} received a share addressed from {box.sender} to "
                    f"{box.receiver}; the server misrouted it. Start the round again.")
            try:
                payload = self._box(sender).decrypt(box.nonce, box.ciphertext,
                                                    self._aad(sender, self.site_id))
            except InvalidTag:
                raise TamperedMessageError(
                    f"The sealed key shares from hospital {sender} to hospital {self.site_id} "
                    f"failed their authentication check: they were altered on the way. They were "
                    f"discarded; start the round again over a connection you trust.") from None
            self._held[sender] = (self._index[self.site_id], payload[:16], payload[16:32],
                                  payload[32:48])

    def masked_input(self, encoded: np.ndarray) -> MaskedInput:
        """Step 3: y_u for the quantised update ``encoded`` (uint64, from :class:`Quantizer`)."""
        x = np.asarray(encoded)
        if x.dtype != np.uint64 or x.ndim != 1:
            raise InvalidParameterError(
                f"`encoded` must be a 1-D uint64 array from Quantizer.encode; got dtype "
                f"{x.dtype}, shape {x.shape}.")
        if not self._roster:
            raise SecureAggregationError(
                f"Hospital {self.site_id} has not shared its keys yet (step 2), so its masks "
                f"could never be removed; it sends nothing.")
        y = x + prg(_hkdf(self._b, f"medpriv secagg self {self.round_id}"), x.size)
        for v, keys in self._roster.items():
            if v == self.site_id:
                continue
            mask = prg(_pair_seed(self._s, keys.mask_key, self.round_id, self.site_id, v), x.size)
            y = y + mask if _pair_sign(self.site_id, v) > 0 else y - mask
        self._sent_input = True
        return MaskedInput(self.site_id, y)

    def unmask(self, request: UnmaskingRequest) -> UnmaskingShares:
        """Step 4: hand over the shares the server may have (checked before anything leaves)."""
        survivors, dropped = set(request.survivors), set(request.dropped)
        if survivors & dropped or (survivors | dropped) != set(self._roster):
            raise SecureAggregationError(
                "The server asked for shares of a hospital it listed both as present and as "
                "dropped (or for hospitals outside this round); that would unmask a single "
                "hospital's update, so no share is sent.")
        if self.site_id not in survivors:
            raise SecureAggregationError(
                f"The server listed hospital {self.site_id} as dropped, but it is answering; "
                f"it sends no shares for this round.")
        if len(survivors) < self._threshold:
            raise SecureAggregationError(_too_few(len(survivors), len(self._roster),
                                                  self._threshold))
        seeds = {u: (self._held[u][0], self._held[u][1]) for u in sorted(survivors)}
        keys = {u: (self._held[u][0], self._held[u][2], self._held[u][3]) for u in sorted(dropped)}
        return UnmaskingShares(self.site_id, seeds, keys)


def _too_few(n_left: int, n: int, threshold: int) -> str:
    return (f"Only {n_left} of {n} hospitals are still taking part in this round, but removing "
            f"the masks needs at least {threshold} (the threshold chosen when the federation was "
            f"set up). The round is abandoned and nothing is released: a partial sum would not "
            f"be the sum of the updates, and with too few hospitals it could reveal one of them. "
            f"Run the round again when more hospitals are online, or set up the federation "
            f"with a lower threshold.")


# ---------------------------------------------------------------- the server


class SecAggServer:
    """The server's side of one round: it relays messages and learns only the sum.

    Parameters
    ----------
    site_ids : the hospitals invited to this round.
    threshold : t, the shares needed to rebuild a secret (2 ≤ t ≤ n); default n // 2 + 1.
    length : d, the number of values in every update.
    round_id : binds keys and masks to this round.
    """

    def __init__(self, *, site_ids: Sequence[int], length: int, threshold: int | None = None,
                 round_id: str | int = 0) -> None:
        if isinstance(site_ids, (str, bytes)) or not isinstance(site_ids, Iterable):
            raise InvalidParameterError(
                f"`site_ids` must be a sequence of hospital numbers such as [0, 1, 2]; got "
                f"{site_ids!r:.60}.")
        ids = [check_int("site_ids", s, low=0) for s in site_ids]
        if len(ids) < 2 or len(set(ids)) != len(ids):
            raise InvalidParameterError(
                f"`site_ids` must name at least 2 different hospitals (secure aggregation of one "
                f"update would be that update); got {list(site_ids)}.")
        self.site_ids = tuple(sorted(ids))
        n = len(ids)
        self.threshold = (n // 2 + 1 if threshold is None else
                          check_int("threshold", threshold, low=2, high=n,
                                    hint="At least 2 shares, at most one per hospital."))
        self.threshold = max(self.threshold, 2)
        self.length = check_int("length", length, low=1, high=MAX_LENGTH,
                                hint="Pass the number of values in one update.")
        self.round_id = str(round_id)
        self._roster: dict[int, AdvertisedKeys] = {}
        self._masked: dict[int, MaskedInput] = {}
        self._request: UnmaskingRequest | None = None

    def collect_keys(self, keys: Sequence[AdvertisedKeys]) -> dict[int, AdvertisedKeys]:
        """Step 1: the roster every site receives (sites that sent no keys are simply absent)."""
        roster = {k.site_id: k for k in keys if k.site_id in self.site_ids}
        if len(roster) < self.threshold:
            raise SecureAggregationError(_too_few(len(roster), len(self.site_ids), self.threshold))
        self._roster = roster
        return dict(roster)

    def route_shares(self, outboxes: Mapping[int, Mapping[int, SealedShare]]
                     ) -> dict[int, dict[int, SealedShare]]:
        """Step 2: deliver each sealed box to its receiver (the server cannot open them)."""
        inboxes: dict[int, dict[int, SealedShare]] = {sid: {} for sid in self._roster}
        for sender, boxes in outboxes.items():
            for receiver, box in boxes.items():
                if receiver in inboxes:
                    inboxes[receiver][sender] = box
        return inboxes

    def unmasking_request(self, masked: Mapping[int, MaskedInput]) -> UnmaskingRequest:
        """Step 3 → 4: record the y_u received; tell the survivors who dropped out."""
        for sid, m in masked.items():
            if sid not in self._roster or m.site_id != sid:
                raise SecureAggregationError(
                    f"A masked update claims to come from hospital {m.site_id} but arrived as "
                    f"{sid}, or that hospital is not in this round; it is not used. Start the "
                    f"round again.")
            if m.values.dtype != np.uint64 or m.values.shape != (self.length,):
                raise SecureAggregationError(
                    f"Hospital {sid}'s masked update has shape {m.values.shape} and dtype "
                    f"{m.values.dtype}; every update must hold {self.length} uint64 values. It is "
                    f"not used; check that all hospitals run the same model.")
        survivors = tuple(sorted(masked))
        if len(survivors) < self.threshold:
            raise SecureAggregationError(_too_few(len(survivors), len(self._roster), self.threshold))
        self._masked = dict(masked)
        self._request = UnmaskingRequest(survivors, tuple(s for s in sorted(self._roster)
                                                          if s not in masked))
        return self._request

    @property
    def received(self) -> dict[int, np.ndarray]:
        """What the server holds from each site: its masked input y_u (uniform noise)."""
        return {sid: m.values for sid, m in self._masked.items()}

    def finish(self, answers: Mapping[int, UnmaskingShares]) -> np.ndarray:
        """Step 4: rebuild the seeds and keys from ≥ t answers; return Σ x_u (uint64)."""
        if self._request is None:
            raise SecureAggregationError("No masked updates were collected; nothing to unmask.")
        req = self._request
        good = {sid: a for sid, a in answers.items() if sid in req.survivors}
        if len(good) < self.threshold:
            raise SecureAggregationError(_too_few(len(good), len(self._roster), self.threshold))
        total = np.zeros(self.length, dtype=np.uint64)
        for y in self._masked.values():
            total = total + y.values
        for u in req.survivors:
            seed = _combine([a.seed_shares[u] for a in good.values()], self.threshold)
            if hashlib.sha256(seed).digest() != self._roster[u].seed_commitment:
                raise SecureAggregationError(_bad_share(u))
            total = total - prg(_hkdf(seed, f"medpriv secagg self {self.round_id}"), self.length)
        for u in req.dropped:
            lo = _combine([(i, a) for i, a, _ in (a.key_shares[u] for a in good.values())],
                          self.threshold)
            hi = _combine([(i, b) for i, _, b in (a.key_shares[u] for a in good.values())],
                          self.threshold)
            key = X25519PrivateKey.from_private_bytes(lo + hi)
            if _public_bytes(key.public_key()) != self._roster[u].mask_key:
                raise SecureAggregationError(_bad_share(u))
            for v in req.survivors:
                mask = prg(_pair_seed(key, self._roster[v].mask_key, self.round_id, u, v),
                           self.length)
                # y_v holds sign(v, u) · mask; take it out
                total = total - mask if _pair_sign(v, u) > 0 else total + mask
        return total


def _combine(shares: list, threshold: int) -> bytes:
    return Shamir.combine(sorted(shares)[:threshold])


def _bad_share(site: int) -> str:
    return (f"The shares handed in for hospital {site} rebuild a key that does not match the one "
            f"it announced: a share was corrupted. Nothing is released for this round; run it "
            f"again.")


# ---------------------------------------------------------------- one call


@dataclass(frozen=True)
class SecureSum:
    """The result of one securely aggregated round.

    total : float64 (d,), Σ x_u over the sites that sent their update (decoded).
    survivors, dropped : site ids.
    masked : {site id: uint64 (d,)}, exactly what the server received from each site.
    max_error : bound on |total − Σ x_u| per coordinate from the fixed-point encoding.
    """

    total: np.ndarray
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]
    masked: dict
    max_error: float


def secure_sum(updates: Mapping[int, np.ndarray], *, threshold: int | None = None,
               drop_after_sharing: Sequence[int] = (), quantizer: Quantizer | None = None,
               round_id: str | int = 0) -> SecureSum:
    """Run one whole round of the protocol in this process and return the sum.

    Parameters
    ----------
    updates : {site id: float array (d,)}, the same length for every site.
    threshold : t (default: a majority, n // 2 + 1, at least 2).
    drop_after_sharing : sites that share their keys and then go offline before sending their
        masked update (the case the Shamir shares are for).
    quantizer : fixed-point encoding (default :class:`Quantizer`).
    round_id : binds keys and masks to this round.

    Raises :class:`SecureAggregationError` when more sites drop out than the threshold allows.
    """
    if not isinstance(updates, Mapping) or len(updates) < 2:
        raise InvalidParameterError(
            "`updates` must map at least 2 hospitals to their updates (the sum of a single "
            f"update is that update); got {len(updates) if isinstance(updates, Mapping) else updates!r}.")
    quantizer = quantizer if quantizer is not None else Quantizer()
    vectors = {int(k): np.asarray(v, dtype=np.float64).reshape(-1) for k, v in updates.items()}
    lengths = {v.size for v in vectors.values()}
    if len(lengths) != 1:
        raise InvalidParameterError(f"Every update must hold the same number of values; got "
                                    f"lengths {sorted(lengths)}.")
    drop = set(int(s) for s in drop_after_sharing)
    unknown = drop - set(vectors)
    if unknown:
        raise InvalidParameterError(f"`drop_after_sharing` names hospitals {sorted(unknown)} that "
                                    f"are not in `updates` ({sorted(vectors)}).")
    length = lengths.pop()
    sites = {sid: SecAggSite(sid, round_id=round_id) for sid in sorted(vectors)}
    server = SecAggServer(site_ids=list(sites), length=length, threshold=threshold,
                          round_id=round_id)
    roster = server.collect_keys([s.advertise() for s in sites.values()])
    outboxes = {sid: s.share_keys(roster, threshold=server.threshold) for sid, s in sites.items()}
    for sid, inbox in server.route_shares(outboxes).items():
        sites[sid].receive_shares(inbox)
    online = [sid for sid in sites if sid not in drop]
    if len(online) < server.threshold:
        raise SecureAggregationError(_too_few(len(online), len(sites), server.threshold))
    masked = {sid: sites[sid].masked_input(quantizer.encode(vectors[sid])) for sid in online}
    request = server.unmasking_request(masked)
    total = server.finish({sid: sites[sid].unmask(request) for sid in request.survivors})
    return SecureSum(quantizer.decode(total), request.survivors, request.dropped,
                     server.received, quantizer.max_sum_error(len(request.survivors)))


__all__ = ["AdvertisedKeys", "MaskedInput", "SealedShare", "SecAggServer", "SecAggSite",
           "SecureSum", "UnmaskingRequest", "UnmaskingShares", "prg", "secure_sum"]
