"""The widget's chat through the real stack: Django under uvicorn, our model server process
on a tiny random R1 checkpoint. A random model says nothing sensible, so these tests check
the plumbing and the guarantees (streaming shape, storage, degradation, retry); the demo
model's tests check what it says."""

import uuid

import pytest

from assistant.conversations.models import Conversation, Message, ToolCall
from tests.factories import make_customer
from tests.live import ModelServer, chat_send, chat_signed_in, sse_events, start_web, stop

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reply_streams_as_events_and_every_step_is_stored(web):
    client, conversation_id = chat_signed_in(web, make_customer())
    events = chat_send(client, conversation_id, "Where is my order 100001?")
    names = [name for name, _ in events]
    assert names[0] == "user_message" and names[-1] == "done"
    assert names[-2] in ("message", "status", "error")
    calls = [data for name, data in events if name == "tool_call"]
    results = [data for name, data in events if name == "tool_result"]
    assert [c["id"] for c in calls] == [r["id"] for r in results]

    conversation = Conversation.objects.get(public_id=conversation_id)
    assert conversation.messages.filter(role="user").get().content == "Where is my order 100001?"
    assert ToolCall.objects.filter(conversation=conversation).count() == len(calls)
    assert not conversation.messages.filter(status=Message.Status.STREAMING).exists()
    streamed = "".join(data["text"] for name, data in events if name == "token")
    final = [data for name, data in events if name == "message"]
    if final:
        assert final[-1]["content"] == streamed
        assert Message.objects.get(pk=final[-1]["id"]).content == streamed


def test_a_resent_message_with_the_same_client_id_is_stored_once(web):
    client, conversation_id = chat_signed_in(web, make_customer())
    client_id = str(uuid.uuid4())
    first = chat_send(client, conversation_id, "hello", client_id=client_id)
    second = chat_send(client, conversation_id, "hello", client_id=client_id)
    assert first[0][1]["id"] == second[0][1]["id"]
    assert Message.objects.filter(role="user").count() == 1


def test_reasoning_is_stored_but_never_shown_to_the_customer(web):
    client, conversation_id = chat_signed_in(web, make_customer())
    chat_send(client, conversation_id, "hi")
    items = client.get(f"/api/chat/conversations/{conversation_id}").json()["items"]
    assert all("reasoning" not in item for item in items)
    assert all(item.get("role") != "tool" for item in items)


def test_with_the_model_server_down_the_customer_hears_a_human_will_reply_and_a_retry_works(
    tiny_checkpoint, django_db_blocker, tmp_path
):
    model = ModelServer(tiny_checkpoint)  # not started: the outage
    web, process = start_web(
        model_url=model.url, var_dir=tmp_path, MODEL_RETRIES="1", MODEL_BREAKER_COOLDOWN="1"
    )
    try:
        client, conversation_id = chat_signed_in(web, make_customer())
        events = chat_send(client, conversation_id, "Where is my parcel?")
        errors = [data for name, data in events if name == "error"]
        assert errors and errors[0]["code"] == "model_unavailable"
        assert "A member of our team will reply" in errors[0]["message"]
        conversation = Conversation.objects.get(public_id=conversation_id)
        assert conversation.status == "waiting_for_human"
        assert conversation.messages.get(role="user").content == "Where is my parcel?"
        failed = conversation.messages.get(role="assistant")
        assert failed.status == Message.Status.FAILED and "did not answer" in failed.error
        listed = client.get(f"/api/chat/conversations/{conversation_id}").json()["items"]
        assert [item["retryable"] for item in listed if item.get("role") == "assistant"] == [True]

        model.start()
        with client.stream("POST", f"/api/chat/conversations/{conversation_id}/retry") as response:
            retried = sse_events(response)
        assert [n for n, _ in retried][-1] == "done"
        assert not [d for n, d in retried if n == "error"], retried
        conversation.refresh_from_db()
        assert conversation.status in ("bot", "waiting_for_human")
        assert conversation.messages.get(role="user").content == "Where is my parcel?"
    finally:
        stop(process)
        model.stop()


def test_a_closed_conversation_refuses_new_messages_with_409(web):
    client, conversation_id = chat_signed_in(web, make_customer())
    Conversation.objects.filter(public_id=conversation_id).update(status="closed")
    response = client.post(
        f"/api/chat/conversations/{conversation_id}/messages", json={"content": "hello?"}
    )
    assert response.status_code == 409
    assert "closed" in response.json()["error"]["message"]
