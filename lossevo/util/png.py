"""PNG images as base64 text: how sample grids cross process boundaries and reach figures."""

from __future__ import annotations

import base64
import io

import numpy as np


def png_base64(array: np.ndarray) -> str:
    """A uint8 image array (H, W) or (H, W, C) as base64 PNG text."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    """Inverse of :func:`png_base64`: base64 PNG text as a numpy image array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))
