import uuid

from django.conf import settings

from assistant.agent import spec
from assistant.shop.errors import NotFound
from assistant.shop.models import Customer, ReturnPolicy

from .models import Conversation, Message

CUSTOMER_VISIBLE_ROLES = [
    Message.Role.USER,
    Message.Role.ASSISTANT,
    Message.Role.OPERATOR,
    Message.Role.SYSTEM,
]


def conversation_get_for_visitor(
    *, public_id: uuid.UUID | str, visitor_id: uuid.UUID, customer: Customer | None
) -> Conversation:
    """The conversation if it belongs to this visitor (or signed-in customer), else NotFound."""
    try:
        conversation = Conversation.objects.select_related("customer").get(public_id=public_id)
    except (Conversation.DoesNotExist, ValueError):
        raise NotFound("No such conversation.") from None
    mine = conversation.visitor_id == visitor_id or (
        customer is not None and conversation.customer_id == customer.pk
    )
    if not mine:
        raise NotFound("No such conversation.")
    return conversation


def conversation_list_for_visitor(
    *, visitor_id: uuid.UUID, customer: Customer | None
) -> list[Conversation]:
    qs = Conversation.objects.filter(visitor_id=visitor_id)
    if customer is not None:
        qs = qs | Conversation.objects.filter(customer=customer)
    return list(qs.order_by("-updated_at")[:20])


def messages_for_customer(*, conversation: Conversation, after_id: int = 0) -> list[Message]:
    """What the customer may see: no tool results, no reasoning, nothing still being written,
    no silent tool-calling steps; a failed reply stays visible so it can be retried."""
    return list(
        conversation.messages.filter(role__in=CUSTOMER_VISIBLE_ROLES, id__gt=after_id)
        .exclude(status=Message.Status.STREAMING)
        .exclude(role=Message.Role.ASSISTANT, content="", status=Message.Status.COMPLETE)
        .order_by("id")
    )


def history_for_model(*, conversation: Conversation) -> list[dict]:
    """The conversation as OpenAI chat messages, system prompt first.

    Failed and blocked replies are left out; operators' replies are the shop's voice, so the
    model sees them as its own earlier turns."""
    policy = ReturnPolicy.load()
    customer = conversation.customer
    locale_names = "name_zh" if conversation.locale == "zh-hans" else "name"
    system = spec.system_prompt(
        shop_name=settings.SHOP_NAME,
        window_days=policy.window_days,
        non_returnable=[
            getattr(c, locale_names) for c in policy.non_returnable_categories.order_by("slug")
        ],
        customer_name=customer.name if customer else "a visitor who is not signed in",
    )
    messages: list[dict] = [{"role": "system", "content": system}]
    rows = conversation.messages.exclude(
        status__in=[Message.Status.FAILED, Message.Status.BLOCKED, Message.Status.STREAMING]
    ).exclude(role=Message.Role.SYSTEM)
    for m in rows.order_by("id"):
        if m.role == Message.Role.USER:
            messages.append({"role": "user", "content": m.content})
        elif m.role in (Message.Role.ASSISTANT, Message.Role.OPERATOR):
            entry: dict = {"role": "assistant", "content": m.content}
            if m.tool_calls:
                entry["tool_calls"] = m.tool_calls
            messages.append(entry)
        elif m.role == Message.Role.TOOL:
            messages.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
    return messages
