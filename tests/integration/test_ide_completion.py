"""A Tabby-style completion through the real stack (Django under uvicorn, our model server)."""

import pytest
from django.contrib.auth import get_user_model

from assistant.ide.models import Completion
from assistant.ide.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "AKIAIOSFODNN7EXAMPLE"


def test_a_tabby_completion_round_trips_and_secrets_never_reach_the_model(web):
    _, raw = api_token_create(user=get_user_model().objects.create(username="dev"), name="vscode")
    client = web.client(Authorization=f"Bearer {raw}")
    body = {
        "language": "python",
        "segments": {
            "prefix": f'AWS_KEY = "{SECRET}"\ndef total(items):\n    return ',
            "suffix": "\n",
        },
    }
    response = client.post("/ide/v1/completions", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"].startswith("cmpl-")
    assert answer["choices"][0]["index"] == 0 and isinstance(answer["choices"][0]["text"], str)

    completion = Completion.objects.get(public_id=answer["id"])
    assert completion.redactions == 1
    assert completion.text == answer["choices"][0]["text"]
    event = client.post(
        "/ide/v1/events", json={"type": "select", "completion_id": answer["id"], "choice_index": 0}
    )
    assert event.status_code == 200
    assert completion.events.get().type == "select"


def test_the_ide_gets_503_with_retry_after_when_the_model_server_is_down(
    django_db_blocker, tmp_path
):
    from tests.live import start_web, stop

    web, process = start_web(model_url="http://127.0.0.1:9/v1", var_dir=tmp_path, MODEL_RETRIES="0")
    try:
        _, raw = api_token_create(
            user=get_user_model().objects.create(username="dev"), name="vscode"
        )
        response = web.client(Authorization=f"Bearer {raw}").post(
            "/ide/v1/completions", json={"segments": {"prefix": "x = "}}
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert Completion.objects.get().failed is True
    finally:
        stop(process)
