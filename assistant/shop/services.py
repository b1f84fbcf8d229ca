"""Write-side operations on the shop's domain. Each runs in one transaction: a violated
rule raises a DomainError and leaves nothing half-written."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from .errors import InvalidInput, InvalidTransition, NotFound, ReturnNotAllowed
from .models import (
    Customer,
    Order,
    OrderItem,
    Product,
    ProductPrice,
    ReturnItem,
    ReturnRequest,
    Shipment,
    ShipmentEvent,
)
from .selectors import order_get_for_customer, order_items_eligibility

MAX_LINE_QUANTITY = 100
MAX_RETURN_DETAIL = 2000


@dataclass(frozen=True)
class OrderLine:
    product: Product
    quantity: int


@dataclass(frozen=True)
class ReturnLine:
    order_item_id: int
    quantity: int


def _check_transition(kind: str, transitions: dict[str, set[str]], current: str, new: str) -> None:
    if new not in transitions:
        raise InvalidInput(f"{new!r} is not a {kind} status.")
    if new not in transitions[current]:
        allowed = ", ".join(sorted(transitions[current])) or "none (it is final)"
        raise InvalidTransition(
            f"A {kind} cannot go from {current!r} to {new!r}; allowed next: {allowed}."
        )


@transaction.atomic
def order_create(
    *,
    customer: Customer,
    number: str,
    lines: Sequence[OrderLine],
    currency: str,
    shipping_name: str,
    shipping_address: str,
    shipping_country: str,
    placed_at: datetime | None = None,
) -> Order:
    """Record an order placed on the shop platform (its number comes from there)."""
    if not lines:
        raise InvalidInput("An order needs at least one item.")
    for line in lines:
        if not isinstance(line.quantity, int) or not 1 <= line.quantity <= MAX_LINE_QUANTITY:
            raise InvalidInput(
                f"Quantity of {line.product.sku} must be a whole number from 1 to "
                f"{MAX_LINE_QUANTITY}, not {line.quantity!r}."
            )
        if not line.product.is_active:
            raise InvalidInput(f"{line.product.sku} is no longer sold.")
    prices = {
        price.product_id: price.amount
        for price in ProductPrice.objects.filter(
            product__in=[line.product for line in lines], currency=currency
        )
    }
    missing = [line.product.sku for line in lines if line.product.id not in prices]
    if missing:
        raise InvalidInput(f"Not sold in {currency}: {', '.join(missing)}.")

    placed_at = placed_at or timezone.now()
    total = sum((prices[line.product.id] * line.quantity for line in lines), Decimal("0.00"))
    try:
        with transaction.atomic():
            order = Order.objects.create(
                number=number,
                customer=customer,
                currency=currency,
                total=total,
                shipping_name=shipping_name,
                shipping_address=shipping_address,
                shipping_country=shipping_country,
                placed_at=placed_at,
                updated_at=placed_at,
            )
    except IntegrityError:
        raise InvalidInput(f"An order numbered {number!r} already exists.") from None
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product=line.product,
            quantity=line.quantity,
            unit_price=prices[line.product.id],
        )
        for line in lines
    )
    return order


@transaction.atomic
def order_transition(*, order: Order, to_status: str, now: datetime | None = None) -> Order:
    order = Order.objects.select_for_update().get(pk=order.pk)
    _check_transition("order", Order.TRANSITIONS, order.status, to_status)
    if to_status == Order.Status.SHIPPED and order.items.filter(shipment__isnull=True).exists():
        raise InvalidTransition(f"Order {order.number} still has items without a shipment.")
    order.status = to_status
    order.updated_at = now or timezone.now()
    order.save(update_fields=["status", "updated_at"])
    return order


@transaction.atomic
def shipment_create(
    *,
    order: Order,
    carrier: str,
    tracking_number: str,
    items: Sequence[OrderItem] | None = None,
    shipped_at: datetime | None = None,
    location: str = "",
) -> Shipment:
    """Ship some or all of the order's unshipped items; the last shipment marks it shipped."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status not in (Order.Status.PROCESSING, Order.Status.SHIPPED):
        raise InvalidTransition(
            f"Order {order.number} is {order.status}; only orders being processed can ship."
        )
    if carrier not in Shipment.Carrier.values:
        raise InvalidInput(
            f"Unknown carrier {carrier!r}; use one of {', '.join(Shipment.Carrier.values)}."
        )
    tracking_number = tracking_number.strip()
    if not tracking_number:
        raise InvalidInput("A shipment needs a tracking number.")
    unshipped = order.items.filter(shipment__isnull=True)
    chosen = list(unshipped) if items is None else [item for item in items]
    unshipped_ids = set(unshipped.values_list("id", flat=True))
    if not chosen:
        raise InvalidInput(f"Order {order.number} has no unshipped items.")
    foreign = [item.id for item in chosen if item.id not in unshipped_ids]
    if foreign:
        raise InvalidInput(f"Items {foreign} are not unshipped items of order {order.number}.")

    shipped_at = shipped_at or timezone.now()
    try:
        with transaction.atomic():
            shipment = Shipment.objects.create(
                order=order, carrier=carrier, tracking_number=tracking_number, shipped_at=shipped_at
            )
    except IntegrityError:
        raise InvalidInput(
            f"Tracking number {tracking_number} is already used for another {carrier} shipment."
        ) from None
    OrderItem.objects.filter(id__in=[item.id for item in chosen]).update(shipment=shipment)
    ShipmentEvent.objects.create(
        shipment=shipment,
        status=Shipment.Status.LABEL_CREATED,
        location=location,
        description="Shipping label created",
        occurred_at=shipped_at,
    )
    if order.status == Order.Status.PROCESSING and len(chosen) == len(unshipped_ids):
        order_transition(order=order, to_status=Order.Status.SHIPPED, now=shipped_at)
    return shipment


@transaction.atomic
def shipment_record_event(
    *,
    shipment: Shipment,
    status: str,
    location: str = "",
    description: str = "",
    occurred_at: datetime | None = None,
) -> ShipmentEvent:
    """Record a carrier scan. When every shipment of an order is delivered, so is the order."""
    shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
    _check_transition("shipment", Shipment.TRANSITIONS, shipment.status, status)
    occurred_at = occurred_at or timezone.now()
    if occurred_at < shipment.shipped_at:
        raise InvalidInput("A carrier scan cannot come before the shipment was created.")
    event = ShipmentEvent.objects.create(
        shipment=shipment,
        status=status,
        location=location,
        description=description,
        occurred_at=occurred_at,
    )
    shipment.status = status
    if status == Shipment.Status.DELIVERED:
        shipment.delivered_at = occurred_at
    shipment.save(update_fields=["status", "delivered_at"])

    order = shipment.order
    all_delivered = not order.shipments.exclude(status=Shipment.Status.DELIVERED).exists()
    if order.status == Order.Status.SHIPPED and all_delivered:
        order_transition(order=order, to_status=Order.Status.DELIVERED, now=occurred_at)
    return event


@transaction.atomic
def return_create(
    *,
    customer: Customer,
    order_number: str,
    lines: Sequence[ReturnLine],
    reason: str,
    detail: str = "",
    now: datetime | None = None,
) -> ReturnRequest:
    """Open a return (RMA) for delivered items of the customer's own order, under the policy."""
    now = now or timezone.now()
    if reason not in ReturnRequest.Reason.values:
        raise InvalidInput(
            f"Unknown return reason {reason!r}; use one of {', '.join(ReturnRequest.Reason.values)}."
        )
    if len(detail) > MAX_RETURN_DETAIL:
        raise InvalidInput(f"Please keep the description under {MAX_RETURN_DETAIL} characters.")
    if not lines:
        raise InvalidInput("Say which items to return.")
    if len({line.order_item_id for line in lines}) != len(lines):
        raise InvalidInput("Each item may appear only once in a return.")

    order = order_get_for_customer(customer=customer, number=order_number)
    # Serialise returns on one order so two concurrent requests cannot both pass the checks.
    order = Order.objects.select_for_update().get(pk=order.pk)
    eligibility = {e.item.id: e for e in order_items_eligibility(order=order, now=now)}

    refund = Decimal("0.00")
    for line in lines:
        verdict = eligibility.get(line.order_item_id)
        if verdict is None:
            raise NotFound(f"Order {order.number} has no item with id {line.order_item_id}.")
        if not verdict.eligible:
            raise ReturnNotAllowed(verdict.reason)
        if (
            not isinstance(line.quantity, int)
            or not 1 <= line.quantity <= verdict.returnable_quantity
        ):
            raise InvalidInput(
                f"You can return between 1 and {verdict.returnable_quantity} of "
                f"{verdict.item.product.name}, not {line.quantity!r}."
            )
        refund += verdict.item.unit_price * line.quantity

    sequence = ReturnRequest.objects.filter(order=order).count() + 1
    return_request = ReturnRequest.objects.create(
        rma_number=f"RMA-{order.number}-{sequence}",
        customer=customer,
        order=order,
        reason=reason,
        detail=detail,
        refund_amount=refund,
        currency=order.currency,
        created_at=now,
        updated_at=now,
    )
    ReturnItem.objects.bulk_create(
        ReturnItem(
            return_request=return_request, order_item_id=line.order_item_id, quantity=line.quantity
        )
        for line in lines
    )
    return return_request


@transaction.atomic
def return_transition(
    *, return_request: ReturnRequest, to_status: str, now: datetime | None = None
) -> ReturnRequest:
    return_request = ReturnRequest.objects.select_for_update().get(pk=return_request.pk)
    _check_transition("return", ReturnRequest.TRANSITIONS, return_request.status, to_status)
    now = now or timezone.now()
    return_request.status = to_status
    return_request.updated_at = now
    if to_status not in ReturnRequest.OPEN:
        return_request.resolved_at = now
    return_request.save(update_fields=["status", "updated_at", "resolved_at"])
    return return_request
