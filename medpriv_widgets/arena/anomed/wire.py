"""AnoMed's wire format: named numpy arrays as ``np.savez_compressed`` bytes.

The same bytes as ``anomed_utils.named_ndarrays_to_bytes`` / ``bytes_to_named_ndarrays``
(content type ``application/octet-stream``), read with ``allow_pickle=False`` so a payload can
never run code. X-rays travel as uint8 (N, 1, S, S): 5,000 float32 images were 68 MiB and took
12.5 s to pack, past AnoMed's deanonymizer's fixed 10 s timeout; uint8 is a quarter of that and
loses nothing (the files are uint8).
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from ...errors import InvalidParameterError, ProtocolError

CONTENT_TYPE = "application/octet-stream"
#: Most bytes a payload's arrays may declare in all (5,000 uint8 X-rays of 64 px are 20 MB): a
#: forged ``.npy`` header, or a deflate bomb, is refused before anything is allocated.
MAX_ARRAY_BYTES = 2 * 1024**3
#: Deflate cannot expand data more than ~1032-fold; a zip entry claiming more is lying.
_MAX_DEFLATE_RATIO = 1100
#: Names ``np.savez_compressed`` keeps for its own parameters.
_RESERVED = ("file", "allow_pickle")


def arrays_to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Named arrays → compressed ``.npz`` bytes (object arrays are refused)."""
    if not isinstance(arrays, Mapping):
        raise InvalidParameterError(f"`arrays` must be a dict of name → numpy array, e.g. "
                                    f"{{'X': X, 'y': y}}; got {type(arrays).__name__}.")
    for name, a in arrays.items():
        if not isinstance(name, str) or not name or name in _RESERVED:
            raise InvalidParameterError(f"Each array needs a name that is a non-empty string "
                                        f"other than {' or '.join(map(repr, _RESERVED))}; got "
                                        f"{name!r}.")
        if not isinstance(a, np.ndarray) or a.dtype == object:
            raise ProtocolError(f"Array {name!r} must be a numpy array of numbers, booleans or "
                                f"strings; got {type(a).__name__}"
                                f"{'' if not isinstance(a, np.ndarray) else ' of objects'}.")
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _check_expected(expected) -> tuple[str, ...]:
    if isinstance(expected, (str, bytes)):
        raise InvalidParameterError(f"`expected` must be a tuple of array names, e.g. "
                                    f"({expected!r},); got the single string {expected!r}.")
    try:
        names = tuple(expected)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise InvalidParameterError(f"`expected` must be a tuple of array names (strings), e.g. "
                                    f"('X', 'y'); got {expected!r}.")
    return names


def _declared_bytes(npz, name: str) -> int:
    """Bytes the ``.npy`` header of ``name`` declares, checked against what the archive holds,
    read before the array is allocated (a header can declare terabytes)."""
    names = npz.zip.namelist()
    member = f"{name}.npy" if f"{name}.npy" in names else name
    info = npz.zip.getinfo(member)
    limit = (info.compress_size if info.compress_type == zipfile.ZIP_STORED
             else info.compress_size * _MAX_DEFLATE_RATIO + 1024)
    if info.file_size > limit:
        raise ProtocolError(f"The payload's array {name!r} claims {info.file_size:,} bytes in "
                            f"{info.compress_size:,} sent bytes: a damaged or forged archive. "
                            f"Use np.savez_compressed bytes.")
    with npz.zip.open(member) as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise ProtocolError(f"The payload's entry {name!r} is not a numpy array; send only "
                                f"arrays (np.savez_compressed).")
        fh.seek(0)
        version = np.lib.format.read_magic(fh)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _fortran, dtype = read(fh)
        header = fh.tell()
    if dtype.hasobject:
        raise ProtocolError(f"The payload's array {name!r} holds Python objects, which are "
                            f"refused for safety; use numbers, booleans or strings.")
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size - header:
        raise ProtocolError(f"The payload's array {name!r} declares shape {shape} "
                            f"({declared:,} bytes) but holds only "
                            f"{max(info.file_size - header, 0):,}; try sending the arrays again.")
    return declared


def bytes_to_arrays(data: bytes, *, expected: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """``.npz`` bytes → named arrays; ProtocolError when unreadable, larger than
    :data:`MAX_ARRAY_BYTES`, or an expected name is missing."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidParameterError(f"`data` must be the bytes of a payload "
                                    f"(np.savez_compressed); got {type(data).__name__}.")
    expected = _check_expected(expected)
    # np.load reads a lone .npy (np.save bytes) whole, and its header may declare terabytes;
    # anything else that is not a zip archive it would try as a pickle
    head = bytes(data[:6])
    if head == b"\x93NUMPY":
        raise ProtocolError("The payload is a single numpy array (np.save bytes), not named "
                            "arrays; use np.savez_compressed(buf, X=X, y=y).")
    if not head.startswith(b"PK"):
        got = f"its {len(data):,} bytes start with {head!r}" if head else "it is empty"
        raise ProtocolError(f"The payload is not named numpy arrays (np.savez_compressed "
                            f"bytes): {got}. Use np.savez_compressed to pack them.")
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, MemoryError)
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except unreadable as exc:
        raise ProtocolError(f"The payload is not named numpy arrays (np.savez_compressed "
                            f"bytes): {str(exc).rstrip('.')}. Use np.savez_compressed to pack "
                            f"them.") from None
    try:
        with npz:
            total = sum(_declared_bytes(npz, name) for name in npz.files)
            if total > MAX_ARRAY_BYTES:
                raise ProtocolError(f"The payload's arrays declare {total:,} bytes, more than "
                                    f"the {MAX_ARRAY_BYTES:,} accepted; split the X-rays "
                                    f"into smaller payloads.")
            arrays = {name: npz[name] for name in npz.files}
    except unreadable as exc:
        raise ProtocolError(f"The payload's arrays cannot be read ({exc}); send them again "
                            f"with np.savez_compressed.") from None
    missing = [n for n in expected if n not in arrays]
    if missing:
        raise ProtocolError(f"The payload lacks the array(s) {missing}; it holds "
                            f"{sorted(arrays)}. Use those names.")
    return arrays


def images_to_uint8(images) -> np.ndarray:
    """Float X-rays (N, 1, S, S) or (N, S, S) in [0, 1] (torch or numpy) → uint8 of the same
    shape (values a little outside [0, 1] are clipped; NaN or ±inf is refused)."""
    try:
        a = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    except (TypeError, ValueError):  # ragged nested lists
        a = None
    if (a is None or a.dtype.kind not in "biuf" or a.ndim not in (3, 4)
            or (a.ndim == 4 and a.shape[1] != 1)):
        raise InvalidParameterError(
            f"`images` must be grey-scale X-rays, a tensor or numpy array of numbers of shape "
            f"(N, 1, S, S) or (N, S, S); got {_describe(images)}.")
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InvalidParameterError(f"`images` must hold finite values in [0, 1]; got "
                                    f"{int((~np.isfinite(a)).sum())} NaN or infinite pixels.")
    return np.clip(np.rint(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def _describe(x) -> str:
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def images_from_wire(X: np.ndarray, *, size: int | None = None) -> np.ndarray:
    """X-rays as they arrive (uint8, or floats in [0, 1]) → float32 (N, 1, S, S) in [0, 1];
    ProtocolError for another shape, dtype or range."""
    if not isinstance(X, np.ndarray) or X.ndim not in (3, 4):
        raise ProtocolError(f"`X` must be X-rays (N, 1, S, S) or (N, S, S); got "
                            f"{getattr(X, 'shape', type(X).__name__)}.")
    if X.ndim == 3:
        X = X[:, None]
    if X.shape[1] != 1 or X.shape[2] != X.shape[3] or (size is not None and X.shape[2] != size):
        want = f"{size}×{size}" if size is not None else "square"
        raise ProtocolError(f"`X` must be grey-scale {want} X-rays (N, 1, S, S); got {X.shape}.")
    if X.dtype == np.uint8:
        return X.astype(np.float32) / 255.0
    if not np.issubdtype(X.dtype, np.floating):
        raise ProtocolError(f"`X` must be uint8 (0–255) or floats in [0, 1]; got {X.dtype}.")
    if X.size and (not np.isfinite(X).all() or X.min() < 0 or X.max() > 1):
        raise ProtocolError("`X` must hold finite values in [0, 1] (or uint8 0–255).")
    return X.astype(np.float32)


__all__ = ["CONTENT_TYPE", "arrays_to_bytes", "bytes_to_arrays", "images_from_wire",
           "images_to_uint8"]
