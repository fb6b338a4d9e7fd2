"""What a model accepts, checked where images enter it, with a sentence instead of a torch error.

Every model here takes a float tensor of grey-scale images ``(B, 1, S, S)`` with values in
[0, 1], S its ``size``. Two checks, by cost:

- :func:`check_input_layout` — dtype, number of dimensions, one channel, S × S: metadata only,
  no pass over the pixels and no GPU synchronisation, so ``forward`` runs it on every call
  (training steps and attacks included).
- :func:`check_images` — the layout plus one pass over the pixels: every value finite. Used at
  the boundaries where data enter from outside (``training.evaluate``); not in ``forward``,
  where an attack's optimiser may legitimately produce, and then handle, NaN.
"""

from __future__ import annotations

import torch

from ..errors import InvalidParameterError

__all__ = ["check_images", "check_input_layout"]


def check_input_layout(images, *, size: int, dtype: torch.dtype = torch.float32,
                       name: str = "images") -> torch.Tensor:
    """Raise InvalidParameterError unless ``images`` is a ``dtype`` tensor (B, 1, size, size)."""
    want = f"a float tensor of grey-scale images, shape (B, 1, {size}, {size}), values in [0, 1]"
    if not isinstance(images, torch.Tensor):
        raise InvalidParameterError(
            f"`{name}` must be {want}; got {type(images).__name__}. Convert with "
            f"torch.as_tensor(images, dtype=torch.float32).")
    if not images.is_floating_point():
        raise InvalidParameterError(
            f"`{name}` must be {want}; got dtype {images.dtype}. Grey levels 0-255 become "
            f"model input with images.float() / 255.")
    if images.dtype != dtype:
        raise InvalidParameterError(
            f"`{name}` must be {want} in the model's precision {dtype}; got {images.dtype}. "
            f"Convert with images.to({dtype}).")
    shape = tuple(images.shape)
    if images.ndim == 3 and shape[0] == 1 and shape[1] == shape[2] == size:
        hint = " Add the batch dimension with images.unsqueeze(0)."
    elif images.ndim == 3:
        hint = " Add the channel dimension with images.unsqueeze(1)."
    elif images.ndim == 4 and shape[1] in (3, 4):
        hint = (" Colour (RGB/RGBA) images must be made grey first, e.g. "
                "images.mean(dim=1, keepdim=True).")
    elif images.ndim == 4 and shape[-1] in (1, 3, 4) and shape[1] == shape[2]:
        hint = " The channels come last; move them with images.permute(0, 3, 1, 2)."
    elif images.ndim == 4 and shape[1] == 1:
        hint = (f" This model was built for {size} px images; use a model of the data's size "
                f"(make_model(size={shape[-1]})) or load the data at {size} px.")
    else:
        hint = ""
    if images.ndim != 4 or shape[1] != 1 or shape[2] != size or shape[3] != size:
        raise InvalidParameterError(f"`{name}` must be {want}; got shape {shape}.{hint}")
    return images


def check_images(images, *, size: int, dtype: torch.dtype = torch.float32,
                 name: str = "images") -> torch.Tensor:
    """:func:`check_input_layout` plus: every pixel finite (no NaN or infinity)."""
    check_input_layout(images, size=size, dtype=dtype, name=name)
    if images.numel() and not bool(torch.isfinite(images).all()):
        bad = int((~torch.isfinite(images)).sum())
        raise InvalidParameterError(
            f"`{name}` must hold finite pixel values; got {bad:,} NaN or infinite values. "
            f"Check how the images were loaded or normalised.")
    return images
