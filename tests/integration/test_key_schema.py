"""Every key the worker leaves in Redis (with an experiment running, exploration on, rewards
and duplicates) belongs to a family of the key schema (``state/keys.py``), with its type."""

from __future__ import annotations

import time

import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.models.experiments import Experiment
from streamrec.state.keys import family_of
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.worker.processor import Message, Processor
from tests.conftest import next_offset

pytestmark = pytest.mark.integration


def msg(s, **ev):
    return Message(s.topic("events"), 0, next_offset(), ev["user_id"].encode(),
                   orjson.dumps(ev), time.time())


async def _sink(*a):
    pass


async def test_every_key_written_is_in_the_schema(redis_settings):
    s = redis_settings.replace(explore=True)
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(str(i), stock=0 if i == 9 else 5, price=3.0,
                                                 category=f"c{i % 3}") for i in range(30)])
        await store.create_experiment(Experiment.from_dict(
            {"name": "ab", "variants": ["blend", "covisit"]}))
        proc = Processor(s, store, MemoryUsers(), _sink)
        views = [msg(s, event_id=f"v{n}", type="view", user_id=f"u{n % 4}",
                     item_id=str(n % 12), ts=1.7e9 + n) for n in range(24)]
        await proc.process_events(views + views[:3])        # with a redelivery
        rec = (await store.read_rec("u1", 5))[0]
        await proc.process_events([
            msg(s, event_id="c1", type="click", user_id="u1", item_id=rec["items"][0]["item_id"],
                ts=1.7e9 + 50, rec_id=rec["impression_id"]),
            msg(s, event_id="c1", type="click", user_id="u1", item_id="1", ts=1.7e9 + 51),
            msg(s, event_id="p1", type="purchase", user_id="u1", item_id="2", ts=1.7e9 + 52,
                price=3.0, rec_id=rec["impression_id"])])
        await store.heartbeat("w", {"ts": time.time()})
        keys = [k[len(s.redis.redis_prefix):] async for k in
                store.client.scan_iter(match=s.redis.redis_prefix + "*")]
        types = {k: await store.client.type(s.redis.redis_prefix + k) for k in keys}
    assert len(keys) > 20
    for k in keys:
        fam = family_of(k)
        assert fam is not None, f"{k!r} is not in state/keys.py"
        assert fam.type.split()[0] == types[k], (k, fam.type, types[k])
    families = {family_of(k).pattern for k in keys}
    assert {"wm", "wm:pop", "ids:{partition}", "imp:{impression}", "impok:{impression}",
            "arm:n", "arm:s", "expstats:{name}"} <= families
