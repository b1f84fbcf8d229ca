import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, QuerySet, Subquery

from assistant.agent import spec
from assistant.shop.errors import InvalidInput, NotFound
from assistant.shop.models import Customer, Locale, ReturnPolicy

from .models import CannedResponse, Conversation, Message

CONSOLE_PAGE = 200

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
    if (
        not _visible_to(visitor_id=visitor_id, customer=customer)
        .filter(pk=conversation.pk)
        .exists()
    ):
        raise NotFound("No such conversation.")
    return conversation


def _visible_to(*, visitor_id: uuid.UUID, customer: Customer | None) -> QuerySet[Conversation]:
    """A signed-in customer's conversations follow the customer, not the device: on a shared
    browser the next customer keeps the visitor id but must not see them."""
    qs = Conversation.objects.filter(visitor_id=visitor_id, customer__isnull=True)
    if customer is not None:
        qs = qs | Conversation.objects.filter(customer=customer)
    return qs


def conversation_list_for_visitor(
    *, visitor_id: uuid.UUID, customer: Customer | None
) -> list[Conversation]:
    return list(_visible_to(visitor_id=visitor_id, customer=customer).order_by("-updated_at")[:20])


def messages_for_customer(*, conversation: Conversation, after_id: int = 0) -> list[Message]:
    """What the customer may see: no tool results, no reasoning, nothing still being written,
    no silent tool-calling steps, no reply the safety layer blocked (its refusal follows it); a
    failed reply stays visible so it can be retried."""
    return list(
        conversation.messages.filter(role__in=CUSTOMER_VISIBLE_ROLES, id__gt=after_id)
        .exclude(status=Message.Status.STREAMING)
        .exclude(role=Message.Role.ASSISTANT, status=Message.Status.BLOCKED)
        .exclude(role=Message.Role.ASSISTANT, content="", status=Message.Status.COMPLETE)
        .order_by("id")
    )


def system_prompt_for(*, locale: str, customer_name: str) -> str:
    """The shop's system prompt: its policy, with category names in the customer's language."""
    policy = ReturnPolicy.load()
    names = "name_zh" if locale == Locale.ZH else "name"
    return spec.system_prompt(
        shop_name=settings.SHOP_NAME,
        window_days=policy.window_days,
        non_returnable=[
            getattr(c, names) for c in policy.non_returnable_categories.order_by("slug")
        ],
        customer_name=customer_name,
    )


def history_for_model(
    *, conversation: Conversation, customer_name: str | None = None
) -> list[dict]:
    """The conversation as OpenAI chat messages, system prompt first.

    Failed and blocked replies are left out; operators' replies are the shop's voice, so the
    model sees them as its own earlier turns. `customer_name` replaces the customer's name in
    the system prompt (fine-tuning data carries no names)."""
    customer = conversation.customer
    system = system_prompt_for(
        locale=conversation.locale,
        customer_name=customer_name
        or (customer.name if customer else "a visitor who is not signed in"),
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


def conversation_list_for_console(
    *, status: str = "", label: str = "", locale: str = "", flagged: bool | None = None
) -> list[Conversation]:
    """The operators' queue, most recently active first, each with its last visible words."""
    if status and status not in Conversation.Status.values:
        raise InvalidInput(
            f"Unknown status {status!r}; use one of {', '.join(Conversation.Status.values)}."
        )
    if locale and locale not in Locale.values:
        raise InvalidInput(f"Unknown language {locale!r}; use one of {', '.join(Locale.values)}.")
    qs = Conversation.objects.select_related("customer", "assigned_to")
    if status:
        qs = qs.filter(status=status)
    if locale:
        qs = qs.filter(locale=locale)
    if flagged is not None:
        qs = qs.filter(flagged=flagged)
    if label:
        # Labels are slugs (services.LABEL), so the quoted label matches exactly one list entry.
        qs = qs.filter(labels__icontains=f'"{label.lower()}"')
    last = (
        Message.objects.filter(conversation=OuterRef("pk"), role__in=CUSTOMER_VISIBLE_ROLES)
        .exclude(content="")
        .order_by("-id")
        .values("content")[:1]
    )
    return list(qs.annotate(last_message=Subquery(last)).order_by("-updated_at")[:CONSOLE_PAGE])


def conversation_labels_in_use() -> list[str]:
    labels: set[str] = set()
    for row in Conversation.objects.exclude(labels=[]).values_list("labels", flat=True):
        labels.update(row)
    return sorted(labels)


def conversation_get_for_console(*, public_id: uuid.UUID | str) -> Conversation:
    try:
        return Conversation.objects.select_related("customer", "assigned_to").get(
            public_id=public_id
        )
    except (Conversation.DoesNotExist, ValueError):
        raise NotFound("No such conversation.") from None


def transcript_for_console(*, conversation: Conversation) -> list[Message]:
    """Every message, reasoning and tool results included, each with its tool runs."""
    return list(
        conversation.messages.select_related("operator")
        .prefetch_related("tool_runs")
        .order_by("id")
    )


def canned_responses_for(*, locale: str, operator: AbstractBaseUser) -> list[dict]:
    """The canned replies in the conversation's language, signed with the operator's name."""
    name = operator.get_full_name() or operator.get_username()
    return [
        {"title": c.title, "text": c.text.replace("{name}", name)}
        for c in CannedResponse.objects.filter(locale=locale)
    ]


def public_ids_for(*, ids: set[int]) -> dict[int, uuid.UUID]:
    """Conversation ids (as the safety audit stores them) → public ids for links."""
    return dict(Conversation.objects.filter(pk__in=ids).values_list("pk", "public_id"))
