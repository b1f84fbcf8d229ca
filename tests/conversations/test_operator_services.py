import uuid

import pytest
from django.contrib.auth import get_user_model

from assistant.conversations import selectors, services
from assistant.conversations.models import Conversation, Note
from assistant.shop.errors import InvalidInput, InvalidTransition
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return get_user_model().objects.create(username="olga", first_name="Olga", last_name="Ops")


def conversation(locale: str = "en") -> Conversation:
    return services.conversation_start(
        customer=make_customer(), visitor_id=uuid.uuid4(), locale=locale
    )


def test_taking_over_handing_back_and_closing_are_told_to_the_customer_in_their_language(
    operator,
):
    chat = conversation("zh-hans")
    services.conversation_take_over(conversation=chat, operator=operator)
    services.conversation_hand_back(conversation=chat, operator=operator)
    services.conversation_close(conversation=chat)
    notices = [m.content for m in selectors.messages_for_customer(conversation=chat)]
    assert notices == [
        services.NOTICES["joined"]["zh-hans"].format(name="Olga Ops"),
        services.NOTICES["bot_back"]["zh-hans"],
        services.NOTICES["closed"]["zh-hans"],
    ]
    chat.refresh_from_db()
    assert chat.status == "closed" and chat.assigned_to is None


def test_an_operator_replies_only_after_taking_the_conversation_over(operator):
    chat = conversation()
    with pytest.raises(InvalidTransition, match="Take over"):
        services.message_post_operator(conversation=chat, operator=operator, content="Hello")
    services.conversation_take_over(conversation=chat, operator=operator)
    message = services.message_post_operator(conversation=chat, operator=operator, content="Hi")
    assert (message.role, message.operator) == ("operator", operator)


def test_notes_are_stored_but_never_shown_to_the_customer_or_the_model(operator):
    chat = conversation()
    services.message_post_user(conversation=chat, content="Where is my parcel?")
    services.note_add(conversation=chat, author=operator, text="Called the carrier")
    assert Note.objects.get().text == "Called the carrier"
    shown = [m.content for m in selectors.messages_for_customer(conversation=chat)]
    model = [m["content"] for m in selectors.history_for_model(conversation=chat)]
    assert "Called the carrier" not in shown + model
    with pytest.raises(InvalidInput):
        services.note_add(conversation=chat, author=operator, text="   ")


def test_labels_are_slugs_and_a_bad_one_changes_nothing():
    chat = conversation()
    services.conversation_set_labels(conversation=chat, labels=["VIP ", "refund", "refund", ""])
    assert chat.labels == ["refund", "vip"]
    with pytest.raises(InvalidInput, match="'not a label' is not one"):
        services.conversation_set_labels(conversation=chat, labels=["vip", "not a label"])
    chat.refresh_from_db()
    assert chat.labels == ["refund", "vip"]


def test_the_console_queue_filters_on_status_label_language_and_flag(operator):
    refund, chinese, flagged = conversation(), conversation("zh-hans"), conversation()
    services.conversation_set_labels(conversation=refund, labels=["refund"])
    services.conversation_set_labels(conversation=chinese, labels=["refund-later"])
    Conversation.objects.filter(pk=flagged.pk).update(flagged=True)
    services.conversation_take_over(conversation=flagged, operator=operator)

    def ids(**filters):
        return {c.pk for c in selectors.conversation_list_for_console(**filters)}

    assert ids(label="refund") == {refund.pk}
    assert ids(locale="zh-hans") == {chinese.pk}
    assert ids(flagged=True) == {flagged.pk}
    assert ids(status="with_human") == {flagged.pk}
    assert ids() == {refund.pk, chinese.pk, flagged.pk}
    with pytest.raises(InvalidInput, match="Unknown status"):
        selectors.conversation_list_for_console(status="lost")
