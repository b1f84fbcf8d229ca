import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from assistant.chat.identity import identity_token_create
from assistant.conversations.models import Conversation, Message
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


def session(client: APIClient, **body) -> dict:
    response = client.post("/api/chat/sessions", body, format="json")
    assert response.status_code == 201, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['session_token']}")
    return response.json()


def start(client: APIClient, **body) -> dict:
    response = client.post("/api/chat/conversations", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_anonymous_visitor_gets_a_session_and_starts_a_conversation():
    client = APIClient()
    opened = session(client)
    assert opened["customer"] is None
    conversation = start(client)
    assert conversation["status"] == "bot"
    assert Conversation.objects.get().customer is None


def test_a_valid_identity_token_signs_the_customer_in():
    customer = make_customer("Li Na")
    client = APIClient()
    opened = session(client, identity_token=identity_token_create(external_id=customer.external_id))
    assert opened["customer"]["name"] == "Li Na"
    start(client)
    assert Conversation.objects.get().customer == customer


@pytest.mark.parametrize(
    "token_of",
    [
        lambda c: identity_token_create(external_id=c.external_id)[:-2] + "00",
        lambda c: identity_token_create(
            external_id=c.external_id, issued_at=int(time.time()) - 3 * 86400
        ),
        lambda c: identity_token_create(external_id="nobody"),
        lambda c: "garbage",
        lambda c: "eyJzdWIiOiAiYSJ9.签名",
    ],
    ids=["forged", "expired", "unknown customer", "malformed", "non-ascii signature"],
)
def test_a_bad_identity_token_is_refused_with_401(token_of):
    response = APIClient().post(
        "/api/chat/sessions", {"identity_token": token_of(make_customer())}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_identity"


def test_reopening_a_session_keeps_the_visitor():
    client = APIClient()
    first = session(client)
    assert session(client)["visitor_id"] == first["visitor_id"]


def test_chat_calls_without_a_session_are_refused():
    response = APIClient().post("/api/chat/conversations", {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="chat"'
    response = APIClient(HTTP_AUTHORIZATION="Bearer forged").get("/api/chat/conversations")
    assert response.status_code == 401
    assert "open a new session" in response.json()["error"]["message"]


def test_another_visitors_conversation_is_not_found():
    alice, mallory = APIClient(), APIClient()
    session(alice)
    session(mallory)
    conversation = start(alice)
    response = mallory.get(f"/api/chat/conversations/{conversation['id']}")
    assert response.status_code == 404
    assert (
        mallory.post(
            f"/api/chat/conversations/{conversation['id']}/handoff", {}, format="json"
        ).status_code
        == 404
    )


def test_a_signed_in_customer_sees_their_conversations_from_another_device():
    customer = make_customer()
    token = identity_token_create(external_id=customer.external_id)
    laptop, phone = APIClient(), APIClient()
    session(laptop, identity_token=token)
    session(phone, identity_token=token)
    conversation = start(laptop)
    assert phone.get(f"/api/chat/conversations/{conversation['id']}").status_code == 200


def test_on_a_shared_browser_the_next_customer_does_not_see_the_previous_ones_conversation():
    first, second = make_customer(), make_customer()
    browser = APIClient()
    session(browser, identity_token=identity_token_create(external_id=first.external_id))
    conversation = start(browser)
    visitor = session(browser, identity_token=identity_token_create(external_id=second.external_id))
    assert visitor["customer"]["name"] == second.name
    assert browser.get(f"/api/chat/conversations/{conversation['id']}").status_code == 404
    assert browser.get("/api/chat/conversations").json()["conversations"] == []


def test_a_visitors_anonymous_conversation_stays_theirs_after_signing_in():
    browser = APIClient()
    session(browser)
    conversation = start(browser)
    customer = make_customer()
    session(browser, identity_token=identity_token_create(external_id=customer.external_id))
    assert browser.get(f"/api/chat/conversations/{conversation['id']}").status_code == 200


def test_malformed_json_gets_400_and_stores_nothing():
    client = APIClient()
    session(client)
    conversation = start(client)
    response = client.post(
        f"/api/chat/conversations/{conversation['id']}/messages",
        '{"content": "hi',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not Message.objects.exists()


@pytest.mark.parametrize("content", [None, 42, ["hi"], "", "   ", "x" * 4001])
def test_a_message_of_the_wrong_type_or_size_is_refused(content):
    client = APIClient()
    session(client)
    conversation = start(client)
    response = client.post(
        f"/api/chat/conversations/{conversation['id']}/messages",
        {"content": content},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert not Message.objects.exists()


def test_an_oversized_body_gets_413_before_it_is_read(settings):
    client = APIClient()
    session(client)
    conversation = start(client)
    body = '{"content": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'
    response = client.post(
        f"/api/chat/conversations/{conversation['id']}/messages",
        body,
        content_type="application/json",
    )
    assert response.status_code == 413
    assert "KiB" in response.json()["error"]["message"]


def test_a_body_that_is_not_an_object_is_refused():
    client = APIClient()
    session(client)
    response = client.post("/api/chat/conversations", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The body must be a JSON object."


@pytest.mark.parametrize("rating", [0, 6, "5", 4.5, True, None])
def test_a_rating_outside_1_to_5_is_refused(rating):
    client = APIClient()
    session(client)
    conversation = start(client)
    response = client.post(
        f"/api/chat/conversations/{conversation['id']}/csat", {"rating": rating}, format="json"
    )
    assert response.status_code == 400
    assert Conversation.objects.get().csat_rating is None


def test_a_rating_is_stored():
    client = APIClient()
    session(client)
    conversation = start(client)
    response = client.post(
        f"/api/chat/conversations/{conversation['id']}/csat",
        {"rating": 5, "comment": "fast"},
        format="json",
    )
    assert response.json() == {"csat_rating": 5}


def test_asking_for_a_human_queues_the_conversation_and_tells_the_customer():
    client = APIClient()
    session(client)
    conversation = start(client)
    response = client.post(
        f"/api/chat/conversations/{conversation['id']}/handoff", {}, format="json"
    )
    assert response.json() == {"status": "waiting_for_human"}
    items = client.get(f"/api/chat/conversations/{conversation['id']}").json()["items"]
    assert items[-1]["role"] == "system"


def test_the_customer_ends_the_conversation_and_can_then_rate_it_but_not_write_in_it():
    client = APIClient()
    session(client)
    conversation = start(client)
    url = f"/api/chat/conversations/{conversation['id']}"
    assert client.post(f"{url}/close", {}, format="json").json() == {"status": "closed"}
    assert client.get(url).json()["items"][-1]["role"] == "system"
    again = client.post(f"{url}/close", {}, format="json")
    assert again.status_code == 409
    assert "closed" in again.json()["error"]["message"]
    assert client.post(f"{url}/messages", {"content": "hi"}, format="json").status_code == 409
    assert client.post(f"{url}/csat", {"rating": 4}, format="json").json() == {"csat_rating": 4}


def test_an_unknown_conversation_id_is_404():
    client = APIClient()
    session(client)
    assert (
        client.get("/api/chat/conversations/00000000-0000-0000-0000-000000000000").status_code
        == 404
    )


def test_a_visitor_over_the_rate_limit_gets_429_with_retry_after(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"chat": "3/min", "ide": "3/min"},
    }
    client = APIClient()
    session(client)
    responses = [client.get("/api/chat/conversations") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert 0 < int(responses[-1]["Retry-After"]) <= 60
    assert responses[-1].json()["error"]["code"] == "throttled"


def test_a_reply_the_safety_layer_blocked_never_reaches_the_customer_in_history():
    client = APIClient()
    session(client)
    conversation = Conversation.objects.get(public_id=start(client)["id"])
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.BLOCKED,
        content="Here is another customer's address: 1 Secret Lane.",
    )
    refusal = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content="I can't help with that."
    )
    items = client.get(f"/api/chat/conversations/{conversation.public_id}").json()["items"]
    assert [i["id"] for i in items if i["kind"] == "message"] == [refusal.id]
