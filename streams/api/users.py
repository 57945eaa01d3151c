"""The user endpoints, all behind the admin token: forgetting a user on request (``DELETE
/users/{id}``), a renewed consent (``POST /users/{id}/consent``) and the user's profile
(``GET /users/{id}/profile``).

Forgetting runs in two steps, in this order:

1. Redis (``state/lua/forget.lua``): the user is marked in ``forgotten``, so that no batch
   writes anything for it from then on (``commit.lua`` checks the mark atomically with
   its writes), and its own keys are deleted: ``user:{id}`` (recent, seen and bought
   items), ``rec:{id}`` (its list) and its impressions with their pending rewards
   (``imp:{impression}``, ``impok:{impression}``). Workers read the mark with each batch's
   watermarks and drop the user from their memory (``streams/worker/forgotten.py``).
2. A tombstone on ``users.forget`` (keyed by the user, compacted): the learner drops the
   user's River vectors and skips its events, so its next snapshot holds nothing of it.

The answer lists the keys removed and where the tombstone went. When the broker cannot
take the tombstone the answer is 503 and says what was removed: the request is idempotent,
send it again. Co-visitation, trending, exploration arms and experiment counters are
anonymous aggregates over all users (no user id in them) and are not changed.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streamrec.models.userstate import UserState
from streamrec.streams import schemas
from streamrec.streams.api.context import SETTINGS, STORE
from streamrec.streams.api.guard import guarded
from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.records import TOPIC_FORGET
from streamrec.streams.settings import Settings

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 10.0
PROFILE_RECENT = 10


class Tombstones:
    """Publishes :class:`~streamrec.streams.schemas.UserTombstone` messages; the producer
    starts on first use (an API that never forgets anyone never connects to Kafka)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                s = self.settings
                producer = AIOKafkaProducer(bootstrap_servers=s.kafka.broker, acks="all",
                                            request_timeout_ms=int(PUBLISH_TIMEOUT_S * 1000),
                                            **client_kwargs(s))
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def publish(self, t: schemas.UserTombstone) -> dict[str, object]:
        """Send ``t`` and wait for the broker's acknowledgement: where it was written."""
        producer = await self._started()
        md = await asyncio.wait_for(producer.send_and_wait(
            self.settings.topic(TOPIC_FORGET), schemas.encode(t), key=t.user_id.encode()),
            PUBLISH_TIMEOUT_S)
        return {"topic": md.topic, "partition": md.partition, "offset": md.offset}

    async def aclose(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


TOMBSTONES: web.AppKey[Tombstones] = web.AppKey("tombstones", Tombstones)


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if not 1 <= len(user_id) <= schemas.MAX_ID_LEN:
        raise web.HTTPBadRequest(reason=f"user_id must have 1..{schemas.MAX_ID_LEN} characters")
    return user_id


def _no_broker(app: web.Application) -> web.Response | None:
    if app[SETTINGS].kafka.broker:
        return None
    return web.json_response(
        {"error": "forgetting a user publishes a tombstone to users.forget: set "
                  "STREAMREC_BROKER (or --broker) on the API", "status": 503}, status=503)


async def _publish(request: web.Request, t: schemas.UserTombstone,
                   answer: dict[str, object]) -> web.Response:
    try:
        answer["tombstone"] = await request.app[TOMBSTONES].publish(t)
    except (TimeoutError, KafkaError, OSError) as e:
        log.warning("tombstone (%s) not published: %r", t.action, e)
        return web.json_response(
            {**answer, "status": 503, "error": f"Redis is done but the tombstone was not "
             f"published to users.forget ({type(e).__name__}): send the request again"},
            status=503)
    return web.json_response(answer)


async def forget(request: web.Request) -> web.Response:
    user_id = _user_id(request)
    if (refused := _no_broker(request.app)) is not None:
        return refused
    at = time.time()
    removed = await request.app[STORE].forget_user(user_id, at)
    return await _publish(request, schemas.UserTombstone(user_id, "forget", at),
                          {"user_id": user_id, "forgotten_at": at, "removed": sorted(removed)})


async def consent(request: web.Request) -> web.Response:
    user_id = _user_id(request)
    if (refused := _no_broker(request.app)) is not None:
        return refused
    was = await request.app[STORE].consent_user(user_id)
    return await _publish(request, schemas.UserTombstone(user_id, "consent", time.time()),
                          {"user_id": user_id, "was_forgotten": was})


async def profile(request: web.Request) -> web.Response:
    """The user's profile (``models/profile.py``) and recent items, as the worker keeps
    them in ``user:{id}``; 404 for a user without events (or forgotten)."""
    user_id = _user_id(request)
    raw = (await request.app[STORE].user_states([user_id]))[0]
    if raw is None:
        raise web.HTTPNotFound(reason=f"no events of user {user_id!r}")
    st = UserState.from_json(orjson.loads(raw))
    return web.json_response({"user_id": user_id, **st.profile.summary(time.time()),
                              "recent_items": st.recent[:PROFILE_RECENT],
                              "purchases": len(st.bought)})


def add_routes(app: web.Application) -> None:
    app[TOMBSTONES] = Tombstones(app[SETTINGS])

    async def close(app: web.Application) -> None:
        await app[TOMBSTONES].aclose()

    app.on_cleanup.append(close)
    app.router.add_delete("/users/{user_id}", guarded(forget))
    app.router.add_post("/users/{user_id}/consent", guarded(consent))
    app.router.add_get("/users/{user_id}/profile", guarded(profile))
