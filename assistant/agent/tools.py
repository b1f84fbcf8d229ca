"""The tools the model may call, registered in one place.

Every tool runs as the authenticated customer of the conversation and never takes a customer
from its arguments. Arguments are validated against the tool's JSON schema before anything
runs; domain refusals (another customer's order reads exactly like a missing one) and
validation errors go back to the model as `{"error": …}` results. Every run is audited.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from assistant.conversations.models import Conversation, Message, ToolCall
from assistant.shop import selectors
from assistant.shop.errors import DomainError, InvalidInput, NotFound
from assistant.shop.models import Customer, Order, ReturnPolicy, ReturnRequest
from assistant.shop.services import ReturnLine, return_create

from . import llm, spec


@dataclass(frozen=True)
class ToolContext:
    customer: Customer | None
    conversation: Conversation


@dataclass(frozen=True)
class ToolResult:
    result: dict
    outcome: str
    latency_ms: int

    @property
    def text(self) -> str:
        return spec.tool_result_text(self.result)


class SignInRequired(DomainError):
    code = "sign_in_required"


def _day(value) -> str | None:
    return timezone.localtime(value).date().isoformat() if value else None


def _items(order: Order, customer: Customer) -> list[dict]:
    return [
        {"sku": i.product.sku, "name": i.product.name_for(customer), "quantity": i.quantity}
        for i in order.items.all()
    ]


def order_lookup(ctx: ToolContext, order_number: str | None = None) -> dict:
    customer = _signed_in(ctx)
    if order_number is None:
        orders = selectors.order_list_for_customer(customer=customer, limit=5)
        return {
            "orders": [
                {
                    "order_number": o.number,
                    "status": o.status,
                    "placed_at": _day(o.placed_at),
                    "total": str(o.total),
                    "currency": o.currency,
                    "items": [i.product.name_for(customer) for i in o.items.all()],
                }
                for o in orders
            ]
        }
    order = selectors.order_get_for_customer(customer=customer, number=order_number)
    return {
        "order_number": order.number,
        "status": order.status,
        "placed_at": _day(order.placed_at),
        "total": str(order.total),
        "currency": order.currency,
        "items": _items(order, customer),
        "shipments": [
            {
                "carrier": s.get_carrier_display(),
                "tracking_number": s.tracking_number,
                "status": s.status,
            }
            for s in order.shipments.all()
        ],
    }


def shipment_track(ctx: ToolContext, order_number: str) -> dict:
    customer = _signed_in(ctx)
    order = selectors.order_get_for_customer(customer=customer, number=order_number)
    shipments = []
    for s in order.shipments.all():
        latest = list(s.events.all())[-1:]
        shipments.append(
            {
                "carrier": s.get_carrier_display(),
                "tracking_number": s.tracking_number,
                "tracking_url": s.tracking_url,
                "status": s.status,
                "delivered_at": _day(s.delivered_at),
                "items": [i.product.name_for(customer) for i in s.items.all()],
                "latest_event": {
                    "status": latest[0].status,
                    "location": latest[0].location,
                    "description": latest[0].description,
                    "at": timezone.localtime(latest[0].occurred_at).strftime("%Y-%m-%d %H:%M"),
                }
                if latest
                else None,
            }
        )
    return {"order_number": order.number, "status": order.status, "shipments": shipments}


def return_eligibility(ctx: ToolContext, order_number: str) -> dict:
    customer = _signed_in(ctx)
    verdicts = selectors.return_eligibility(customer=customer, order_number=order_number)
    number = str(order_number).strip().lstrip("#")
    return {
        "order_number": number,
        "window_days": ReturnPolicy.load().window_days,
        "items": [
            {
                "sku": v.item.product.sku,
                "name": v.item.product.name_for(customer),
                "quantity": v.item.quantity,
                "eligible": v.eligible,
                "returnable_quantity": v.returnable_quantity,
                "deadline": v.deadline.isoformat() if v.deadline else None,
                "reason": v.reason,
            }
            for v in verdicts
        ],
    }


def _return_json(rma: ReturnRequest, customer: Customer) -> dict:
    return {
        "rma_number": rma.rma_number,
        "order_number": rma.order.number,
        "status": rma.status,
        "reason": rma.reason,
        "refund_amount": str(rma.refund_amount),
        "currency": rma.currency,
        "created_at": _day(rma.created_at),
        "items": [
            {
                "sku": line.order_item.product.sku,
                "name": line.order_item.product.name_for(customer),
                "quantity": line.quantity,
            }
            for line in rma.items.all()
        ],
    }


def return_create_tool(
    ctx: ToolContext,
    order_number: str,
    reason: str,
    items: list[dict] | None = None,
    detail: str = "",
) -> dict:
    customer = _signed_in(ctx)
    verdicts = selectors.return_eligibility(customer=customer, order_number=order_number)
    by_sku = {v.item.product.sku.upper(): v for v in verdicts}
    if items is None:
        eligible = [v for v in verdicts if v.eligible]
        if len(eligible) != 1:
            names = ", ".join(
                f"{v.item.product.sku} ({v.item.product.name_for(customer)})" for v in eligible
            )
            raise InvalidInput(
                "Say which items to return; returnable now: " + (names or "none") + "."
                if eligible
                else "Nothing on this order can be returned now: "
                + " ".join(v.reason for v in verdicts)
            )
        items = [{"sku": eligible[0].item.product.sku}]
    lines = []
    for entry in items:
        verdict = by_sku.get(entry["sku"].upper())
        if verdict is None:
            raise NotFound(f"Order {order_number} has no item with SKU {entry['sku']!r}.")
        lines.append(
            ReturnLine(
                order_item_id=verdict.item.id,
                quantity=entry.get("quantity", verdict.returnable_quantity or 1),
            )
        )
    rma = return_create(
        customer=customer, order_number=order_number, lines=lines, reason=reason, detail=detail
    )
    result = _return_json(rma, customer)
    del result["order_number"], result["reason"], result["created_at"]
    return result


def return_status(ctx: ToolContext, rma_number: str | None = None) -> dict:
    customer = _signed_in(ctx)
    if rma_number is None:
        return {
            "returns": [
                _return_json(r, customer)
                for r in selectors.return_list_for_customer(customer=customer, limit=5)
            ]
        }
    return _return_json(
        selectors.return_get_for_customer(customer=customer, rma_number=rma_number), customer
    )


def code_complete(ctx: ToolContext, prefix: str, suffix: str = "", language: str = "") -> dict:
    return {
        "language": language,
        "completion": llm.complete_code(prefix=prefix, suffix=suffix, max_tokens=128),
    }


def handoff_to_human(ctx: ToolContext, reason: str) -> dict:
    from assistant.conversations.services import conversation_request_human

    conversation_request_human(conversation=ctx.conversation, reason=reason)
    return {
        "status": Conversation.Status.WAITING,
        "message": "A member of our team will reply in this conversation.",
    }


def _signed_in(ctx: ToolContext) -> Customer:
    if ctx.customer is None:
        raise SignInRequired(
            "The visitor is not signed in. Ask them to sign in to the shop; orders and "
            "returns can only be looked up for signed-in customers."
        )
    return ctx.customer


@dataclass(frozen=True)
class Tool:
    name: str
    run: Callable[..., dict]
    validator: Draft202012Validator


REGISTRY: dict[str, Tool] = {
    tool_spec["function"]["name"]: Tool(
        name=tool_spec["function"]["name"],
        run=run,
        validator=Draft202012Validator(tool_spec["function"]["parameters"]),
    )
    for tool_spec, run in zip(
        spec.TOOLS,
        [
            order_lookup,
            shipment_track,
            return_eligibility,
            return_create_tool,
            return_status,
            code_complete,
            handoff_to_human,
        ],
        strict=True,
    )
}
assert list(REGISTRY) == spec.TOOL_NAMES


def _validate(tool: Tool, arguments: str) -> dict:
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"The arguments of {tool.name} are not valid JSON ({error.msg})."
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidInput(f"The arguments of {tool.name} must be a JSON object.")
    problems = sorted(tool.validator.iter_errors(parsed), key=lambda e: list(e.path))
    if problems:
        where = lambda e: "/".join(str(p) for p in e.path) or "arguments"  # noqa: E731
        raise InvalidInput(
            f"Invalid arguments for {tool.name}: "
            + "; ".join(f"{where(e)}: {e.message}" for e in problems[:3])
        )
    return parsed


def run_tool(
    *, ctx: ToolContext, message: Message, call_id: str, name: str, arguments: str
) -> ToolResult:
    """Validate and run one tool call for the conversation's customer, and audit it."""
    started = time.perf_counter()
    tool = REGISTRY.get(name)
    try:
        if tool is None:
            raise InvalidInput(f"There is no tool {name!r}; the tools are {', '.join(REGISTRY)}.")
        parsed = _validate(tool, arguments)
        with transaction.atomic():
            result, outcome = tool.run(ctx, **parsed), ToolCall.Outcome.OK
    except InvalidInput as error:
        result, outcome = (
            spec.tool_error(error.code, error.message),
            ToolCall.Outcome.INVALID_ARGUMENTS,
        )
    except DomainError as error:
        result, outcome = spec.tool_error(error.code, error.message), ToolCall.Outcome.DENIED
    except llm.ModelUnavailable as error:
        result, outcome = spec.tool_error("unavailable", str(error)), ToolCall.Outcome.ERROR
    latency_ms = round((time.perf_counter() - started) * 1000)
    ToolCall.objects.create(
        conversation=ctx.conversation,
        message=message,
        call_id=call_id[:64],
        name=name[:64],
        arguments=arguments,
        result=result,
        outcome=outcome,
        latency_ms=latency_ms,
    )
    return ToolResult(result=result, outcome=outcome, latency_ms=latency_ms)
