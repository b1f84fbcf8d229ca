import pytest

pytestmark = pytest.mark.django_db


def test_liveness_answers_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readiness_checks_database_cache_and_broker(client):
    body = client.get("/readyz").json()
    assert body["ready"] is True, body
    assert set(body["checks"]) == {"database", "cache", "broker"}


def test_readiness_fails_with_the_reason_when_the_broker_is_down(client, settings):
    from assistant.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert "Error" in response.json()["checks"]["broker"]["error"]


def test_health_endpoints_refuse_other_methods(client):
    assert client.post("/healthz").status_code == 405
