"""``streamrec train``: train the sequential transformer on an event log, evaluate it
beside popularity and co-visitation in the same run, and save it (safetensors)."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from streamrec.models import seqtrain
from streamrec.models.device import pick_device
from streamrec.models.sequential import build, save
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import read_ratings


def run_train(settings: Settings, out: Path, *, users: int, epochs: int, dim: int, layers: int,
              heads: int, max_len: int, lr: float, batch_size: int, patience: int,
              dropout: float = 0.2,
              device: str | None = None, until: float | None = None, lines: bool = False
              ) -> dict:
    """Train on the ratings (of the first ``users`` users; before ``until``, Unix s, when
    given: ``evaluate --judge-from`` then judges only events the model never saw); with
    ``lines``, progress is one ``epoch N/E loss L valid_hr10 H`` line per epoch."""
    device = pick_device(device)
    data = settings.resolved_data_dir()
    seqs: dict[str, list[str]] = defaultdict(list)
    for user, item, _, ts in read_ratings(data, users):
        if until is None or ts < until:
            seqs[user].append(item)
    split = seqtrain.leave_last_out(seqs)
    model = build(len(split.item_ids), dim=dim, layers=layers, heads=heads, max_len=max_len,
                  dropout=dropout, seed=settings.serving.seed)
    bar = tqdm(total=epochs, desc="train", unit="epoch", disable=lines)

    def progress(epoch: int, loss: float, hr: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", valid_hr10=f"{hr:.4f}")
        if lines:
            print(f"epoch {epoch + 1}/{epochs} loss {loss:.3f} valid_hr10 {hr:.4f}",
                  flush=True)

    t0 = time.perf_counter()
    hist = seqtrain.train(model, split, epochs=epochs, batch_size=batch_size, lr=lr,
                          patience=patience, seed=settings.serving.seed, device=device,
                          progress=progress)
    bar.close()
    seconds = time.perf_counter() - t0
    rows = {"transformer": seqtrain.evaluate(model.score_all, split.test),
            "popularity": seqtrain.evaluate(seqtrain.popularity_scorer(split), split.test),
            "co-visitation": seqtrain.evaluate(seqtrain.covisit_scorer(split), split.test)}
    metrics = {"dataset": str(data), "trained_until": until,
               "users": len(split.test), "items": len(split.item_ids),
               "device": device, "train_seconds": round(seconds, 1),
               "epochs_run": len(hist.loss), "best_epoch": hist.best_epoch,
               "loss": hist.loss, "valid_hr10": hist.valid_hr,
               "test": {k: {"hr10": v[0], "ndcg10": v[1]} for k, v in rows.items()}}
    save(model.cpu(), split.item_ids, out, metrics)
    print(f"\nleave-last-out on {len(split.test)} users, {len(split.item_ids)} items, full "
          f"ranking minus history; {len(hist.loss)} epochs on {device} in {seconds:.0f}s")
    print(f"| {'model':<14} | {'HR@10':>6} | {'NDCG@10':>7} |")
    print(f"|{'-' * 16}|{'-' * 8}|{'-' * 9}|")
    for name, (hr, ndcg) in rows.items():
        print(f"| {name:<14} | {hr:>6.4f} | {ndcg:>7.4f} |")
    print(f"saved to {out}")
    return metrics
