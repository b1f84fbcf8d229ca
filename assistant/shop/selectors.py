"""Read-side queries. Every customer-facing lookup is scoped to that customer: someone
else's record is reported exactly like a missing one."""

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Prefetch, Sum
from django.utils import timezone

from .eligibility import Verdict, item_verdict
from .errors import InvalidInput, NotFound, order_not_found, return_not_found
from .models import Customer, Order, OrderItem, ReturnItem, ReturnPolicy, ReturnRequest

MAX_LIST_LIMIT = 50


def customer_get_by_external_id(*, external_id: str) -> Customer:
    try:
        return Customer.objects.select_related("user").get(external_id=external_id)
    except Customer.DoesNotExist:
        raise NotFound(f"No customer with id {external_id!r}.") from None


def demo_customers(*, per_language: int = 3) -> list[Customer]:
    """A few customers of each language for the demo shop page to sign in as."""
    return [
        customer
        for locale in ("en", "zh-hans")
        for customer in Customer.objects.filter(locale=locale).order_by("external_id")[
            :per_language
        ]
    ]


def order_get_for_customer(*, customer: Customer, number: str) -> Order:
    number = str(number).strip().lstrip("#")
    if not number or len(number) > 32:
        raise InvalidInput("An order number is 1 to 32 characters, as in your confirmation email.")
    try:
        return (
            Order.objects.select_related("customer")
            .prefetch_related(
                Prefetch("items", queryset=OrderItem.objects.select_related("product", "shipment")),
                "shipments__events",
            )
            .get(customer=customer, number=number)
        )
    except Order.DoesNotExist:
        raise order_not_found(number) from None


def order_list_for_customer(*, customer: Customer, limit: int = 5) -> list[Order]:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}.")
    return list(
        Order.objects.filter(customer=customer)
        .prefetch_related("items__product", "shipments")
        .order_by("-placed_at")[:limit]
    )


def return_get_for_customer(*, customer: Customer, rma_number: str) -> ReturnRequest:
    rma_number = str(rma_number).strip().upper()
    try:
        return (
            ReturnRequest.objects.select_related("order")
            .prefetch_related("items__order_item__product")
            .get(customer=customer, rma_number=rma_number)
        )
    except ReturnRequest.DoesNotExist:
        raise return_not_found(rma_number) from None


def return_list_for_customer(*, customer: Customer, limit: int = 10) -> list[ReturnRequest]:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}.")
    return list(
        ReturnRequest.objects.filter(customer=customer)
        .select_related("order")
        .prefetch_related("items__order_item__product")[:limit]
    )


@dataclass(frozen=True)
class ItemEligibility(Verdict):
    """An order item with its verdict."""

    item: OrderItem


def return_eligibility(
    *, customer: Customer, order_number: str, now: datetime | None = None
) -> list[ItemEligibility]:
    """Whether each item of the customer's order may be returned now, and why not."""
    order = order_get_for_customer(customer=customer, number=order_number)
    return order_items_eligibility(order=order, now=now)


def order_items_eligibility(*, order: Order, now: datetime | None = None) -> list[ItemEligibility]:
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    policy = ReturnPolicy.load()
    excluded = set(policy.non_returnable_categories.values_list("id", flat=True))
    items = list(order.items.select_related("product__category", "shipment"))
    counted = (
        ReturnItem.objects.filter(order_item__in=items)
        .exclude(return_request__status__in=ReturnRequest.VOID)
        .values("order_item")
        .annotate(quantity=Sum("quantity"))
    )
    returned = {row["order_item"]: row["quantity"] for row in counted}
    open_rma = {
        row.order_item_id: row.return_request.rma_number
        for row in ReturnItem.objects.filter(
            order_item__in=items, return_request__status__in=ReturnRequest.OPEN
        ).select_related("return_request")
    }

    result = []
    for item in items:
        delivered = item.shipment.delivered_at if item.shipment else None
        category = item.product.category
        verdict = item_verdict(
            name=item.product.name_for(order.customer),
            order_number=order.number,
            cancelled=order.status == Order.Status.CANCELLED,
            delivered=timezone.localtime(delivered).date() if delivered else None,
            window_days=policy.window_days,
            excluded_category=category.name if category.id in excluded else None,
            today=today,
            open_rma=open_rma.get(item.id),
            remaining=item.quantity - returned.get(item.id, 0),
        )
        result.append(ItemEligibility(item=item, **asdict(verdict)))
    return result
