"""Scoring benchmark: micro-batched vs one-by-one transformer scoring, in one run.

A SASRec-size model (movielens-small item count, dim 64, 2 layers, 50 positions) scores
requests of a 50-item history and 100 candidates, through the same MicroBatcher the
scorer worker uses (scoring in a worker thread):

* saturation: a backlog of N requests; requests/s;
* latency: requests offered at a fixed rate (default 70% of the one-by-one saturation
  rate); p50/p99 from submit to answer.

Run: ``python -m streamrec.bench.scorer [--device cuda]`` (mixed precision on cuda).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import numpy as np
import torch

from streamrec.models.batcher import MicroBatcher
from streamrec.models.device import pick_device
from streamrec.models.sequential import build


def make_fn(model, device: str):
    def fn(reqs):
        with torch.inference_mode(), (torch.autocast("cuda", dtype=torch.bfloat16)
                                      if device == "cuda" else contextlib.nullcontext()):
            s = model.score([r[0] for r in reqs], [r[1] for r in reqs]).float().cpu()
        return list(s)
    return fn


async def saturation(fn, reqs, max_batch: int, wait_ms: float) -> float:
    b = MicroBatcher(fn, max_batch=max_batch, max_wait_ms=wait_ms, queue_size=len(reqs) + 1,
                     in_thread=True)
    task = asyncio.create_task(b.run())
    t0 = time.perf_counter()
    await asyncio.gather(*(b.submit(r) for r in reqs))
    dt = time.perf_counter() - t0
    await b.close()
    await task
    return len(reqs) / dt


async def latency(fn, reqs, max_batch: int, wait_ms: float, rate: float) -> dict:
    b = MicroBatcher(fn, max_batch=max_batch, max_wait_ms=wait_ms, queue_size=100000,
                     in_thread=True)
    task = asyncio.create_task(b.run())
    lat: list[float] = []

    async def one(r):
        t = time.perf_counter()
        await b.submit(r)
        lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    tasks = []
    for i, r in enumerate(reqs):
        ahead = i / rate - (time.perf_counter() - t0)
        if ahead > 0:
            await asyncio.sleep(ahead)
        tasks.append(asyncio.create_task(one(r)))
    await asyncio.gather(*tasks)
    achieved = len(reqs) / (time.perf_counter() - t0)
    await b.close()
    await task
    lat.sort()
    mean_batch = b.stats.requests / max(b.stats.batches, 1)
    return {"p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99)], "rps": achieved,
            "batch": mean_batch}


async def main(args: argparse.Namespace) -> None:
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    model = build(args.items, dim=args.dim, layers=args.layers, heads=2, max_len=50,
                  seed=0).to(device).eval()
    rng = np.random.default_rng(0)
    reqs = [(rng.integers(1, args.items + 1, 50).tolist(),
             rng.integers(1, args.items + 1, args.candidates).tolist())
            for _ in range(args.requests)]
    fn = make_fn(model, device)
    await saturation(fn, reqs[:64], args.batch, args.wait_ms)   # warm-up
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU x{args.threads} threads"
    one = await saturation(fn, reqs, 1, 0.0)
    batched = await saturation(fn, reqs, args.batch, args.wait_ms)
    rate = args.rate or 0.7 * one
    lat1 = await latency(fn, reqs, 1, 0.0, rate)
    latb = await latency(fn, reqs, args.batch, args.wait_ms, rate)
    print(f"\nscoring on {name}: {args.requests} requests, history 50, {args.candidates} "
          f"candidates, model dim {args.dim} x {args.layers} layers, {args.items} items")
    print(f"| {'mode':<22} | {'saturation req/s':>16} | {'speed-up':>8} |")
    print(f"|{'-' * 24}|{'-' * 18}|{'-' * 10}|")
    print(f"| {'one-by-one':<22} | {one:>16,.0f} | {1.0:>7.1f}x |")
    print(f"| {f'micro-batched (<= {args.batch})':<22} | {batched:>16,.0f} | "
          f"{batched / one:>7.1f}x |")
    print(f"\nlatency at an offered {rate:,.0f} req/s (submit -> answer, ms)")
    print(f"| {'mode':<22} | {'achieved/s':>10} | {'mean batch':>10} | {'p50':>7} | {'p99':>7} |")
    print(f"|{'-' * 24}|{'-' * 12}|{'-' * 12}|{'-' * 9}|{'-' * 9}|")
    for label, x in (("one-by-one", lat1), (f"micro-batched (<= {args.batch})", latb)):
        print(f"| {label:<22} | {x['rps']:>10,.0f} | {x['batch']:>10.1f} | {x['p50']:>7.2f} | "
              f"{x['p99']:>7.2f} |")


def cli(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--items", type=int, default=9724)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--wait-ms", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=0.0, help="offered req/s (0 = 70%% of 1x1)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    asyncio.run(main(ap.parse_args(argv)))


if __name__ == "__main__":
    cli()
