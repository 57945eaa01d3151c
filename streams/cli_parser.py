"""The shape of the ``streamrec`` command line: its verbs and their options (the settings
flags are made from ``streams/settings.py``); ``streams/cli.py`` runs them."""

from __future__ import annotations

import argparse
from typing import Any

from streamrec.streams.settings import Settings

ALIASES = {"redis_url": ["--redis"], "replay_rate": ["--rate"], "replay_users": ["--users"]}
VERB_ALIASES = {    # the role's own short names for its settings
    "scorer": {"scorer_model_dir": "--model-dir", "scorer_max_batch": "--max-batch",
               "scorer_max_wait_ms": "--max-wait-ms", "scorer_queue_size": "--queue-size",
               "scorer_device": "--device", "scorer_embed_catalog": "--embed-catalog",
               "scorer_wait_for_model": "--wait-for-model"},
    "learner": {"learner_snapshot_every": "--snapshot-every",
                "learner_snapshot_seconds": "--snapshot-seconds"}}
TYPES = {"int": int, "float": float, "str": str}
OFFLINE = {"ope", "download"}     # verbs that read no setting: only their own options


def _common(p: argparse.ArgumentParser, verb: str) -> None:
    """A flag for every setting (``--name-with-dashes``), as its env var would set it;
    secrets are env vars only (a flag shows in the process list). A verb's own option of
    the same name wins."""
    taken = set(p._option_string_actions)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for spec in Settings.specs():
        if spec.secret:
            continue
        names = ["--" + spec.name.replace("_", "-"), *ALIASES.get(spec.name, [])]
        if spec.name in VERB_ALIASES.get(verb, {}):
            names.append(VERB_ALIASES[verb][spec.name])
        names = [n for n in names if n not in taken]
        if not names:
            continue
        if spec.group not in groups:
            groups[spec.group] = p.add_argument_group(
                f"{spec.group} settings (each also read from its STREAMREC_* env var)")
        g = groups[spec.group]
        help_ = f"{spec.help} ({spec.env})".replace("%", "%%")
        if spec.kind == "bool":
            g.add_argument(*names, dest=spec.name, default=None, help=help_,
                           action=argparse.BooleanOptionalAction)
        else:
            g.add_argument(*names, dest=spec.name, default=None, help=help_,
                           type=TYPES[spec.kind], choices=spec.choices)


def _add_train(sub: Any) -> None:
    """``streamrec train``."""
    t = sub.add_parser("train", help="train the sequential transformer recommender")
    t.add_argument("--out", default="artifacts/seqrec", help="folder for the saved model")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--dim", type=int, default=64)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--heads", type=int, default=2)
    t.add_argument("--max-len", type=int, default=50)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--dropout", type=float, default=0.2)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--patience", type=int, default=3, help="epochs without improvement")
    t.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    t.add_argument("--progress", choices=("bar", "lines"), default="bar",
                   help="a progress bar, or one line per epoch on stdout (for a log)")
    t.add_argument("--until", default=None, metavar="DATE",
                   help="train only on events before this date (YYYY-MM-DD, UTC) or Unix "
                   "time, so that `evaluate --judge-from DATE` judges unseen events")


def _add_roles(sub: Any) -> None:
    """The scorer and the learner."""
    sub.add_parser("scorer", help="micro-batched transformer scoring worker (its options "
                   "are settings: --model-dir, --max-batch, --max-wait-ms, --queue-size, "
                   "--device, --embed-catalog, --wait-for-model)")
    sub.add_parser("learner", help="the single writer of the River models (snapshots; "
                   "--snapshot-every, --snapshot-seconds)")


def _add_ope(sub: Any) -> None:
    """``streamrec ope``."""
    o = sub.add_parser("ope", help="off-policy evaluation of a policy on a logged bandit "
                       "log (JSON lines, or an impressions dump)")
    o.add_argument("log", help="JSON lines: context, action, reward, propensity[, actions, "
                   "position, slate_id]; or the impressions topic, dumped as JSON lines or "
                   "read as kafka://HOST:PORT/TOPIC (docs/ope.md)")
    o.add_argument("--unit", default="items", choices=("items", "variants"),
                   help="impressions log: evaluate lists of items (exploration) or "
                   "experiment variants (allocations)")
    o.add_argument("--policy", default="thompson",
                   help="thompson | ucb | epsilon | random | linucb | fixed:ARM | "
                   "alloc:ARM=W,ARM=W (a stochastic allocation)")
    o.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of Monte "
                   "Carlo action probabilities")
    o.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    o.add_argument("--clip", type=float, default=None, help="clip importance weights at "
                   "this value (default: no clipping)")
    o.add_argument("--switch-tau", type=float, default=float("inf"),
                   help="switch-DR: rounds with a weight above this use the reward model")
    o.add_argument("--positions", action="store_true", help="lists: show the estimates "
                   "of each position too")
    o.add_argument("--draws", type=int, default=10000, help="Monte Carlo draws for "
                   "Thompson sampling's action probabilities")


def _add_evaluate(sub: Any) -> None:
    """``streamrec evaluate``."""
    ev = sub.add_parser("evaluate", help="prequential evaluation of several configurations "
                        "through the real broker and workers; writes a report")
    ev.add_argument("log", nargs="?", default=None,
                    help="event log: a movielens folder, RetailRocket events.csv, the "
                    "online-retail sample, a CSV or JSONL log (default: movielens-small)")
    ev.add_argument("--format", default="auto",
                    help="auto | movielens | retailrocket | online-retail | csv | jsonl")
    ev.add_argument("--configs", nargs="+", default=None,
                    help="trending covisit mf ctr blend transformer full rtrec "
                    "(default: trending covisit mf ctr blend)")
    ev.add_argument("--max-events", type=int, default=0, help="first N events only (0 = all)")
    ev.add_argument("--model-dir", default=None, help="model from `streamrec train` "
                    "(for the transformer and full configurations)")
    ev.add_argument("--judge-from", default=None, metavar="DATE",
                    help="judge only events from this date (YYYY-MM-DD, UTC) or Unix time on; "
                    "earlier events are learned from only (needed for --configs transformer/full: "
                    "the date `streamrec train --until` used or later)")
    ev.add_argument("--out", default=None, help="report folder (default reports/evaluate-TIME)")
    ev.add_argument("--parallel", type=int, default=0,
                    help="configurations evaluated at the same time (0 = one per core)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")
    ev.add_argument("--backend", choices=("memory", "broker"), default="memory",
                    help="memory: every configuration's worker code in one process over an "
                    "in-memory store (fast); broker: real workers on the broker and Redis "
                    "(the end-to-end check)")


def _add_bench(sub: Any) -> None:
    """``streamrec bench``."""
    b = sub.add_parser("bench", help="throughput and latency of the pipeline beside a no-op "
                       "Faust agent, and API load; writes a report")
    b.add_argument("--loads", nargs="+", default=["500", "2000", "8000", "max"],
                   help="offered loads in events/s for the latency phase; max = unpaced")
    b.add_argument("--seconds", type=float, default=15.0, help="seconds per offered load")
    b.add_argument("--api-seconds", type=float, default=10.0, help="seconds per API load")
    b.add_argument("--api-rates", nargs="+", type=float, default=[1000.0, 4000.0],
                   help="fixed API request rates (req/s) for the latency runs")
    b.add_argument("--api-connections", type=int, default=32,
                   help="connections of the closed-loop API run")
    b.add_argument("--out", default=None, help="report folder (default reports/bench-TIME)")

def _add_search_eval(sub: Any) -> None:
    """``streamrec search-eval``."""
    se = sub.add_parser("search-eval", help="recall of text search: queries made of half of "
                        "a title's words, and whether their own item comes back")
    se.add_argument("--dataset", choices=("movielens", "retail"), default="movielens",
                    help="movielens-small titles and genres, or the online-retail sample's "
                    "descriptions (../shared/data)")
    se.add_argument("--queries", type=int, default=500, help="items drawn (seeded)")
    se.add_argument("--k", type=int, default=20, help="answers per query")
    se.add_argument("--index", choices=("flat", "hnsw"), default="flat")
    se.add_argument("--seed", type=int, default=1)
    se.add_argument("--api", default=None, metavar="URL", help="ask a running API's GET "
                    "/search instead (its catalog must hold the dataset)")


def _add_train_encoder(sub: Any) -> None:
    """``streamrec train-encoder``."""
    t = sub.add_parser("train-encoder", help="fine-tune the text encoder on the shop's "
                       "co-viewed pairs (contrastive) and compare it with the frozen one on "
                       "cold-start items")
    t.add_argument("--dataset", choices=("movielens", "retail"), default="movielens")
    t.add_argument("--out", default="artifacts/encoder", help="folder for the tuned encoder "
                   "(STREAMREC_TEXT_ENCODER_DIR)")
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-5)
    t.add_argument("--minutes", type=float, default=10.0, help="stop training after this "
                   "long (0 = all epochs)")
    t.add_argument("--test-share", type=float, default=0.2, help="share of the log, by "
                   "time, that judges; items first seen in it are the cold items")
    t.add_argument("--k", type=int, default=20, help="content candidates per cold item")
    t.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")


def _add_longterm(sub: Any) -> None:
    """``streamrec longterm``."""
    t = sub.add_parser("longterm", help="a session Q-learning policy for the discounted "
                       "session reward against the bandit allocation: in a seeded simulation "
                       "from a real dataset's sessions, and off-policy on an impression log")
    t.add_argument("--dataset", choices=("movielens", "retail"), default="retail")
    t.add_argument("--gamma", type=float, default=0.9, help="discount per list")
    t.add_argument("--leave-after-miss", type=float, default=0.3, help="simulated: the "
                   "chance that a user leaves after a list without the item they wanted")
    t.add_argument("--impressions", default=None, metavar="LOG", help="also evaluate "
                   "off-policy on this impression log (JSON lines, or kafka://HOST:PORT/TOPIC)")
    t.add_argument("--save-policy", default=None, metavar="FILE", help="with --impressions: "
                   "write the policy learned from the log, an experiment's session_policy")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streamrec", description="streamrec: a streaming "
                                "real-time recommender (roles, tools, demo)")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="embedded broker + Redis + worker + API + dataset replay")
    d.add_argument("--seconds", type=float, default=0, help="stop after N seconds (0 = Ctrl-C)")
    sub.add_parser("worker", help="run a Faust worker (needs --broker and --redis-url)")
    sub.add_parser("api", help="serve the HTTP API")
    sub.add_parser("replay", help="replay movielens-small into the topics")
    sub.add_parser("topics", help="create the topics")
    for add in (_add_train, _add_roles, _add_ope, _add_evaluate, _add_bench,
                _add_search_eval, _add_train_encoder, _add_longterm):
        add(sub)
    dl = sub.add_parser("download", help="download movielens-small")
    dl.add_argument("--dest", default="data", help="folder to unpack into")
    for verb, sp in sub.choices.items():
        if verb not in OFFLINE:
            _common(sp, verb)
    return p
