"""The Kafka connection settings every client shares: SASL (PLAIN, SCRAM) and TLS.

One place turns ``STREAMREC_KAFKA_*`` into the arguments of aiokafka's clients and of
Faust's app, so the worker, learner, scorer, replay and topic tool connect alike. TLS
verifies the broker's certificate and host name (aiokafka's ``create_ssl_context``).

>>> from streamrec.streams.settings import Settings
>>> client_kwargs(Settings.from_env({}))
{'security_protocol': 'PLAINTEXT'}
>>> kw = client_kwargs(Settings.from_env({}, kafka_security_protocol="SASL_SSL",
...                    kafka_sasl_mechanism="SCRAM-SHA-512", kafka_username="app",
...                    kafka_password="pw"))
>>> kw["sasl_mechanism"], kw["sasl_plain_username"], kw["ssl_context"].check_hostname
('SCRAM-SHA-512', 'app', True)
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from streamrec.streams.exceptions import SettingsError
from streamrec.streams.settings import Settings


def ssl_context(s: Settings) -> ssl.SSLContext:
    """Verifying TLS context (CA file, or the system's CAs; client certificate if set)."""
    try:
        return create_ssl_context(cafile=s.kafka.kafka_ssl_cafile or None,
                                  certfile=s.kafka.kafka_ssl_certfile or None,
                                  keyfile=s.kafka.kafka_ssl_keyfile or None)
    except (OSError, ssl.SSLError) as e:
        raise SettingsError(f"STREAMREC_KAFKA_SSL_*: cannot load the TLS files: {e}") from e


def client_kwargs(s: Settings) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaConsumer``/``Producer``/``AdminClient``."""
    proto = s.kafka.kafka_security_protocol
    out: dict[str, Any] = {"security_protocol": proto}
    if proto in ("SSL", "SASL_SSL"):
        out["ssl_context"] = ssl_context(s)
    if proto.startswith("SASL"):
        if not s.kafka.kafka_username or not s.kafka.kafka_password:
            raise SettingsError(f"STREAMREC_KAFKA_SECURITY_PROTOCOL={proto} needs "
                                "STREAMREC_KAFKA_USERNAME and STREAMREC_KAFKA_PASSWORD")
        out.update(sasl_mechanism=s.kafka.kafka_sasl_mechanism,
                   sasl_plain_username=s.kafka.kafka_username,
                   sasl_plain_password=s.kafka.kafka_password.get_secret_value())
    return out


def faust_credentials(s: Settings) -> Any:
    """``broker_credentials`` for ``faust.App`` (None for PLAINTEXT)."""
    import faust
    proto = s.kafka.kafka_security_protocol
    if proto == "PLAINTEXT":
        return None
    if proto == "SSL":
        return faust.SSLCredentials(ssl_context(s))
    client_kwargs(s)   # the same checks
    return faust.SASLCredentials(
        username=s.kafka.kafka_username, password=s.kafka.kafka_password.get_secret_value(),
        mechanism=s.kafka.kafka_sasl_mechanism,
        ssl_context=ssl_context(s) if proto == "SASL_SSL" else None)
