"""The console's pages through Django's test client: who may open what, and what bad input
gets back."""

import uuid

import pytest
from django.contrib.auth import get_user_model

from assistant.conversations import services
from assistant.conversations.models import Conversation, Message
from assistant.shop.demo.seed import operators_group_ensure
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

PAGES = ["/console/", "/console/safety/", "/console/ide/", "/console/model/"]


def login(client, *, admin: bool = False, staff: bool = True):
    user = get_user_model().objects.create_user(
        username="admin" if admin else "olga", is_staff=staff, is_superuser=admin
    )
    if staff and not admin:
        user.groups.add(operators_group_ensure())
    client.force_login(user)
    return user


@pytest.fixture
def chat():
    return services.conversation_start(customer=make_customer(), visitor_id=uuid.uuid4())


@pytest.mark.parametrize("path", PAGES)
def test_people_who_are_not_staff_are_sent_to_the_login_page(client, path):
    assert client.get(path).url.startswith("/admin/login/")
    login(client, staff=False)
    assert client.get(path).url.startswith("/admin/login/")


@pytest.mark.parametrize("path", PAGES)
def test_operators_open_every_console_page(client, path):
    login(client)
    response = client.get(path)
    assert response.status_code == 200
    assert b'aria-current="page"' in response.content


def test_operators_see_keyword_lists_and_the_constitution_but_only_admins_edit_them(client):
    login(client)
    assert client.get("/admin/safety/keywordterm/").status_code == 200
    assert client.get("/admin/safety/keywordterm/add/").status_code == 403
    assert client.get("/admin/safety/principle/add/").status_code == 403
    assert client.get("/admin/conversations/cannedresponse/add/").status_code == 403
    client.logout()
    login(client, admin=True)
    for model in ("safety/keywordterm", "safety/principle", "conversations/cannedresponse"):
        assert client.get(f"/admin/{model}/add/").status_code == 200


def test_a_reply_before_taking_over_gets_409_keeps_the_draft_and_stores_nothing(client, chat):
    login(client)
    response = client.post(
        f"/console/conversations/{chat.public_id}/reply", {"content": "Hello there"}
    )
    assert response.status_code == 409
    assert "Take over the conversation before replying" in response.content.decode()
    assert "Hello there</textarea>" in response.content.decode()
    assert not Message.objects.filter(role="operator").exists()


def test_taking_over_and_replying_redirect_back_to_the_conversation(client, chat):
    user = login(client)
    page = f"/console/conversations/{chat.public_id}/"
    assert client.post(f"{page}take_over").url == page
    assert client.post(f"{page}reply", {"content": "Hi, I'm here"}).url == page
    chat.refresh_from_db()
    assert (chat.status, chat.assigned_to) == ("with_human", user)
    assert chat.messages.get(role="operator").content == "Hi, I'm here"


def test_an_empty_note_gets_400_and_an_unknown_action_404(client, chat):
    login(client)
    page = f"/console/conversations/{chat.public_id}/"
    assert client.post(f"{page}note", {"text": " "}).status_code == 400
    assert not chat.notes.exists()
    assert client.post(f"{page}explode").status_code == 404
    assert client.get(f"{page}take_over").status_code == 405
    assert Conversation.objects.get().status == "bot"


def test_a_bad_filter_gets_400_with_what_to_use(client):
    login(client)
    response = client.get("/console/?flagged=maybe")
    assert response.status_code == 400
    assert "flagged must be" in response.content.decode()
    assert client.get("/console/ide/?days=3").status_code == 400


def test_the_model_server_status_is_503_with_the_reason_when_it_is_down(client, settings):
    settings.MODEL_SERVER_URL = "http://127.0.0.1:9/v1"
    login(client)
    response = client.get("/console/model/metrics")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"


def test_the_demo_shop_page_exists_only_where_it_is_switched_on(client, settings):
    customer = make_customer("Grace Hopper")
    settings.DEMO_PAGE = False
    assert client.get("/demo/").status_code == 404
    settings.DEMO_PAGE = True
    response = client.get(f"/demo/?customer={customer.external_id}")
    assert response.status_code == 200
    assert "Grace Hopper" in response.content.decode()
    assert client.get("/demo/?customer=nobody").status_code == 404


def test_the_live_parts_refetch_only_their_rows_and_transcript(client, chat):
    login(client)
    services.message_post_user(conversation=chat, content="<b>hello</b>")
    rows = client.get("/console/?status=bot&fragment=1").content.decode()
    assert f'data-conversation="{chat.public_id}"' in rows and "<html" not in rows
    transcript = client.get(f"/console/conversations/{chat.public_id}/?fragment=1")
    text = transcript.content.decode()
    assert "&lt;b&gt;hello&lt;/b&gt;" in text and "<html" not in text
    assert "csrfmiddlewaretoken" not in text  # so it only changes when the conversation does
