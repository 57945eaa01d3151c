"""HTTP API: recommendations from Redis, health and Prometheus metrics (aiohttp).

``GET /recommendations/{user_id}?k=`` returns the user's stored list, or trending for a
cold user, minus items that are out of stock right now (so a sell-out leaves every
served list at once, including lists written before it).
"""

from __future__ import annotations

import time
from importlib import resources

import orjson
from aiohttp import web

from streamrec.models.experiments import Experiment, ExperimentError, report
from streamrec.models.ranking import trending_list
from streamrec.state.redis_store import RedisStore
from streamrec.streams import schemas
from streamrec.streams.api import dashboard, search, users
from streamrec.streams.api.context import SETTINGS, STATS, STORE
from streamrec.streams.api.figures import cluster_figures
from streamrec.streams.api.guard import add_unmatched, error, guarded, json_response
from streamrec.streams.api.metrics import RequestStats, render
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.settings import Settings


async def recommendations(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    user_id = request.match_info["user_id"]
    raw_k = request.query.get("k", str(settings.ranking.k))
    try:
        k = int(raw_k)
    except ValueError:
        return error(400, f"k must be an integer 1..500, got {raw_k!r}")
    if not 1 <= k <= 500:
        return error(400, f"k must be an integer 1..500, got {k}")
    if not user_id or len(user_id) > 256:
        return error(400, "user_id must have 1..256 characters")
    explain = EXPLAIN.get(request.query.get("explain", "0"))
    if explain is None:
        return error(400, f"explain must be 0 or 1, got {request.query['explain']!r}")
    raw, rec, trending = await store.serve_raw(user_id, 2 * k)  # sold-out items gone
    if raw is not None:   # served as stored: rendered once per list, k and explain
        bodies = request.app[BODIES]
        kept = bodies.get((user_id, k, explain))
        if kept is None or kept[0] != raw:
            if len(bodies) >= MAX_BODIES:
                bodies.clear()
            kept = (raw, _render(schemas.decode_list(raw), k, explain))
            bodies[user_id, k, explain] = kept
        return web.Response(body=kept[1], content_type="application/json")
    if rec is None:       # a user without a list: trending, in the list's schema
        return web.Response(body=schemas.encode(schemas.StoredList(
            user_id=user_id, items=[schemas.ListItem(i, s, [f"trending #{n}"] if explain
                                                     else None)
                                    for n, (i, s) in enumerate(trending_list(trending, (), k),
                                                               1)],
            impression_id=None, policy="trending", model_version="trending-v1",
            generated_at=time.time(), cold_start=True)), content_type="application/json")
    return web.Response(body=_render(rec, k, explain), content_type="application/json")


def _render(rec: schemas.StoredList, k: int, explain: bool) -> bytes:
    """The response body of a stored list: its first ``k`` items, reasons if ``explain``."""
    rec.items = rec.items[:k]
    if not explain:
        for item in rec.items:
            item.why = None
    return schemas.encode(rec)


# rendered lists kept per API process: (user, k, explain) -> (stored bytes, body)
BODIES: web.AppKey[dict[tuple[str, int, bool], tuple[bytes, bytes]]] = web.AppKey("bodies",
                                                                                 dict)
MAX_BODIES = 100_000


EXPLAIN = {"0": False, "false": False, "1": True, "true": True}


HEARTBEAT_STALE_S = 10.0    # a worker or learner silent this long is reported down
HEARTBEAT_FORGET_S = 3600.0  # and after this long no longer listed


async def health(request: web.Request) -> web.Response:
    """Readiness of this API (Redis answers: 200, else 503) and the pipeline's liveness
    from the heartbeats in Redis: each worker's and the learner's age, lag and last
    error; ``pipeline`` is ``ok`` when at least one worker is alive and no learner that
    ever beat has gone silent."""
    store = request.app[STORE]
    try:
        await store.ping()
        beats = await store.heartbeats()
    except Exception as e:  # noqa: BLE001 - report any Redis failure
        return json_response({"status": "unavailable", "redis": str(e)}, 503)
    now = time.time()
    procs = {}
    for name, info in beats.items():
        age = now - float(info.get("ts", 0))
        if age < HEARTBEAT_FORGET_S:
            procs[name] = {"alive": age < HEARTBEAT_STALE_S, "age_s": round(age, 1),
                           "lag": info.get("lag"), "last_error": info.get("last_error", "")}
    learner = procs.pop("learner", None)
    ok = any(p["alive"] for p in procs.values()) and (learner is None or learner["alive"])
    return json_response({"status": "ok", "redis": "ok", "pipeline": "ok" if ok else "degraded",
                  "workers": procs, "learner": learner})


async def openapi(request: web.Request) -> web.Response:
    """The API's OpenAPI 3 document (``streams/api/openapi.yaml``)."""
    text = resources.files(__package__).joinpath("openapi.yaml").read_text()
    return web.Response(text=text, content_type="application/yaml")


async def live(request: web.Request) -> web.Response:
    """Liveness of this API process (answers without Redis)."""
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Readiness: 200 when Redis answers (and is not loading its data), else 503."""
    try:
        await request.app[STORE].ping()
    except Exception as e:  # noqa: BLE001 - report any Redis failure
        return json_response({"status": "unavailable", "redis": str(e)}, 503)
    return json_response({"status": "ok", "redis": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: the cluster's figures from Redis, then this process's."""
    fams = await cluster_figures(request.app[STORE], request.app[SETTINGS].ranking.k)
    return web.Response(body=render(fams, request.app[STATS]),
                        content_type="text/plain", charset="utf-8")


async def _report(store: RedisStore, exp: Experiment) -> dict:
    return {**exp.to_dict(), "variants_report": report(exp, await store.experiment_stats(exp.name))}


async def create_experiment(request: web.Request) -> web.Response:
    store = request.app[STORE]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as e:
        return error(400, f"body must be JSON: {e}")
    try:
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in ("status", "created_at")}
        exp = Experiment.from_dict(body)
    except (ExperimentError, TypeError) as e:
        return error(400, str(e))
    if not await store.create_experiment(exp):
        return error(409, f"experiment {exp.name!r} already exists")
    return json_response(await _report(store, exp), 201)


async def list_experiments(request: web.Request) -> web.Response:
    store = request.app[STORE]
    return json_response({"experiments": [await _report(store, e)
                                  for e in await store.list_experiments()]})


async def _get(request: web.Request) -> Experiment:
    name = request.match_info["name"]
    exp = await request.app[STORE].get_experiment(name)
    if exp is None:
        raise web.HTTPNotFound(reason=f"unknown experiment {name!r}")
    return exp


async def get_experiment(request: web.Request) -> web.Response:
    return json_response(await _report(request.app[STORE], await _get(request)))


async def experiment_action(request: web.Request) -> web.Response:
    store, action = request.app[STORE], request.match_info["action"]
    exp = await _get(request)
    if action == "reset":
        await store.reset_experiment(exp.name)
    else:
        target = {"pause": "paused", "resume": "running", "stop": "stopped"}[action]
        try:
            moved = await store.set_experiment_status(exp.name, target)
        except ExperimentError as e:
            return error(409, str(e))
        if moved is None:
            raise web.HTTPNotFound(reason=f"unknown experiment {exp.name!r}")
        exp = moved
    return json_response(await _report(store, exp))


def make_app(settings: Settings, store: RedisStore | None = None) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[STATS] = RequestStats()
    app[BODIES] = {}
    own = store is None
    app[STORE] = store or settings.open_store(cache_lists=settings.serving.api_cache)

    async def close(app: web.Application) -> None:
        if own:
            await app[STORE].aclose()

    app.on_cleanup.append(close)
    app.router.add_get("/recommendations/{user_id}", guarded(recommendations))
    app.router.add_post("/experiments", guarded(create_experiment))
    app.router.add_get("/experiments", guarded(list_experiments))
    app.router.add_get("/experiments/{name}", guarded(get_experiment))
    app.router.add_post("/experiments/{name}/{action:pause|resume|stop|reset}",
                        guarded(experiment_action))
    app.router.add_get("/openapi.yaml", guarded(openapi))
    app.router.add_get("/health", guarded(health))
    app.router.add_get("/health/live", guarded(live))
    app.router.add_get("/health/ready", guarded(ready))
    app.router.add_get("/metrics", guarded(metrics))
    dashboard.add_routes(app)
    users.add_routes(app)
    search.add_routes(app)
    add_unmatched(app)
    return app


async def start_api(settings: Settings) -> tuple[web.AppRunner, str]:
    """Start the API on ``settings.serving.api_host:api_port`` (0 = free); returns (runner, url)."""
    runner = web.AppRunner(make_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.serving.api_host, settings.serving.api_port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{settings.serving.api_host}:{port}"


def main(settings: Settings) -> int:
    """Serve the API with ``settings`` until stopped."""
    if not settings.redis.redis_url:
        raise StreamrecError("STREAMREC_REDIS_URL (or --redis-url) is required")
    web.run_app(make_app(settings), host=settings.serving.api_host, port=settings.serving.api_port,
                access_log=None)
    return 0
