"""The ``streamrec`` console script: demo, worker, api, replay, topics, download."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import os
import signal
import sys
import urllib.request
import zipfile
from pathlib import Path

import orjson

from streamrec.streams import logs
from streamrec.streams.cli_parser import build_parser
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.settings import Settings


def settings_from(args: argparse.Namespace) -> Settings:
    names = {spec.name for spec in Settings.specs()}
    return Settings.from_env(**{k: v for k, v in vars(args).items() if k in names})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        logs.setup(settings.serving.log_level, settings.serving.log_format)
        if args.cmd in ("demo", "evaluate", "bench"):
            # commands that own child processes: SIGTERM (kill, docker stop) stops them as
            # Ctrl-C does, workers first and the broker last (a worker whose broker died
            # first hangs in its shutdown, retrying the broker)
            signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
        return _run(args, settings)
    except StreamrecError as e:
        print(f"streamrec: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


ROLES = {"worker": "streamrec.streams.worker", "api": "streamrec.streams.api.server",
         "learner": "streamrec.streams.learner", "scorer": "streamrec.streams.scorer"}


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.cmd == "demo":
        from streamrec.streams.dev.demo import run_demo
        return asyncio.run(run_demo(ensure_data(settings), args.seconds))
    if args.cmd in ROLES:          # each role is main(settings) in its own module
        return importlib.import_module(ROLES[args.cmd]).main(settings)
    if args.cmd == "replay":
        return asyncio.run(_replay(settings))
    if args.cmd == "topics":
        from streamrec.streams.topics import ensure_topics
        print("\n".join(asyncio.run(ensure_topics(_need_broker(settings)))))
        return 0
    if args.cmd == "train":
        from streamrec.streams.tools.train import run_train
        run_train(settings, Path(args.out), users=settings.demo.replay_users if
                  args.replay_users is not None else 0, epochs=args.epochs, dim=args.dim,
                  layers=args.layers, heads=args.heads, max_len=args.max_len, lr=args.lr,
                  dropout=args.dropout,
                  batch_size=args.batch_size, patience=args.patience, device=args.device,
                  until=parse_when(args.until, "--until") if args.until else None,
                  lines=args.progress == "lines")
        return 0
    if args.cmd == "ope":
        return _ope(args)
    if args.cmd == "bench":
        from streamrec.bench.suite import bench, parse_rates
        users = args.replay_users if args.replay_users is not None else 200
        asyncio.run(bench(ensure_data(settings), _report_dir(args.out, "bench"), users,
                          parse_rates(args.loads), args.seconds, settings.kafka.partitions,
                          args.api_seconds, args.api_rates, args.api_connections))
        return 0
    if args.cmd == "evaluate":
        return asyncio.run(_evaluate(settings, args))
    if args.cmd == "download":
        return _download(Path(args.dest))
    if args.cmd == "train-encoder":
        from streamrec.streams.tools.train_encoder import run_train_encoder
        report = run_train_encoder(
            args.dataset, ensure_data(settings).resolved_data_dir(), Path(args.out),
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, minutes=args.minutes,
            test_share=args.test_share, k=args.k, seed=settings.serving.seed, device=args.device)
        print(orjson.dumps(report).decode())
        return 0
    if args.cmd == "search-eval":
        return asyncio.run(_search_eval(settings, args))
    if args.cmd == "longterm":
        return _longterm(settings, args)
    raise AssertionError(args.cmd)


def _longterm(settings: Settings, args: argparse.Namespace) -> int:
    from streamrec.streams.tools import longterm
    seed = settings.serving.seed
    events = longterm.load_events(args.dataset, ensure_data(settings).resolved_data_dir())
    report = {"simulation": {"dataset": args.dataset, **longterm.simulation(
        events, gamma=args.gamma, leave_after_miss=args.leave_after_miss, seed=seed)}}
    if args.impressions:
        from streamrec.streams.tools.ope_log import read_topic
        records = (read_topic(args.impressions) if args.impressions.startswith("kafka://")
                   else [line.strip().encode() for line in open(args.impressions) if line.strip()])
        report["off_policy"] = longterm.off_policy(longterm.impression_sessions(records),
                                                   gamma=args.gamma, seed=seed)
        if args.save_policy:
            Path(args.save_policy).write_bytes(orjson.dumps(
                report["off_policy"]["session_policy"], option=orjson.OPT_INDENT_2))
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


async def _search_eval(settings: Settings, args: argparse.Namespace) -> int:
    from streamrec.streams.tools import dataset, retail, search_eval
    ml = ensure_data(settings).resolved_data_dir()
    catalog = (dataset.read_catalog(ml) if args.dataset == "movielens"
               else retail.read_catalog(retail.beside(ml)))
    search = (search_eval.through_api(args.api, args.k) if args.api
              else search_eval.in_process(catalog, args.index, args.k,
                                          settings.serving.text_encoder_dir or None))
    got = await search_eval.recall(search, search_eval.draw_queries(catalog, args.queries,
                                                                    args.seed), args.k)
    if args.api:
        await search.close()  # type: ignore[attr-defined]
    print(orjson.dumps({"dataset": args.dataset, "items": len(catalog),
                        "index": "api" if args.api else args.index, **got}).decode())
    return 0


def ensure_data(settings: Settings, url: str | None = None) -> Settings:
    """The settings with a usable data folder: the configured or found one, else
    movielens-small downloaded (with a message) into ./data/movielens-small."""
    from streamrec.streams.exceptions import DataMissing
    try:
        settings.resolved_data_dir()
        return settings
    except DataMissing as e:
        if settings.demo.data_dir:
            raise          # an explicit path that is wrong: say so, do not download
        target = Path("data") / "movielens-small"
        if not (target / "ratings.csv").exists():
            print(f"{e}\nDownloading it now.", flush=True)
            _download(Path("data"), url)
        return settings.replace(data_dir=str(target.resolve()))


def _need_broker(settings: Settings) -> Settings:
    if not settings.kafka.broker:
        raise StreamrecError("STREAMREC_BROKER (or --broker) is required, e.g. 127.0.0.1:9092")
    return settings


async def _replay(settings: Settings) -> int:
    from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
    from streamrec.streams.tools.replay import Producer, replay_catalog, replay_events
    _need_broker(settings)
    data = settings.resolved_data_dir()
    async with Producer(settings) as p:
        n_items = await replay_catalog(p, read_catalog(data, settings.serving.seed))
        events = events_from_ratings(read_ratings(data, settings.demo.replay_users))
        n = await replay_events(p, events,
                                settings.demo.replay_rate)
    print(f"replayed {n_items} catalog items and {n} events")
    return 0


def _report_dir(given: str | None, kind: str) -> Path:
    import datetime as dt
    return Path(given or f"reports/{kind}-{dt.datetime.now():%Y%m%d-%H%M%S}")


def parse_when(value: str, option: str) -> float:
    """A date (YYYY-MM-DD or an ISO time, UTC unless it says otherwise) or Unix seconds.

    >>> parse_when("2016-01-01", "--until")
    1451606400.0
    >>> parse_when("1451606400", "--until")
    1451606400.0
    """
    try:
        return float(value)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise StreamrecError(f"{option} {value!r}: give a date like 2016-01-01 or Unix "
                             "seconds") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


async def _evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from streamrec.streams.tools.evaluate import DEFAULT_CONFIGS, check_configs, evaluate
    from streamrec.streams.tools.eventlog import load_event_log
    model_dir = Path(args.model_dir) if args.model_dir else None
    judge_from = parse_when(args.judge_from, "--judge-from") if args.judge_from else 0.0
    configs = check_configs(args.configs or DEFAULT_CONFIGS, model_dir, judge_from)
    users = args.replay_users or 0          # evaluate: all users unless --users is given
    if args.log is None:
        path = ensure_data(settings).resolved_data_dir()
    else:
        path = Path(args.log)
    log = load_event_log(path, args.format, users, args.max_events, settings.serving.seed)
    print(f"evaluate: {log.name}: {len(log.events):,} events, {log.users:,} users, "
          f"{len(log.catalog):,} items; configurations: {', '.join(configs)}", flush=True)
    await evaluate(settings, log, configs, settings.ranking.k, _report_dir(args.out, "evaluate"),
                   model_dir, progress=not args.no_progress, parallel=args.parallel,
                   backend=args.backend, judge_from=judge_from)
    return 0


def _ope_target(name: str, log: list, seed: int) -> object:
    """The target policy that ``--policy`` names."""
    from streamrec.models import bandits
    from streamrec.models.ope import Allocation, FixedPolicy

    actions = {r.action for r in log}

    def arm(text: str) -> object:          # a logged arm may be an int
        return next((a for a in actions if str(a) == text), text)
    if name.startswith("fixed:"):
        return FixedPolicy(arm(name.split(":", 1)[1]))
    if name.startswith("alloc:"):
        try:
            pairs = [p.split("=") for p in name.split(":", 1)[1].split(",")]
            return Allocation({arm(a): float(w) for a, w in pairs}, seed=seed)
        except ValueError as e:
            raise StreamrecError(f"--policy {name!r}: expected alloc:ARM=W,ARM=W ({e})") \
                from None
    dim = len(log[0].context) if log[0].context is not None else 1
    makers = {"thompson": lambda: bandits.ThompsonSampling(seed=seed),
              "ucb": lambda: bandits.UCB1(seed=seed),
              "epsilon": lambda: bandits.EpsilonGreedy(0.1, seed=seed),
              "random": lambda: bandits.RandomPolicy(seed=seed),
              "linucb": lambda: bandits.LinUCB(dim=dim, seed=seed)}
    if name not in makers:
        raise StreamrecError(f"--policy {name!r}: use one of {', '.join(makers)}, "
                             "fixed:ARM or alloc:ARM=W,...")
    return makers[name]()


def _ope(args: argparse.Namespace) -> int:
    from streamrec.models.ope import evaluate, read_jsonl
    from streamrec.models.ope_slate import evaluate_slates, is_slate_log
    from streamrec.streams.tools import ope_log

    try:
        if args.log.startswith("kafka://"):
            log = ope_log.rounds(ope_log.read_topic(args.log), args.unit)
        else:
            with open(args.log, "rb") as f:
                lines = [line for line in f if line.strip()]
            is_impressions = bool(lines) and b'"kind"' in lines[0]
            log = ope_log.rounds(lines, args.unit) if is_impressions else read_jsonl(lines)
    except (OSError, ValueError) as e:
        raise StreamrecError(f"cannot read {args.log}: {e}") from None
    if not log:
        raise StreamrecError(f"{args.log}: no rounds")
    target = _ope_target(args.policy, log, args.seed)
    opts = {"seed": args.seed, "n_boot": args.boot, "clip": args.clip, "draws": args.draws}
    try:
        if is_slate_log(log):
            est = evaluate_slates(log, target, **opts)
            what = f"{len({r.slate_id for r in log})} logged lists"
        else:
            est = evaluate(log, target, switch_tau=args.switch_tau, **opts)
            what = f"{len(log)} logged rounds"
    except ValueError as e:
        raise StreamrecError(str(e)) from None
    print(f"policy {args.policy} on {what} (95% bootstrap intervals, {args.boot} resamples)")
    print(f"| {'estimator':<16} | {'value':>9} | {'low':>9} | {'high':>9} | {'rounds':>7} |")
    print(f"|{'-' * 18}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 9}|")
    for k, e in est.items():
        if "@" in k and not args.positions:
            continue
        print(f"| {k:<16} | {e.value:>9.5f} | {e.low:>9.5f} | {e.high:>9.5f} | "
              f"{e.rounds:>7} |")
    return 0


def _download(dest: Path, url: str | None = None) -> int:
    from streamrec.streams.exceptions import DataMissing
    url = url or DataMissing.URL
    dest.mkdir(parents=True, exist_ok=True)
    zpath = dest / "ml-latest-small.zip"
    print(f"downloading {url} ...", flush=True)
    try:
        urllib.request.urlretrieve(url, zpath)
    except OSError as e:
        raise StreamrecError(f"could not download {url}: {e}. Download and unzip it by hand "
                             "and set STREAMREC_DATA_DIR to the folder with ratings.csv") from None
    with zipfile.ZipFile(zpath) as z:
        z.extractall(dest)
    target = dest / "movielens-small"
    (dest / "ml-latest-small").rename(target)
    zpath.unlink()
    print(f"unpacked to {target}; set STREAMREC_DATA_DIR={target.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
