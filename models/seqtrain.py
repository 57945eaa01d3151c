"""Training and full-ranking evaluation of the sequential recommender (no I/O here).

Split: leave-last-out per user (the last item is the test target, the one before it the
validation target, the rest trains). Evaluation ranks EVERY item for each user, minus
the items already in the user's history (the same rule for every model), and reports
HR@K and NDCG@K. Baselines: popularity over the training data and co-visitation of the
user's last items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .covisit import CoVisitation
from .sequential import SeqRec


@dataclass
class Split:
    item_ids: list[str]                      # index i + 1 <-> item_ids[i]
    train: list[list[int]]                   # training sequences (encoded)
    valid: list[tuple[list[int], int]]       # (history, target)
    test: list[tuple[list[int], int]]


def leave_last_out(user_seqs: dict[str, list[str]], min_len: int = 3) -> Split:
    """Encode item ids and split each user's time-ordered sequence."""
    items = sorted({i for s in user_seqs.values() for i in s}, key=lambda x: (len(x), x))
    index = {item: n + 1 for n, item in enumerate(items)}
    split = Split(items, [], [], [])
    for _, seq in sorted(user_seqs.items()):
        enc = [index[i] for i in seq]
        if len(enc) < min_len:
            continue
        split.train.append(enc[:-2])
        split.valid.append((enc[:-2], enc[-2]))
        split.test.append((enc[:-1], enc[-1]))
    return split


@dataclass
class History:
    loss: list[float] = field(default_factory=list)
    valid_hr: list[float] = field(default_factory=list)
    best_epoch: int = -1


def _windows(seqs: Sequence[list[int]], max_len: int) -> list[list[int]]:
    out = []
    for s in seqs:
        for end in range(len(s), 1, -max_len):
            out.append(s[max(0, end - max_len - 1): end])
    return out


def train(model: SeqRec, split: Split, *, epochs: int = 30, batch_size: int = 64,
          lr: float = 1e-3, patience: int = 3, seed: int = 0, device: str = "cpu",
          progress: Callable[[int, float, float], None] | None = None) -> History:
    """Next-item training with full softmax; early stopping on validation HR@10.

    The best epoch's weights are restored at the end.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)
    windows = _windows(split.train, model.config.max_len)
    hist = History()
    best, best_state, bad = -1.0, None, 0
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        order = rng.permutation(len(windows)).tolist()    # each window once per epoch
        for start in range(0, len(windows), batch_size):
            batch = [windows[i] for i in order[start:start + batch_size]]
            ids, mask = model.pad([w[:-1] for w in batch], device)
            tgt, _ = model.pad([w[1:] for w in batch], device)
            logits = model(ids, mask)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        model.eval()
        hr, _ = evaluate(lambda h: model.score_all(h), split.valid, k=10)
        hist.loss.append(total / max(count, 1))
        hist.valid_hr.append(hr)
        if progress:
            progress(epoch, hist.loss[-1], hr)
        if hr > best:
            best, bad, hist.best_epoch = hr, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return hist


def evaluate(score_all: Callable[[list[list[int]]], torch.Tensor],
             cases: Sequence[tuple[list[int], int]], k: int = 10, batch_size: int = 256
             ) -> tuple[float, float]:
    """(HR@k, NDCG@k) ranking all items, history excluded, for (history, target) cases."""
    hits, ndcg = 0.0, 0.0
    for start in range(0, len(cases), batch_size):
        chunk = cases[start:start + batch_size]
        scores = score_all([h for h, _ in chunk]).detach().float().cpu().clone()
        for row, (h, target) in enumerate(chunk):
            s = scores[row]
            t = float(s[target])
            hist = torch.as_tensor([i for i in set(h) if i != target], dtype=torch.long)
            if hist.numel():
                s[hist] = float("-inf")
            s[0] = float("-inf")
            rank = int((s > t).sum())
            if rank < k:
                hits += 1
                ndcg += 1.0 / math.log2(rank + 2)
    n = max(len(cases), 1)
    return hits / n, ndcg / n


def popularity_scorer(split: Split) -> Callable[[list[list[int]]], torch.Tensor]:
    counts = torch.zeros(len(split.item_ids) + 1)
    for s in split.train:
        counts += torch.bincount(torch.as_tensor(s), minlength=counts.numel()).float()
    return lambda hs: counts.expand(len(hs), -1).clone()


def covisit_scorer(split: Split, window: int = 5, last: int = 5, decay: float = 0.7
                   ) -> Callable[[list[list[int]]], torch.Tensor]:
    cv = CoVisitation(window=window)
    for s in split.train:
        cv.learn_sequence([str(i) for i in s])
    n = len(split.item_ids) + 1

    def score(hs: list[list[int]]) -> torch.Tensor:
        out = torch.zeros(len(hs), n)
        for r, h in enumerate(hs):
            w = 1.0
            for item in reversed(h[-last:]):
                for cand, sc in cv.neighbours(str(item), 200):
                    out[r, int(cand)] += w * sc
                w *= decay
        return out
    return score
