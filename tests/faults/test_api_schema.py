"""Schemathesis against the API's own OpenAPI document (``streams/api/openapi.yaml``, served
at ``/openapi.yaml``), over a real Redis: generated requests, with and without the admin
token, never get a 5xx, and every answer matches the document."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from streamrec.streams.api.server import start_api

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DOC = Path(__file__).parents[2] / "streams" / "api" / "openapi.yaml"


@pytest.fixture(scope="module")
def api_url(redis_server, broker):
    from streamrec.streams.records import TOPIC_FORGET
    from streamrec.streams.settings import Settings
    from streamrec.streams.topics import ensure_topics
    s = Settings.from_env({}, redis_url=redis_server.url, redis_prefix="schema:",
                          broker=broker.bootstrap, topic_prefix="schema.",
                          api_port=0, admin_token="schema-admin-token-0123456789")
    asyncio.run(ensure_topics(s, (TOPIC_FORGET,)))     # DELETE /users/{id} publishes
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box = {}

    def serve():
        asyncio.set_event_loop(loop)
        box["runner"], box["url"] = loop.run_until_complete(start_api(s))
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(30)
    yield box["url"], s.serving.admin_token.get_secret_value()
    asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    t.join(30)
    loop.close()


schema = schemathesis.openapi.from_path(str(DOC))


def _check(case, url, headers, anonymous):
    response = case.call(base_url=url, headers=headers)
    assert response.status_code < 500, response.text
    if anonymous and case.path.startswith(("/experiments", "/users/")):
        assert response.status_code == 401
    # weights must also sum to 1, and a session policy fit the variants, which a JSON
    # schema cannot say: a 400 for generated ones is right, so that one check is left out
    # for the creating call
    weights = case.method == "POST" and case.path == "/experiments" and \
        isinstance(case.body, dict) and (case.body.get("weights") is not None or
                                         case.body.get("session_policy") is not None)
    case.validate_response(response, excluded_checks=(
        [schemathesis.checks.positive_data_acceptance] if weights else None))


FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
def test_api_answers_as_its_document_says(case, api_url):
    url, token = api_url
    _check(case, url, {"Authorization": f"Bearer {token}"}, anonymous=False)


@schema.parametrize()
@FUZZ
def test_anonymous_callers_get_401_from_every_admin_endpoint(case, api_url):
    _check(case, api_url[0], {}, anonymous=True)
