"""``streamrec train-encoder``: fine-tune the text encoder on a shop's co-viewed pairs and
compare it with the frozen encoder on cold-start items (``models/encoder_tuning.py``).

The log is split in time: the pairs of the earlier ``1 - test_share`` train; the items
first seen after the split are cold (no co-visits yet), and every later step from a cold
item to the user's next item judges the content candidates (HR@k, with its standard
error), for the frozen encoder and for the tuned one. The tuned encoder is saved to
``out``; ``STREAMREC_TEXT_ENCODER_DIR`` points the scorer and the search API at it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from streamrec.models import encoder_tuning as et
from streamrec.models.text_encoder import TextEncoder, item_text


def load(dataset: str, movielens_dir: Path) -> tuple[list[et.Event], dict[str, str]]:
    """(events as (user, item, ts), item -> text) of movielens-small or the retail sample."""
    from streamrec.streams.tools import dataset as ml
    from streamrec.streams.tools import retail

    if dataset == "movielens":
        events = [(u, i, ts) for u, i, _, ts in ml.read_ratings(movielens_dir)]
        catalog = ml.read_catalog(movielens_dir)
    else:
        folder = retail.beside(movielens_dir)
        events = [(e["user_id"], e["item_id"], e["ts"]) for e in retail.read_events(folder)]
        catalog = retail.read_catalog(folder)
    return events, {c["item_id"]: item_text(c["title"], c["category"]) for c in catalog}


def _hr(encoder: TextEncoder, texts: dict[str, str], steps: list[tuple[str, str]],
        k: int) -> dict[str, float]:
    ids = list(texts)
    hr, se, n = et.cold_start_hr(ids, encoder.encode([texts[i] for i in ids]), steps, k)
    return {f"hr@{k}": round(hr, 4), "se": round(se, 4), "steps": n}


def run_train_encoder(dataset: str, movielens_dir: Path, out: Path, *, epochs: int,
                      batch_size: int, lr: float, minutes: float, test_share: float, k: int,
                      seed: int, device: str | None) -> dict[str, Any]:
    events, texts = load(dataset, movielens_dir)
    split = et.cold_split(events, test_share)
    pairs = list(et.next_item_pairs(e for e in events if e[2] < split.ts))
    cold = et.cold_steps(events, split)
    warm_split = et.ColdSplit(split.ts, frozenset(texts) - split.cold)
    warm = et.cold_steps(events, warm_split)
    enc = TextEncoder(device=device)
    report: dict[str, Any] = {
        "dataset": dataset, "events": len(events), "items": len(texts),
        "train_pairs": len(pairs), "cold_items": len(split.cold), "split_ts": split.ts,
        "frozen": {"cold": _hr(enc, texts, cold, k), "warm": _hr(enc, texts, warm, k)}}
    t0 = time.monotonic()

    def progress(step: int, total: int, loss: float) -> None:
        if step % 50 == 0 or step == total:
            print(f"train-encoder: step {step}/{total} loss {loss:.3f} "
                  f"({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)

    losses = et.fine_tune(enc, texts, pairs, epochs=epochs, batch_size=batch_size, lr=lr,
                          seed=seed, max_seconds=minutes * 60 if minutes else None,
                          progress=progress)
    report["training"] = {"steps": len(losses), "seconds": round(time.monotonic() - t0, 1),
                          "loss_first_50": round(sum(losses[:50]) / max(1, len(losses[:50])), 4),
                          "loss_last_50": round(sum(losses[-50:]) / max(1, len(losses[-50:])), 4),
                          "batch_size": batch_size, "lr": lr, "epochs": epochs}
    report["tuned"] = {"cold": _hr(enc, texts, cold, k), "warm": _hr(enc, texts, warm, k)}
    out.mkdir(parents=True, exist_ok=True)
    enc.save(out)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
