"""A SASRec-style next-item recommender: a causal GPT-2 encoder over item-id embeddings.

Built from a Hugging Face ``transformers`` config behind one :func:`build`; item 0 is the
padding id. Sequences are LEFT-padded and position ids count real items only, so a
sequence gets the same scores alone or in a padded batch. Scores are dot products of the
last hidden state with the (tied) item embeddings.

>>> import torch
>>> model = build(n_items=20, dim=16, layers=1, heads=2, max_len=8, seed=0).eval()
>>> seqs = [[3, 4, 5], [7]]
>>> batch = model.score(seqs, [[1, 2, 3], [4, 5, 6]])
>>> one = model.score([seqs[1]], [[4, 5, 6]])
>>> torch.allclose(batch[1], one[0], atol=1e-5)
True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import GPT2Config, GPT2Model


@dataclass(frozen=True)
class SeqRecConfig:
    n_items: int
    dim: int = 64
    layers: int = 2
    heads: int = 2
    max_len: int = 50
    dropout: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_items < 1:
            raise ValueError(f"n_items must be >= 1, got {self.n_items}")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.max_len < 2:
            raise ValueError(f"max_len must be >= 2, got {self.max_len}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class SeqRec(nn.Module):
    def __init__(self, config: SeqRecConfig) -> None:
        super().__init__()
        self.config = config
        torch.manual_seed(config.seed)
        self.item_emb = nn.Embedding(config.n_items + 1, config.dim, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        hf = GPT2Config(vocab_size=1, n_positions=config.max_len, n_embd=config.dim,
                        n_layer=config.layers, n_head=config.heads,
                        resid_pdrop=config.dropout, embd_pdrop=config.dropout,
                        attn_pdrop=config.dropout, bos_token_id=None, eos_token_id=None)
        hf._attn_implementation = "eager"
        self.body = GPT2Model(hf)
        self.body.wte = None  # inputs are our item embeddings

    # -- batching ----------------------------------------------------------------------
    def pad(self, seqs: list[list[int]], device: torch.device | str | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad (truncating to the last ``max_len`` items); returns (ids, mask)."""
        L = self.config.max_len
        seqs = [s[-L:] for s in seqs]
        width = max(1, max(len(s) for s in seqs))
        ids = torch.zeros(len(seqs), width, dtype=torch.long)
        for i, s in enumerate(seqs):
            if s:
                ids[i, width - len(s):] = torch.as_tensor(s, dtype=torch.long)
        dev = device or self.item_emb.weight.device
        return ids.to(dev), (ids != 0).long().to(dev)

    def hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, T, D) of left-padded ``ids``."""
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.body(inputs_embeds=self.item_emb(ids), attention_mask=mask,
                        position_ids=pos)
        return out.last_hidden_state

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, n_items + 1) for the next item at every position."""
        return self.hidden(ids, mask) @ self.item_emb.weight.T

    # -- serving -----------------------------------------------------------------------
    @torch.no_grad()
    def last_state(self, seqs: list[list[int]]) -> torch.Tensor:
        ids, mask = self.pad(seqs)
        return self.hidden(ids, mask)[:, -1]

    @torch.no_grad()
    def score(self, seqs: list[list[int]], candidates: list[list[int]]) -> torch.Tensor:
        """Scores (B, C) of each request's candidates (lists padded with id 0)."""
        h = self.last_state(seqs)
        width = max(1, max(len(c) for c in candidates))
        cand = torch.zeros(len(candidates), width, dtype=torch.long, device=h.device)
        for i, c in enumerate(candidates):
            if c:
                cand[i, : len(c)] = torch.as_tensor(c, dtype=torch.long)
        return torch.einsum("bd,bcd->bc", h, self.item_emb(cand))

    @torch.no_grad()
    def score_all(self, seqs: list[list[int]]) -> torch.Tensor:
        """Scores (B, n_items + 1) of every item (column 0, padding, is -inf)."""
        s = self.last_state(seqs) @ self.item_emb.weight.T
        s[:, 0] = float("-inf")
        return s


def build(n_items: int, dim: int = 64, layers: int = 2, heads: int = 2, max_len: int = 50,
          dropout: float = 0.2, seed: int = 0) -> SeqRec:
    """The one place a sequential recommender is configured (checked here, once)."""
    return SeqRec(SeqRecConfig(n_items, dim, layers, heads, max_len, dropout, seed))


def save(model: SeqRec, item_ids: list[str], folder: Path, metrics: dict | None = None) -> Path:
    """Weights (safetensors), config and item index into ``folder`` (written atomically:
    a temporary folder renamed into place)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, tmp / "model.safetensors")
    (tmp / "config.json").write_text(json.dumps(asdict(model.config)))
    (tmp / "items.json").write_text(json.dumps(item_ids))
    (tmp / "metrics.json").write_text(json.dumps(metrics or {}))
    import time
    import uuid
    (tmp / "version.txt").write_text(f"seqrec-{time.strftime('%Y%m%dT%H%M%S')}-"
                                     f"{uuid.uuid4().hex[:6]}")
    if folder.exists():
        import shutil
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def saved_version(folder: Path) -> str:
    """The version string written by :func:`save` (changes with every save)."""
    return (Path(folder) / "version.txt").read_text().strip()


def load(folder: Path, device: str = "cpu") -> tuple[SeqRec, list[str]]:
    """A saved model (eval mode) and its item index (position i + 1 = item id string)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = SeqRecConfig(**json.loads((folder / "config.json").read_text()))
    model = SeqRec(config)
    missing, unexpected = model.load_state_dict(load_file(folder / "model.safetensors"),
                                                strict=False)
    if [m for m in missing if not m.startswith("body.wte")] or unexpected:
        raise ValueError(f"{folder}: weights do not match the config "
                         f"(missing {missing}, unexpected {unexpected})")
    return model.to(device).eval(), json.loads((folder / "items.json").read_text())
