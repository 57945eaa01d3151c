"""What every API route does around its handler: admin endpoints closed without their
token, errors as JSON (503 when Redis is down), each request counted and timed.

It wraps each handler where the route is added (:func:`guarded`) rather than running as
an aiohttp middleware: an app without middlewares takes aiohttp's fast path, and the
middleware chain cost the list endpoint about a quarter of its requests/s (wrk against the
same handler with and without it, docs/benchmarks.md). Unknown paths and methods reach
:func:`unmatched`, the last route, which answers 404 or 405 (with ``Allow``) as JSON.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streamrec.streams.api.context import SETTINGS, STATS

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_PREFIXES = ("/experiments", "/users/")
UNMATCHED = r"/{unmatched:[\s\S]*}"   # the last route's path (newlines too), canonical:
UNMATCHED_CANONICAL = "/{unmatched}"


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error(status: int, message: str) -> web.Response:
    return json_response({"error": message, "status": status}, status)


def admin_denied(request: web.Request) -> web.Response | None:
    """401 for an admin endpoint (``/experiments...``, ``/users/...``) without
    ``Authorization: Bearer <token>`` (``STREAMREC_ADMIN_TOKEN``); without a configured
    token they are closed. None for every other request."""
    if not request.path.startswith(ADMIN_PREFIXES):
        return None
    token = request.app[SETTINGS].serving.admin_token.get_secret_value()
    given = request.headers.get("Authorization", "")
    if not token:
        return error(401, "admin endpoints are disabled: set STREAMREC_ADMIN_TOKEN")
    if not (given.startswith("Bearer ") and
            hmac.compare_digest(given[7:].encode(), token.encode())):
        response = error(401, "admin endpoint: missing or wrong bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="streamrec admin"'
        return response
    return None


def guarded(handler: Handler) -> Handler:
    """``handler`` with the admin check, JSON errors and the request figures."""
    async def guard(request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        try:
            response = admin_denied(request) or await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            response = error(e.status, e.reason)
            if "Allow" in e.headers:      # 405: the methods the resource takes (RFC 9110)
                response.headers["Allow"] = e.headers["Allow"]
        except (RedisConnectionError, RedisTimeoutError) as e:
            log.warning("Redis unavailable serving %s: %s", request.path, e)
            response = error(503, f"Redis unavailable: {e}")
        except Exception:
            log.exception("error serving %s", request.path)
            response = error(500, "internal error")
        canonical = request.match_info.route.resource.canonical  # type: ignore[union-attr]
        request.app[STATS].observe("unmatched" if canonical == UNMATCHED_CANONICAL else canonical,
                                   response.status, (time.perf_counter() - t0) * 1000.0)
        return response
    guard.__doc__, guard.__name__ = handler.__doc__, handler.__name__
    return guard


async def unmatched(request: web.Request) -> web.StreamResponse:
    """404, or 405 with the methods of the resource whose path matched."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical != UNMATCHED_CANONICAL:
            match, methods = await resource.resolve(request)
            if match is None:
                allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def add_unmatched(app: web.Application) -> None:
    """The last route: JSON 404 and 405 for whatever no other route takes."""
    app.router.add_route("*", UNMATCHED, guarded(unmatched))
