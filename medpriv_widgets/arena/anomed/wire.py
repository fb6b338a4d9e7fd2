"""AnoMed's wire format: named numpy arrays as ``np.savez_compressed`` bytes.

The same bytes as ``anomed_utils.named_ndarrays_to_bytes`` / ``bytes_to_named_ndarrays``
(content type ``application/octet-stream``), read with ``allow_pickle=False`` so a payload can
never run code. X-rays travel as uint8 (N, 1, S, S): 5,000 float32 images were 68 MiB and took
12.5 s to pack, past AnoMed's deanonymizer's fixed 10 s timeout; uint8 is a quarter of that and
loses nothing (the files are uint8).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from ...errors import ProtocolError

CONTENT_TYPE = "application/octet-stream"


def arrays_to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Named arrays → compressed ``.npz`` bytes (object arrays are refused)."""
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.dtype == object:
            raise ProtocolError(f"Array {name!r} must be a numpy array of numbers, booleans or "
                                f"strings; got {type(a).__name__}"
                                f"{'' if not isinstance(a, np.ndarray) else ' of objects'}.")
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def bytes_to_arrays(data: bytes, *, expected: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """``.npz`` bytes → named arrays; ProtocolError when unreadable or an expected name is
    missing."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ProtocolError(f"The payload is not named numpy arrays (np.savez_compressed "
                            f"bytes): {exc}.") from None
    missing = [n for n in expected if n not in arrays]
    if missing:
        raise ProtocolError(f"The payload lacks the array(s) {missing}; it holds "
                            f"{sorted(arrays)}.")
    return arrays


def images_to_uint8(images) -> np.ndarray:
    """Float X-rays (N, 1, S, S) in [0, 1] (torch or numpy) → uint8 (N, 1, S, S)."""
    a = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if a.dtype == np.uint8:
        return a
    return np.clip(np.rint(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


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
