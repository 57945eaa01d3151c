"""Where torch models run: the device asked for, else ``cuda`` when present, else CPU."""

from __future__ import annotations

import torch


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    >>> pick_device("cpu")
    'cpu'
    """
    return device or ("cuda" if torch.cuda.is_available() else "cpu")
