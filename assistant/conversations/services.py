"""Changes to conversations. The customer's message is committed before anything else
happens to it; status changes follow Conversation.TRANSITIONS."""

import re
import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from assistant.shop.errors import InvalidInput, InvalidTransition
from assistant.shop.models import Customer

from .models import Conversation, Message, Note

MAX_MESSAGE_CHARS = 4000
MAX_LABELS = 10
# Labels are short ASCII slugs so that every database can filter on them inside the JSON list.
LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def conversation_start(
    *, customer: Customer | None, visitor_id: uuid.UUID, locale: str = "en"
) -> Conversation:
    if locale not in ("en", "zh-hans"):
        raise InvalidInput(f"Unknown locale {locale!r}; use 'en' or 'zh-hans'.")
    return Conversation.objects.create(customer=customer, visitor_id=visitor_id, locale=locale)


def _transition(conversation: Conversation, to_status: str) -> None:
    if to_status not in Conversation.TRANSITIONS[conversation.status]:
        raise InvalidTransition(
            f"This conversation is {conversation.get_status_display().lower()}; "
            f"it cannot become {Conversation.Status(to_status).label.lower()}."
        )
    conversation.status = to_status
    conversation.save(update_fields=["status", "updated_at"])


def _text(content: object) -> str:
    if not isinstance(content, str):
        raise InvalidInput("A message must be a string of text.")
    content = content.strip()
    if not content:
        raise InvalidInput("A message cannot be empty.")
    if len(content) > MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"A message can be at most {MAX_MESSAGE_CHARS} characters; this one has {len(content)}."
        )
    return content


# What the customer reads when a person joins or leaves, in the conversation's language.
NOTICES = {
    "handoff": {"en": "Handed to a human: {reason}", "zh-hans": "已转接人工客服：{reason}"},
    "joined": {"en": "{name} joined the conversation.", "zh-hans": "{name} 加入了对话。"},
    "bot_back": {
        "en": "The assistant is back in the conversation.",
        "zh-hans": "智能助手已回到对话中。",
    },
    "closed": {"en": "The conversation was closed.", "zh-hans": "对话已结束。"},
}


def _notice(conversation: Conversation, kind: str, **values: str) -> Message:
    text = NOTICES[kind].get(conversation.locale, NOTICES[kind]["en"])
    return Message.objects.create(
        conversation=conversation, role=Message.Role.SYSTEM, content=text.format(**values)
    )


@transaction.atomic
def message_post_user(
    *, conversation: Conversation, content: object, client_id: str = ""
) -> tuple[Message, bool]:
    """Store the customer's message (once per client_id). Returns (message, created)."""
    text = _text(content)
    if len(client_id) > 64:
        raise InvalidInput("client_id can be at most 64 characters.")
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.status == Conversation.Status.CLOSED:
        raise InvalidTransition("This conversation is closed; start a new one.")
    if client_id:
        existing = conversation.messages.filter(client_id=client_id).first()
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation, role=Message.Role.USER, content=text, client_id=client_id
            )
    except IntegrityError:  # the same client_id raced in from a retried request
        return conversation.messages.get(client_id=client_id), False
    conversation.save(update_fields=["updated_at"])
    return message, True


@transaction.atomic
def conversation_request_human(*, conversation: Conversation, reason: str) -> Conversation:
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.status in (Conversation.Status.WAITING, Conversation.Status.HUMAN):
        return conversation
    _transition(conversation, Conversation.Status.WAITING)
    _notice(conversation, "handoff", reason=reason[:300])
    return conversation


@transaction.atomic
def conversation_take_over(
    *, conversation: Conversation, operator: AbstractBaseUser
) -> Conversation:
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _transition(conversation, Conversation.Status.HUMAN)
    conversation.assigned_to = operator
    conversation.save(update_fields=["assigned_to", "updated_at"])
    name = operator.get_full_name() or operator.get_username()
    _notice(conversation, "joined", name=name)
    return conversation


@transaction.atomic
def conversation_hand_back(
    *, conversation: Conversation, operator: AbstractBaseUser
) -> Conversation:
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _transition(conversation, Conversation.Status.BOT)
    conversation.assigned_to = None
    conversation.save(update_fields=["assigned_to", "updated_at"])
    _notice(conversation, "bot_back")
    return conversation


@transaction.atomic
def message_post_operator(
    *, conversation: Conversation, operator: AbstractBaseUser, content: object
) -> Message:
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if (
        conversation.status != Conversation.Status.HUMAN
        or conversation.assigned_to_id != operator.pk
    ):
        raise InvalidTransition("Take over the conversation before replying in it.")
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.OPERATOR,
        content=_text(content),
        operator=operator,
    )
    conversation.save(update_fields=["updated_at"])
    return message


@transaction.atomic
def conversation_close(*, conversation: Conversation) -> Conversation:
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _transition(conversation, Conversation.Status.CLOSED)
    _notice(conversation, "closed")
    return conversation


def conversation_rate(
    *, conversation: Conversation, rating: object, comment: object = ""
) -> Conversation:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("A rating is a whole number from 1 (poor) to 5 (excellent).")
    if not isinstance(comment, str) or len(comment) > 2000:
        raise InvalidInput("A comment is text of at most 2000 characters.")
    conversation.csat_rating = rating
    conversation.csat_comment = comment.strip()
    conversation.save(update_fields=["csat_rating", "csat_comment", "updated_at"])
    return conversation


def assistant_message_start(
    *, conversation: Conversation, model: str, adapter: str = ""
) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=model,
        adapter=adapter,
    )


def assistant_message_finish(*, message: Message, status: str, **fields) -> Message:
    """Save the assistant's streamed reply (or what there was of it) with its final status."""
    for name, value in fields.items():
        setattr(message, name, value)
    message.status = status
    message.save()
    Conversation.objects.filter(pk=message.conversation_id).update(updated_at=timezone.now())
    return message


def tool_message_create(*, conversation: Conversation, tool_call_id: str, content: str) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.TOOL,
        tool_call_id=tool_call_id,
        content=content,
    )


@transaction.atomic
def conversation_resume_bot(*, conversation: Conversation) -> Conversation:
    """After an outage handed the conversation over, a retry gives it back to the assistant,
    unless a human has taken it in the meantime."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.status == Conversation.Status.WAITING:
        _transition(conversation, Conversation.Status.BOT)
    return conversation


def note_add(*, conversation: Conversation, author: AbstractBaseUser, text: object) -> Note:
    """A private note for the operators; the customer and the model never see it."""
    return Note.objects.create(conversation=conversation, author=author, text=_text(text))


def conversation_set_labels(*, conversation: Conversation, labels: list[str]) -> Conversation:
    cleaned = sorted({label.strip().lower() for label in labels if label.strip()})
    bad = [label for label in cleaned if not LABEL.fullmatch(label)]
    if bad:
        raise InvalidInput(
            f"Labels are 1-32 lowercase letters, digits, '-' or '_', starting with a letter or "
            f"digit (e.g. refund, vip): {', '.join(repr(b) for b in bad)} is not one."
        )
    if len(cleaned) > MAX_LABELS:
        raise InvalidInput(f"A conversation can have at most {MAX_LABELS} labels.")
    conversation.labels = cleaned
    conversation.save(update_fields=["labels", "updated_at"])
    return conversation


@transaction.atomic
def conversation_record(
    *, customer: Customer, messages: list[dict], labels: list[str] | None = None
) -> Conversation:
    """Store a finished conversation given as OpenAI-style messages (user, assistant with or
    without tool calls, tool results): history brought from another helpdesk, or demo data."""
    conversation = conversation_start(
        customer=customer, visitor_id=uuid.uuid4(), locale=customer.locale
    )
    for m in messages:
        if m["role"] == "user":
            message_post_user(conversation=conversation, content=m["content"])
        elif m["role"] == "assistant":
            reply = assistant_message_start(conversation=conversation, model="")
            assistant_message_finish(
                message=reply,
                status=Message.Status.COMPLETE,
                content=m.get("content") or "",
                tool_calls=m.get("tool_calls") or [],
            )
        elif m["role"] == "tool":
            tool_message_create(
                conversation=conversation, tool_call_id=m["tool_call_id"], content=m["content"]
            )
        else:
            raise InvalidInput(f"Cannot record a {m['role']!r} message; use user, assistant, tool.")
    if labels:
        conversation_set_labels(conversation=conversation, labels=labels)
    return conversation_close(conversation=conversation)
