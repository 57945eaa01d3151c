"""A crafted pickle written into ``model:snapshot`` by anyone who can reach Redis is never
unpickled: not by a worker polling for snapshots, not by the learner restoring one."""

from __future__ import annotations

import os
import pickle

import pytest
import redis.asyncio as aioredis

from streamrec.models.online_learner import OnlineLearner
from streamrec.state import snapshots
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.learner import Learner
from streamrec.streams.worker.processor import Processor

pytestmark = [pytest.mark.integration, pytest.mark.faults]


class Exploit:
    def __reduce__(self):
        return (exec, ("import os; os.environ['STREAMREC_PWNED'] = '1'",))


async def _sink(*a):
    pass


async def test_injected_pickle_is_refused_and_a_signed_snapshot_is_loaded(redis_settings,
                                                                          monkeypatch):
    monkeypatch.delenv("STREAMREC_PWNED", raising=False)
    s = redis_settings
    raw = aioredis.from_url(s.redis.redis_url)    # a plain client, as an attacker would use
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await raw.set(store.key("model:snapshot"), pickle.dumps({"model": Exploit(),
                                                                  "version": 1}))
        await raw.incr(store.key("model:version"))
        # with a key, and with none configured
        for key in (s.serving.snapshot_key.get_secret_value(), ""):
            proc = Processor(s.replace(snapshot_key=key), store, MemoryUsers(), _sink)
            assert await proc.lists._river_model() is None
        with pytest.raises(snapshots.SnapshotRejected):
            await Learner(s).restore()
        assert "STREAMREC_PWNED" not in os.environ
        # the learner's own, signed snapshot is loaded
        model = OnlineLearner(seed=1)
        await raw.set(store.key("model:snapshot"), snapshots.dumps(
            {"model": model, "version": 2, "offsets": {}},
            s.serving.snapshot_key.get_secret_value()))
        await raw.incr(store.key("model:version"))
        proc = Processor(s, store, MemoryUsers(), _sink)
        assert isinstance(await proc.lists._river_model(), OnlineLearner)
    await raw.aclose()
