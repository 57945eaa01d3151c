"""Redis over TLS, against a real TLS redis-server: both clients (redis-py for the worker,
the lean client for the API) verify the server's certificate against the CA file in the
URL, present a client certificate, and refuse a server they cannot verify."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from streamrec.state.redis_store import RedisStore
from streamrec.state.resp import RespClient
from streamrec.streams.dev.embedded import HOST, RedisServer, redis_server_binary

pytestmark = pytest.mark.integration


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all from it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", f"{name}.pem",
                 *(["-extfile", "san.cnf"] if name == "server" else []), cwd=d)


class TlsRedis(RedisServer):
    """redis-server with TLS only, requiring client certificates from the test CA."""

    def __init__(self, certs: Path) -> None:
        super().__init__()
        self.certs = certs

    def argv(self) -> list[str]:
        c = self.certs
        return [redis_server_binary(), "--port", "0", "--tls-port", str(self.port),
                "--bind", HOST, "--requirepass", self.password, "--save", "",
                "--tls-cert-file", str(c / "server.pem"), "--tls-key-file", str(c / "server.key"),
                "--tls-ca-cert-file", str(c / "ca.pem"), "--tls-auth-clients", "yes",
                "--dir", self._logdir]

    def start(self) -> None:
        super(RedisServer, self).start()      # the port check only: redis-py below

    def tls_url(self, **q: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in q.items())
        return f"rediss://:{self.password}@{HOST}:{self.port}/0?{query}"


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    certs = tmp_path_factory.mktemp("certs")
    try:
        make_certs(certs)
        server = TlsRedis(certs)
        server.start()
    except Exception as e:  # noqa: BLE001 - no openssl, or redis-server built without TLS
        pytest.skip(f"no TLS redis-server here: {e}")
    yield server, certs
    server.stop()


async def test_both_clients_verify_the_server_and_present_a_client_certificate(tls_redis):
    server, c = tls_redis
    url = server.tls_url(ssl_ca_certs=c / "ca.pem", ssl_certfile=c / "client.pem",
                         ssl_keyfile=c / "client.key")
    async with RedisStore(url, "tls:") as store:                # redis-py (the worker)
        assert await store.ping()
        await store.client.set("tls:k", "v")
    fast = RespClient(url)                                      # the API's read path
    try:
        assert await fast.execute("GET", "tls:k") == b"v"
    finally:
        await fast.aclose()


@pytest.mark.parametrize("query", [
    {"ssl_certfile": "client.pem", "ssl_keyfile": "client.key"},          # no CA: system's
    {"ssl_certfile": "client.pem", "ssl_keyfile": "client.key", "ssl_cert_reqs": "optional"},
])
async def test_a_server_the_ca_file_does_not_vouch_for_is_refused(tls_redis, query):
    server, c = tls_redis
    url = server.tls_url(**{k: (str(c / v) if k.endswith("file") else v)
                            for k, v in query.items()})
    fast = RespClient(url, timeout_s=3.0)
    try:
        with pytest.raises(RedisConnectionError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
            await fast.execute("PING")
    finally:
        await fast.aclose()
    async with RedisStore(url, "tls:") as store:
        with pytest.raises(RedisConnectionError):
            await store.ping()
