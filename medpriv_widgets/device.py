"""One device choice for the whole package: CUDA, else Apple MPS, else CPU.

``MEDPRIV_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) overrides the choice. Figures name the
device that ran them (:func:`device_label`).
"""

from __future__ import annotations

import os

import torch

from .errors import InvalidParameterError


def choose_device(override: str | None = None) -> torch.device:
    """Return the device to compute on.

    Order: explicit ``override`` > ``MEDPRIV_DEVICE`` > CUDA > MPS > CPU. An override naming a
    device that is not present raises :class:`InvalidParameterError` with what to do.
    """
    wanted = override if override is not None else os.environ.get("MEDPRIV_DEVICE", "").strip()
    if wanted:
        try:
            dev = torch.device(wanted)
        except (RuntimeError, ValueError):
            raise InvalidParameterError(
                f"`MEDPRIV_DEVICE` must be 'cpu', 'cuda', 'cuda:N' or 'mps'; got {wanted!r}. "
                "Unset it to let medpriv choose.") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InvalidParameterError(
                f"`MEDPRIV_DEVICE` asks for {wanted!r} but no CUDA GPU is visible. "
                "Unset MEDPRIV_DEVICE or set it to 'cpu'.")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise InvalidParameterError(
                f"`MEDPRIV_DEVICE` asks for 'mps' but Apple MPS is not available. "
                "Unset MEDPRIV_DEVICE or set it to 'cpu'.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_label(device: torch.device | None = None) -> str:
    """Human-readable name for figure titles, e.g. 'CPU (2 threads)' or 'GPU: NVIDIA H100'.

    ``device``: a torch.device, its name ('cpu', 'cuda:0', 'mps'), or None for
    :func:`choose_device`'s choice.
    """
    if device is None:
        dev = choose_device()
    elif isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            raise InvalidParameterError(
                f"`device` must be 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}.") from None
    else:
        raise InvalidParameterError(f"`device` must be a torch.device, its name ('cpu', 'cuda') "
                                    f"or None; got {device!r:.80}.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(f"`device` names {str(dev)!r} but no CUDA GPU is visible; "
                                    f"pass 'cpu' or None.")
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(dev)}"
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'' if n == 1 else 's'})"
