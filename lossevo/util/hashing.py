"""Content digests used as identities: of JSON-able data and of tensors."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def json_digest(data: Any, length: int = 16) -> str:
    """A short SHA-256 of ``data`` as key-sorted JSON: the identity of a config or protocol."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def tensors_digest(*tensors: Any, length: int = 16) -> str:
    """A short SHA-256 of each tensor's dtype, shape and bytes, in order; ``None`` is skipped."""
    import numpy as np

    h = hashlib.sha256()
    for t in tensors:
        if t is None:
            continue
        arr = np.ascontiguousarray(t.detach().cpu().numpy())
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:length]
