"""The demo's transformer: trained in the background while the demo already serves.

At start-up the demo starts a scoring worker that has no model yet (``streamrec scorer
--wait-for-model``: it answers "no model yet" at once, so lists are ranked with the
heuristic and say so) and a ``streamrec train`` child on the replayed users' ratings, small
enough to finish within the demo's first minute. Its progress is relayed line by line; once
it saves the model, the scorer hot-loads it, and the lists made from then on say
``"scoring": "transformer"``.

The model is trained on the same ratings the demo replays: it shows the mechanism (train,
hot-load, serve), not a quality figure (``docs/evaluation.md`` has those).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from streamrec.streams.dev.embedded import _die_with_parent
from streamrec.streams.settings import Settings

# small and quick on two CPU cores: the demo must start serving within seconds, and the
# training must not take the cores the worker needs (one thread)
MODEL = {"--dim": "32", "--layers": "1", "--heads": "2", "--max-len": "50", "--lr": "0.005"}


def scorer_settings(settings: Settings, folder: Path) -> Settings:
    """The worker's and the scorer's settings: ask the scorer, which waits for its model."""
    return settings.replace(scorer=True, scorer_model_dir=str(folder / "seqrec"),
                            scorer_wait_for_model=True)


def train_command(settings: Settings, folder: Path) -> list[str]:
    epochs = str(settings.demo.demo_train_epochs)
    return [sys.executable, "-m", "streamrec.streams.cli", "train", "--out",
            str(folder / "seqrec"), "--epochs", epochs, "--patience", epochs,
            "--progress", "lines", "--users", str(settings.demo.replay_users),
            *[x for kv in MODEL.items() for x in kv]]


async def train(settings: Settings, folder: Path, say: Callable[[str], None]) -> int:
    """Run the training child to the end, relaying its progress; returns its exit code."""
    epochs = settings.demo.demo_train_epochs
    say(f"transformer: training in the background (dim {MODEL['--dim']}, "
        f"{MODEL['--layers']} layer, {epochs} epochs, on the replayed users' ratings); "
        f"lists use the heuristic meanwhile")
    t0 = time.monotonic()
    env = {**os.environ, **settings.to_env(), "OMP_NUM_THREADS": "1"}
    proc = await asyncio.create_subprocess_exec(
        *train_command(settings, folder), env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        preexec_fn=functools.partial(_die_with_parent, signal.SIGKILL))
    try:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("epoch "):
                n, _, _, _, hr = line.split()[1:6]
                say(f"transformer: epoch {n}, validation HR@10 {hr}")
        code = await proc.wait()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if code != 0:
        say(f"transformer: training failed (exit {code}); lists stay heuristic")
        return code
    test = json.loads((folder / "seqrec" / "metrics.json").read_text())["test"]
    say(f"transformer: trained in {time.monotonic() - t0:.0f} s, leave-last-out HR@10 "
        f"{test['transformer']['hr10']:.4f} (co-visitation {test['co-visitation']['hr10']:.4f}); "
        f"the scorer loads it and new lists say scoring: transformer")
    return 0
