"""Fuzz the JSON APIs from their own OpenAPI schema (schemathesis), against the live server:
whatever a client sends, the answer is never a server error. The number of examples per
operation is bounded so the run stays short; the streaming endpoints, which call the model,
are exercised by the chat tests instead."""

import json

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

from assistant.ide.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_CALLS = r"/(messages|retry)$|/ide/v1/completions$"


# The same document /api/schema/ serves, generated in-process (Django is set up before collection).
schema = schemathesis.openapi.from_dict(
    json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
).exclude(path_regex=MODEL_CALLS)


@pytest.fixture
def auth_headers(web):
    client = web.client()
    chat_token = client.post("/api/chat/sessions", json={}).json()["session_token"]
    _, ide_token = api_token_create(
        user=get_user_model().objects.create(username="fuzzer"), name="fuzz"
    )
    return {"chat": chat_token, "ide": ide_token}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail_with_a_server_error(case, web, auth_headers):
    token = auth_headers["ide"] if case.path.startswith("/ide/") else auth_headers["chat"]
    response = case.call(base_url=web.base, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
