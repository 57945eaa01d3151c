"""Fine-tune the text encoder on a shop's own co-viewed pairs, and judge it on cold items.

- **Pairs** (:func:`next_item_pairs`): an item and the next different item the same user
  viewed. They say which texts this shop's users treat as related, which a general
  encoder does not know.
- **Training** (:func:`fine_tune`): contrastive, with in-batch negatives (InfoNCE, the
  loss sentence-transformers calls MultipleNegativesRankingLoss, in both directions).
  Each pair's two texts are pulled together and pushed away from the batch's other items.
- **Judging** (:func:`cold_start_hr`): the items first seen after a split time have no
  co-visits yet, so content similarity is all a recommender has for them. For every
  test-time step from such an item to the next item the user viewed, the step is a hit
  when the next item is among the cold item's ``k`` nearest items by text.

>>> events = [("u", "a", 1.0), ("u", "b", 2.0), ("u", "b", 3.0), ("u", "c", 4.0),
...           ("v", "c", 1.5), ("v", "a", 2.5)]
>>> sorted(next_item_pairs(events).items())
[(('a', 'b'), 1), (('b', 'c'), 1), (('c', 'a'), 1)]
>>> split = cold_split(events, 0.3)
>>> split.ts, sorted(split.cold)
(3.0, [])
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

Event = tuple[str, str, float]     # (user, item, ts)
SCALE = 20.0                       # 1 / temperature of the contrastive loss


def _sequences(events: Iterable[Event]) -> dict[str, list[tuple[float, str]]]:
    seqs: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for user, item, ts in events:
        seqs[user].append((ts, item))
    for seq in seqs.values():
        seq.sort()
    return seqs


def next_item_pairs(events: Iterable[Event]) -> Counter[tuple[str, str]]:
    """(item, next different item of the same user) -> how often, users in time order."""
    pairs: Counter[tuple[str, str]] = Counter()
    for seq in _sequences(events).values():
        for (_, a), (_, b) in zip(seq, seq[1:], strict=False):
            if a != b:
                pairs[(a, b)] += 1
    return pairs


@dataclass(frozen=True)
class ColdSplit:
    ts: float              # events before it train; from it on, they judge
    cold: frozenset[str]   # items whose first event is at or after ts


def cold_split(events: Sequence[Event], test_share: float) -> ColdSplit:
    """Split at the time that leaves ``test_share`` of the events after it."""
    times = sorted(ts for _, _, ts in events)
    ts = times[min(len(times) - 1, int(len(times) * (1.0 - test_share)))]
    first: dict[str, float] = {}
    for _, item, t in events:
        first[item] = min(t, first.get(item, t))
    return ColdSplit(ts, frozenset(i for i, t in first.items() if t >= ts))


def cold_steps(events: Sequence[Event], split: ColdSplit) -> list[tuple[str, str]]:
    """Test-time steps (cold item, next item), each (user, step) once."""
    steps = set()
    for user, seq in _sequences(events).items():
        for (t, a), (_, b) in zip(seq, seq[1:], strict=False):
            if t >= split.ts and a in split.cold and a != b:
                steps.add((user, a, b))
    return sorted((a, b) for _, a, b in steps)


def cold_start_hr(ids: Sequence[str], vecs: np.ndarray, steps: Sequence[tuple[str, str]],
                  k: int = 20) -> tuple[float, float, int]:
    """HR@k of content candidates on ``steps``, with its standard error and count."""
    row = {i: n for n, i in enumerate(ids)}
    steps = [(a, b) for a, b in steps if a in row and b in row]
    if not steps:
        return 0.0, 0.0, 0
    heads = sorted({a for a, _ in steps})
    sims = vecs[[row[a] for a in heads]] @ vecs.T
    sims[np.arange(len(heads)), [row[a] for a in heads]] = -np.inf      # not itself
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    near = {a: {ids[j] for j in top[n]} for n, a in enumerate(heads)}
    hits = sum(1 for a, b in steps if b in near[a])
    p = hits / len(steps)
    return p, math.sqrt(p * (1 - p) / len(steps)), len(steps)


def fine_tune(encoder, texts: Mapping[str, str], pairs: Sequence[tuple[str, str]], *,
              epochs: int = 1, batch_size: int = 32, lr: float = 2e-5, seed: int = 0,
              max_seconds: float | None = None,
              progress: Callable[[int, int, float], None] | None = None) -> list[float]:
    """Train ``encoder`` (a :class:`~streamrec.models.text_encoder.TextEncoder`) in place
    on ``pairs`` of item ids (texts from ``texts``); returns the loss of each step. A
    batch never holds one item twice, so no item is its own negative. Stops after
    ``max_seconds`` when given."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = encoder.model
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    pairs = [p for p in pairs if p[0] in texts and p[1] in texts]
    steps_per_epoch = max(1, len(pairs) // batch_size)
    total, losses, t0 = epochs * steps_per_epoch, [], time.monotonic()
    model.train()
    for _ in range(epochs):
        order = pairs[:]
        rng.shuffle(order)
        for batch in _batches(order, batch_size):
            a = encoder.embed([texts[x] for x, _ in batch])
            b = encoder.embed([texts[y] for _, y in batch])
            logits = SCALE * a @ b.T
            labels = torch.arange(len(batch), device=logits.device)
            loss = (torch.nn.functional.cross_entropy(logits, labels) +
                    torch.nn.functional.cross_entropy(logits.T, labels)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if progress:
                progress(len(losses), total, losses[-1])
            if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                model.eval()
                return losses
    model.eval()
    return losses


def _batches(pairs: Sequence[tuple[str, str]], size: int) -> Iterable[list[tuple[str, str]]]:
    """Batches of ``size`` pairs in which no item appears twice; a pair that would repeat
    one waits for a later batch (at the epoch's end, pairs still waiting are left out).

    >>> list(_batches([("a", "b"), ("a", "c"), ("d", "e"), ("f", "g")], 2))
    [[('a', 'b'), ('d', 'e')], [('a', 'c'), ('f', 'g')]]
    """
    waiting: list[tuple[str, str]] = []
    rest = iter(pairs)
    while True:
        batch: list[tuple[str, str]] = []
        used: set[str] = set()
        later: list[tuple[str, str]] = []
        for pair in waiting:
            if len(batch) < size and pair[0] not in used and pair[1] not in used:
                batch.append(pair)
                used.update(pair)
            else:
                later.append(pair)
        for pair in rest if len(batch) < size else ():
            if pair[0] in used or pair[1] in used:
                later.append(pair)
                continue
            batch.append(pair)
            used.update(pair)
            if len(batch) == size:
                break
        waiting = later
        if len(batch) == size:
            yield batch
            continue
        if len(batch) > 1:
            yield batch
        return
