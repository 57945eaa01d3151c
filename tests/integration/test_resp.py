"""The API's lean Redis client (state/resp.py) against a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streamrec.state.resp import MISS, RespClient

pytestmark = pytest.mark.integration


@pytest.fixture
async def clients(redis_server):
    fast, plain = RespClient(redis_server.url), aioredis.Redis.from_url(redis_server.url)
    yield fast, plain
    await fast.aclose()
    await plain.aclose()


async def test_concurrent_commands_get_their_own_replies(clients, names):
    fast, plain = clients
    await plain.mset({f"{names}:{i}": f"v{i}" for i in range(300)})
    keys = [f"{names}:{i}" for i in range(300)] + [f"{names}:absent"]
    replies = await asyncio.gather(*(fast.execute("GET", k) for k in keys))
    assert replies == [f"v{i}".encode() for i in range(300)] + [None]
    # replies of every shape: integer, array, nested array with scores
    await plain.zadd(f"{names}:z", {"a": 1.5, "b": 2.0})
    assert await fast.execute("ZCARD", f"{names}:z") == 2
    assert await fast.execute("ZREVRANGE", f"{names}:z", 0, -1, "WITHSCORES") == [
        b"b", b"2", b"a", b"1.5"]


async def test_error_replies_raise_and_the_connection_goes_on(clients, names):
    fast, plain = clients
    await plain.set(f"{names}:s", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await fast.execute("ZCARD", f"{names}:s")
    with pytest.raises(NoScriptError):
        await fast.execute("EVALSHA", "0" * 40, 0)
    a, b = fast.send("INCR", f"{names}:s"), fast.send("GET", f"{names}:s")   # one write
    with pytest.raises(ResponseError, match="not an integer"):
        await a
    assert await b == b"x"


async def test_a_cancelled_caller_does_not_shift_the_replies(clients, names):
    fast, plain = clients
    await plain.mset({f"{names}:a": "1", f"{names}:b": "2"})
    first = fast.send("GET", f"{names}:a")
    first.cancel()
    assert await fast.execute("GET", f"{names}:b") == b"2"


async def test_reconnects_after_the_server_drops_it(clients, names):
    fast, plain = clients
    my_id = await fast.execute("CLIENT", "ID")
    await plain.execute_command("CLIENT", "KILL", "ID", my_id)
    await asyncio.sleep(0.05)
    await plain.set(f"{names}:k", "back")
    assert await fast.execute("GET", f"{names}:k") == b"back"
    assert await fast.execute("CLIENT", "ID") != my_id


async def test_user_password_and_database_from_the_url(redis_server, names):
    plain = aioredis.Redis.from_url(redis_server.url)
    user = f"u{names}"
    await plain.execute_command("ACL", "SETUSER", user, "on", ">s3cret", "~*", "+@all")
    host_port = redis_server.url.split("@")[-1].split("/")[0]
    fast = RespClient(f"redis://{user}:s3cret@{host_port}/3")
    try:
        await fast.execute("SET", f"{names}:db3", "yes")
        in_db3 = aioredis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/3")
        assert await in_db3.get(f"{names}:db3") == b"yes"
        await in_db3.delete(f"{names}:db3")
        await in_db3.aclose()
        wrong = RespClient(f"redis://{user}:nope@{host_port}/0")
        with pytest.raises(RedisConnectionError, match=f"cannot connect to Redis at {host_port}"):
            await wrong.execute("PING")
        await wrong.aclose()
    finally:
        await fast.aclose()
        await plain.execute_command("ACL", "DELUSER", user)
        await plain.aclose()


async def test_nothing_listening_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]           # free, and closed again when the test runs
    fast = RespClient(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(RedisConnectionError, match=f"cannot connect to Redis at 127.0.0.1:{port}"):
        await fast.execute("PING")
    await fast.aclose()


async def test_a_server_that_never_answers_times_out():
    """A peer that accepts and reads but never replies (a hung Redis): every waiting command
    fails once ``timeout_s`` has passed, instead of hanging the API."""
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass
    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fast = RespClient(f"redis://127.0.0.1:{port}/0", timeout_s=0.4)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    results = await asyncio.gather(fast.execute("GET", "a"), fast.execute("GET", "b"),
                                   return_exceptions=True)
    waited = loop.time() - t0
    assert all(isinstance(r, RedisTimeoutError) for r in results), results
    assert 0.4 <= waited < 2.0
    await fast.aclose()
    server.close()
    await server.wait_closed()


async def test_tracking_keeps_replies_until_redis_says_the_key_changed(redis_server, names):
    """Client-side caching: a read of a tracked key is answered from memory until Redis
    pushes an invalidation (a write by another client, a delete, an expiry, a flush); a
    reconnect starts empty. The push comes on the same connection ahead of any reply
    Redis sends after the write, so a PING (its reply) proves it was applied."""
    writer = aioredis.Redis.from_url(redis_server.url)
    fast = RespClient(redis_server.url, tracking=True)
    k, z = f"{names}:k", f"{names}:z"
    try:
        await writer.set(k, "1")
        await writer.zadd(z, {"a": 1.5})
        served = await writer.info("stats")
        for _ in range(3):
            assert await fast.cached(k, "GET", k) == b"1"
            assert await fast.cached(z, "ZREVRANGE", z, 0, 0, "WITHSCORES") == [[b"a", 1.5]]
        assert (fast.hits, fast.misses) == (4, 2)
        await writer.set(k, "2")                 # another client's write
        await fast.execute("PING")
        assert await fast.cached(k, "GET", k) == b"2"
        assert await fast.cached(z, "ZREVRANGE", z, 0, 0, "WITHSCORES") == [[b"a", 1.5]]
        await writer.delete(k)
        await fast.execute("PING")
        assert await fast.cached(k, "GET", k) is None
        assert await fast.cached(k, "GET", k) is None     # a missing key is kept too
        await writer.set(k, "3", px=1)          # expiry pushes an invalidation as well
        await fast.execute("PING")
        while await writer.exists(k):
            await asyncio.sleep(0.005)          # polls Redis for the expiry, no fixed wait
        await fast.execute("PING")
        assert await fast.cached(k, "GET", k) is None
        await writer.set(k, "4")
        await fast.execute("PING")
        assert await fast.cached(k, "GET", k) == b"4"
        assert fast.lookup(k, "GET", k) == b"4"             # kept
        await writer.client_kill_filter(_id=await fast.execute("CLIENT", "ID"))
        with contextlib.suppress(RedisConnectionError):    # the drop, or a new connection
            await fast.execute("PING")
        assert fast.lookup(k, "GET", k) is MISS              # a new connection starts empty
        assert await fast.cached(k, "GET", k) == b"4"
        assert (await writer.info("stats"))["total_commands_processed"] > \
            served["total_commands_processed"]
    finally:
        await fast.aclose()
        await writer.aclose()


async def test_cached_serving_sees_new_lists_and_sellouts(redis_settings):
    """RedisStore with cache_lists (the API's default): a rewritten list and a sellout
    reach the next request once Redis's push has arrived."""
    from streamrec.models.events import CatalogChange
    from streamrec.state.redis_store import RedisStore
    from tests.contract.store_contract import _list
    s = redis_settings
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix, cache_lists=True) as api, \
            RedisStore(s.redis.redis_url, s.redis.redis_prefix) as worker:
        await worker.apply_catalog([CatalogChange(i, 5, 1.0, None, None) for i in "abcd"])
        await worker.write_recs({"u1": _list("u1", ["a", "b", "c"], 1.0)})
        for _ in range(2):
            rec, _ = await api.serve_rec("u1", 5)
            assert [i.item_id for i in rec.items] == ["a", "b", "c"]
        fast = api._reader()
        assert fast.hits == 2
        await worker.write_recs({"u1": _list("u1", ["d", "a"], 2.0)})
        await fast.execute("PING")
        assert [i.item_id for i in (await api.serve_rec("u1", 5))[0].items] == ["d", "a"]
        await worker.apply_catalog([CatalogChange("a", 0, None, None, None)])
        await fast.execute("PING")
        assert [i.item_id for i in (await api.serve_rec("u1", 5))[0].items] == ["d"]
        assert await api.serve_rec("nobody", 5) == (None, [])
