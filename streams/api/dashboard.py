"""The operator's dashboard: ``GET /dashboard``, a page that polls
``GET /dashboard/figures.json`` every second and plots it.

The JSON holds the same cluster figures as ``/metrics`` (one list of samples, read by
:func:`~streamrec.streams.api.figures.cluster_figures`), plus the prequential curve by
event-time bucket. The page and its assets (``static/``, with uPlot vendored under its MIT
licence) ship in the package: no CDN, and a Content-Security-Policy that lets the page
load nothing from anywhere else. Its pause, resume and stop buttons call the admin
endpoints with the bearer token typed into the page (kept in the page, never stored).

>>> fams = Families()
>>> fams.counter("streamrec_events_total", "valid events applied", 5)
>>> samples(fams)
[{'name': 'streamrec_events_total', 'labels': {}, 'value': 5.0}]
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from streamrec.streams.api.context import SETTINGS, STORE
from streamrec.streams.api.figures import cluster_figures
from streamrec.streams.api.guard import guarded
from streamrec.streams.api.metrics import Families

ASSETS = {"dashboard.js": "application/javascript", "dashboard.css": "text/css",
          "uPlot.iife.min.js": "application/javascript", "uPlot.min.css": "text/css"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def samples(fams: Families) -> list[dict[str, Any]]:
    """Every sample of ``fams`` as ``{"name", "labels", "value"}``, the ``scope`` label
    dropped (all of them are cluster figures)."""
    return [{"name": s.name, "labels": {k: v for k, v in s.labels.items() if k != "scope"},
             "value": float(s.value)} for m in fams.collect() for s in m.samples]


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _headers() -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache"}


async def page(request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html",
                        charset="utf-8", headers=_headers())


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound(reason=f"no dashboard asset {name!r}")
    return web.Response(body=_static(name), content_type=ASSETS[name], headers=_headers())


async def figures(request: web.Request) -> web.Response:
    """The cluster figures of ``/metrics`` and the prequential curve, as JSON."""
    store, settings = request.app[STORE], request.app[SETTINGS]
    fams = await cluster_figures(store, settings.ranking.k)
    curve = await store.read_curve()
    body = {"ts": time.time(), "k": settings.ranking.k, "samples": samples(fams),
            "curve_bucket_s": settings.evaluation.prequential_bucket_s,
            "curve": [{"bucket": b, "judged": t.judged, "hits": t.hits, "hit_rate": t.hr}
                      for b, t in curve.items()]}
    return web.Response(body=orjson.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-cache"})


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard")


def add_routes(app: web.Application) -> None:
    """``/`` (a redirect), ``/dashboard``, its figures and its assets."""
    app.router.add_get("/", guarded(root))
    app.router.add_get("/dashboard", guarded(page))
    app.router.add_get("/dashboard/figures.json", guarded(figures))
    app.router.add_get("/dashboard/{name}", guarded(asset))
