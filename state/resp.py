"""A lean asyncio Redis client for the API's read path: one connection, pipelined for free.

redis-py's asyncio client spends ~100-150 us of Python per command (pool checkout, a
timeout per command, reply callbacks). The API serves one list per request, so that cost
set its ceiling: a bare aiohttp handler doing one redis-py GET served ~8,000 requests/s
on the 2-core reference machine, against ~22,000 for a handler that returns a constant.
This client sends commands on one connection and matches replies in order (Redis answers
in order), with the C parser of ``hiredis``. Commands issued in the same event-loop turn
leave in one write, so concurrent requests share system calls (as ioredis's
auto-pipelining): the same GET handler serves ~20,000 requests/s.

It speaks RESP2, understands the URLs redis-py does (``redis://``, ``rediss://``,
``unix://``, user, password and database), and fails every waiting command with a
:class:`redis.exceptions.ConnectionError` or :class:`redis.exceptions.TimeoutError` when the
connection drops or Redis does not answer within ``timeout_s``; the next command connects
again. Error replies raise :class:`redis.exceptions.ResponseError` (``NoScriptError`` for
``NOSCRIPT``). Replies are bytes, as the parser gives them. It has no pool, no
transactions and no pub/sub: the worker and everything else use redis-py.

With ``tracking=True`` it speaks RESP3 and turns on Redis's client-side caching (``CLIENT
TRACKING``, Redis 6+): :meth:`RespClient.cached` keeps the reply of a read of one key
until Redis pushes that the key changed. The push comes on the same connection, after the
reply of any read made before the write, so a reply is never kept past its invalidation;
a new connection starts with an empty cache (pushes may have been missed). A write is
seen once its push has arrived: Redis queues the push while it runs the write, ahead of
the writer's reply, but on another connection, so a request that follows the writer's
reply within microseconds may still be served the reply from before the write.

>>> import asyncio
>>> from streamrec.streams.dev.embedded import RedisServer
>>> async def demo(url):
...     client = RespClient(url)
...     await client.execute("SET", "greeting", "hello")
...     a, b = client.send("GET", "greeting"), client.send("STRLEN", "greeting")  # one write
...     replies = await a, await b
...     await client.aclose()
...     return replies
>>> with RedisServer() as server:
...     asyncio.run(demo(server.url))
(b'hello', 5)
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any

import hiredis
from redis.connection import parse_url
from redis.exceptions import BusyLoadingError, NoScriptError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

CACHE_KEYS = 200_000     # keys whose replies a tracking connection keeps at most
MISS = object()          # RespClient.lookup: nothing kept


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP: an array of bulk strings.

    >>> pack(("GET", "rec:7"))
    b'*2\\r\\n$3\\r\\nGET\\r\\n$5\\r\\nrec:7\\r\\n'
    """
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _error(reply: hiredis.ReplyError) -> RedisError:
    text = str(reply)
    if text.startswith("LOADING"):      # a restarted Redis reading its data: an outage
        return BusyLoadingError(text)
    return NoScriptError(text) if text.startswith("NOSCRIPT") else ResponseError(text)


class _Connection(asyncio.Protocol):
    """One connection: commands out in order, replies matched to their futures in order."""

    def __init__(self, params: dict[str, Any], timeout_s: float, tracking: bool = False
                 ) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout_s = timeout_s
        self._parser = hiredis.Reader()
        self._out: list[bytes] = []                     # written at the next flush
        # (future, sent at, key whose reply is cached (tracking) or None, command's args)
        self._waiters: deque[tuple[asyncio.Future[Any], float, bytes | None,
                                   tuple[Any, ...]]] = deque()
        self.tracking = tracking
        self.cache: dict[bytes, dict[tuple[Any, ...], Any]] = {}   # key -> {args: reply}
        self._transport: asyncio.Transport | None = None
        self._ready = False          # connected and authenticated: commands may go out
        self._flush_soon = False
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed = False
        self._connecting = self._loop.create_task(self._connect(params))

    # -- sending -------------------------------------------------------------------------
    def send(self, command: bytes, key: bytes | None = None, args: tuple[Any, ...] = ()
             ) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._waiters.append((fut, self._loop.time(), key, args))
        self._out.append(command)
        if self._ready and not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout_s / 4, self._check_overdue)
        return fut

    def _flush(self) -> None:
        self._flush_soon = False
        if self._out and self._transport is not None and not self.closed:
            self._transport.write(b"".join(self._out))
            self._out.clear()

    async def _connect(self, params: dict[str, Any]) -> None:
        host, port = params.get("host", "localhost"), params.get("port", 6379)
        where = params.get("path") or f"{host}:{port}"
        try:
            async with asyncio.timeout(self._timeout_s):
                if "path" in params:
                    await self._loop.create_unix_connection(lambda: self, params["path"])
                else:
                    await self._loop.create_connection(lambda: self, host, port,
                                                       ssl=_ssl_context(params))
                hello = []
                if params.get("password") is not None:
                    user = params.get("username")
                    hello.append(("AUTH", user, params["password"]) if user
                                 else ("AUTH", params["password"]))
                if params.get("db"):
                    hello.append(("SELECT", params["db"]))
                if self.tracking:
                    hello += [("HELLO", 3), ("CLIENT", "TRACKING", "ON")]
                # these go first: replies come in order, so their futures go to the front
                firsts = [self._loop.create_future() for _ in hello]
                for fut in reversed(firsts):
                    self._waiters.appendleft((fut, self._loop.time(), None, ()))
                if hello:
                    assert self._transport is not None
                    self._transport.write(b"".join(pack(h) for h in hello))
                    await asyncio.gather(*firsts)
        except (OSError, TimeoutError, ResponseError, RedisConnectionError) as e:
            reason = "timed out" if isinstance(e, TimeoutError) else str(e)
            self._fail(RedisConnectionError(f"cannot connect to Redis at {where}: {reason}"))
            return
        if self.closed:                 # failed (timed out) or closed while connecting
            if self._transport is not None:
                self._transport.abort()
            return
        self._ready = True
        self._flush()

    # -- receiving -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        waiters = self._waiters
        try:
            while (reply := self._parser.gets()) is not False:
                if type(reply) is hiredis.PushNotification:
                    self._pushed(reply)
                    continue
                fut, _, key, command = waiters.popleft()
                if key is not None and not isinstance(reply, hiredis.ReplyError):
                    self._remember(key, command, reply)
                if fut.done():                  # its caller was cancelled
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    fut.set_exception(_error(reply))
                else:
                    fut.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as e:
            self._fail(RedisConnectionError(f"bad reply from Redis: {e}"))

    def _pushed(self, push: list[Any]) -> None:
        """``invalidate``: the keys changed (None: all of them, e.g. after FLUSHALL)."""
        if push and push[0] == b"invalidate":
            keys = push[1] if len(push) > 1 else None
            if keys is None:
                self.cache.clear()
            else:
                for k in keys:
                    self.cache.pop(k, None)

    def _remember(self, key: bytes, command: tuple[Any, ...], reply: Any) -> None:
        cache = self.cache
        if key not in cache and len(cache) >= CACHE_KEYS:
            del cache[next(iter(cache))]        # the oldest: Redis keeps tracking it, harmless
        cache.setdefault(key, {})[command] = reply

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    # -- failing -------------------------------------------------------------------------
    def _check_overdue(self) -> None:
        self._watchdog = None
        if not self._waiters:
            return
        waited = self._loop.time() - self._waiters[0][1]
        if waited > self._timeout_s:
            self._fail(RedisTimeoutError(f"Redis did not answer within {self._timeout_s:g} s"))
        else:
            self._watchdog = self._loop.call_later(self._timeout_s / 4, self._check_overdue)

    def _fail(self, exc: Exception) -> None:
        """Close for good: every waiting command gets ``exc``."""
        self.closed = True
        self._ready = False
        self.cache.clear()
        if self._transport is not None:
            self._transport.abort()
        while self._waiters:
            fut = self._waiters.popleft()[0]
            if not fut.done():
                fut.set_exception(exc)
                # one failure of the connection: a caller that sent two commands and got
                # it from the first need not collect it from the second
                fut.exception()
        self._out.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def close(self) -> None:
        if not self._connecting.done():
            self._connecting.cancel()
            try:
                await self._connecting
            except asyncio.CancelledError:
                pass
        self._fail(RedisConnectionError("client closed"))


def _ssl_context(params: dict[str, Any]) -> ssl.SSLContext | None:
    """The TLS context of a ``rediss://`` URL, from the query parameters redis-py reads:
    ``ssl_ca_certs`` (CA file; default: the system's), ``ssl_certfile`` and
    ``ssl_keyfile`` (a client certificate), ``ssl_check_hostname``. The server's
    certificate is always verified, unless the URL says ``ssl_cert_reqs=none``.

    >>> from redis.connection import parse_url
    >>> _ssl_context(parse_url("redis://h:1/0")) is None
    True
    >>> ctx = _ssl_context(parse_url("rediss://h:1/0?ssl_cert_reqs=optional"))
    >>> ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    True
    """
    if params.get("connection_class") is None or "SSL" not in params["connection_class"].__name__:
        return None
    ctx = ssl.create_default_context(cafile=params.get("ssl_ca_certs"))
    if params.get("ssl_certfile"):
        ctx.load_cert_chain(params["ssl_certfile"], params.get("ssl_keyfile"))
    if str(params.get("ssl_cert_reqs", "required")).lower() == "none":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif str(params.get("ssl_check_hostname", "true")).lower() in ("false", "0", "no"):
        ctx.check_hostname = False
    return ctx


class RespClient:
    """A Redis client for hot read paths; see the module docstring. Use one per process."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, tracking: bool = False) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.tracking = tracking
        self.hits = self.misses = 0          # of lookup
        self._params = parse_url(url)
        self._conn: _Connection | None = None

    def _connection(self) -> _Connection:
        conn = self._conn
        if conn is None or conn.closed:
            conn = self._conn = _Connection(self._params, self.timeout_s, self.tracking)
        return conn

    def send(self, *args: Any) -> asyncio.Future[Any]:
        """Queue one command now (it leaves with the others of this loop turn); await the
        future for the reply."""
        return self._connection().send(pack(args))

    async def cached(self, key: str, *args: Any) -> Any:
        """The reply of ``args``, a command that reads ``key`` alone: with ``tracking``,
        kept and given again until Redis says that ``key`` changed.

        >>> from streamrec.streams.dev.embedded import RedisServer
        >>> async def demo(url):
        ...     writer, client = RespClient(url), RespClient(url, tracking=True)
        ...     await writer.execute("SET", "k", "1")
        ...     first = await client.cached("k", "GET", "k")
        ...     again = await client.cached("k", "GET", "k")     # no round trip
        ...     await writer.execute("SET", "k", "2")
        ...     await client.execute("PING")          # the push is ahead of this reply
        ...     now = await client.cached("k", "GET", "k")
        ...     await writer.aclose(); await client.aclose()
        ...     return first, again, now, client.hits, client.misses
        >>> with RedisServer() as server:
        ...     asyncio.run(demo(server.url))
        (b'1', b'1', b'2', 1, 2)
        """
        kept = self.lookup(key, *args)
        return kept if kept is not MISS else await self.send_kept(key, *args)

    def lookup(self, key: str, *args: Any) -> Any:
        """The kept reply of ``args`` (a read of ``key``), or :data:`MISS` (then
        :meth:`send_kept`). Synchronous: a hit costs no future and no loop turn."""
        conn = self._conn
        kept = conn.cache.get(key.encode()) if conn is not None and not conn.closed else None
        if kept is not None:
            got = kept.get(args, MISS)
            if got is not MISS:
                self.hits += 1
                return got
        self.misses += 1
        return MISS

    def send_kept(self, key: str, *args: Any) -> asyncio.Future[Any]:
        """:meth:`send` for a read of ``key`` whose reply is kept (with ``tracking``)."""
        conn = self._connection()
        return conn.send(pack(args), key.encode() if conn.tracking else None, args)

    async def execute(self, *args: Any) -> Any:
        return await self.send(*args)

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
