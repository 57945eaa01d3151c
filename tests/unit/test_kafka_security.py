"""Kafka SASL/TLS settings reach every client, verify certificates, and fail with the
setting's name when incomplete."""

import re
import ssl
from pathlib import Path

import pytest

from streamrec.streams.exceptions import SettingsError
from streamrec.streams.kafka_security import client_kwargs, faust_credentials
from streamrec.streams.settings import Settings


def test_sasl_needs_a_user_and_password():
    with pytest.raises(SettingsError, match="STREAMREC_KAFKA_USERNAME"):
        client_kwargs(Settings.from_env({}, kafka_security_protocol="SASL_PLAINTEXT"))


def test_tls_verifies_the_broker_and_names_bad_files():
    kw = client_kwargs(Settings.from_env({}, kafka_security_protocol="SSL"))
    assert kw["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert kw["ssl_context"].check_hostname
    with pytest.raises(SettingsError, match="STREAMREC_KAFKA_SSL"):
        client_kwargs(Settings.from_env({}, kafka_security_protocol="SSL",
                                        kafka_ssl_cafile="/nonexistent/ca.pem"))


def test_scram_reaches_faust_and_the_password_is_never_shown():
    s = Settings.from_env({}, kafka_security_protocol="SASL_SSL", kafka_username="app",
                          kafka_sasl_mechanism="SCRAM-SHA-256", kafka_password="pw-9f3")
    creds = faust_credentials(s)
    assert creds.username == "app" and creds.mechanism.value == "SCRAM-SHA-256"
    assert "pw-9f3" not in repr(s)


def test_every_kafka_client_gets_the_security_settings():
    root = Path(__file__).parents[2] / "streams"
    for path in root.glob("*.py"):
        text = path.read_text()
        for call in re.finditer(r"AIOKafka(Consumer|Producer|AdminClient)\(", text):
            args = text[call.end(): call.end() + 400].split("\n\n")[0]
            assert "client_kwargs(" in args, f"{path.name}: {call.group(0)} without them"
