import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from assistant.ide.models import Completion, CompletionEvent
from assistant.ide.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def token():
    user = get_user_model().objects.create(username="dev")
    return api_token_create(user=user, name="laptop")


def client_for(raw: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")


def served(token_row, public_id="cmpl-1") -> Completion:
    return Completion.objects.create(
        public_id=public_id, token=token_row, language="python", prompt_chars=10, latency_ms=5
    )


def test_health_answers_with_the_tabby_fields(token):
    body = client_for(token[1]).get("/ide/v1/health").json()
    assert {"model", "device", "arch", "cpu_info", "cpu_count", "cuda_devices", "version"} <= set(
        body
    )


def test_requests_without_a_token_get_401_with_how_to_fix():
    response = APIClient().post("/ide/v1/completions", {"segments": {"prefix": "x"}}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="ide"'


def test_a_revoked_token_is_refused(token):
    api_token_revoke(token=token[0])
    response = client_for(token[1]).get("/ide/v1/health")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_a_completion_without_segments_prefix_is_400(token):
    response = client_for(token[1]).post(
        "/ide/v1/completions", {"language": "python"}, format="json"
    )
    assert response.status_code == 400
    assert "segments.prefix" in response.json()["error"]["message"]
    assert not Completion.objects.exists()


def test_a_prefix_of_the_wrong_type_is_400(token):
    response = client_for(token[1]).post(
        "/ide/v1/completions", {"segments": {"prefix": 12}}, format="json"
    )
    assert response.status_code == 400


def test_events_are_stored_for_acceptance_reporting(token):
    served(token[0])
    for kind in ("view", "select"):
        response = client_for(token[1]).post(
            "/ide/v1/events",
            {
                "type": kind,
                "completion_id": "cmpl-1",
                "choice_index": 0,
                "view_id": "v1",
                "elapsed": 120,
            },
            format="json",
        )
        assert response.status_code == 200
    assert list(CompletionEvent.objects.values_list("type", flat=True)) == ["view", "select"]


def test_an_event_for_someone_elses_completion_is_404(token):
    other = api_token_create(user=get_user_model().objects.create(username="other"), name="x")
    served(other[0], "cmpl-theirs")
    response = client_for(token[1]).post(
        "/ide/v1/events", {"type": "select", "completion_id": "cmpl-theirs"}, format="json"
    )
    assert response.status_code == 404
    assert not CompletionEvent.objects.exists()


def test_an_unknown_event_type_is_400(token):
    served(token[0])
    response = client_for(token[1]).post(
        "/ide/v1/events", {"type": "like", "completion_id": "cmpl-1"}, format="json"
    )
    assert response.status_code == 400
    assert "view, select or dismiss" in response.json()["error"]["message"]


def test_create_api_token_prints_a_working_token(capsys):
    get_user_model().objects.create(username="dev.ann")
    call_command("create_api_token", "dev.ann", "--name", "vim")
    raw = capsys.readouterr().out.strip()
    assert client_for(raw).get("/ide/v1/health").status_code == 200


def test_the_token_rate_limit_answers_429(token, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"chat": "2/min", "ide": "2/min"},
    }
    served(token[0])
    codes = [
        client_for(token[1])
        .post("/ide/v1/events", {"type": "view", "completion_id": "cmpl-1"}, format="json")
        .status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
