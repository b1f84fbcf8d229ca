from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from assistant.shop.errors import InvalidInput, InvalidTransition, NotFound
from assistant.shop.models import Order, OrderItem, Shipment
from assistant.shop.selectors import order_get_for_customer, order_list_for_customer
from assistant.shop.services import (
    OrderLine,
    order_create,
    order_transition,
    shipment_create,
    shipment_record_event,
)
from tests.factories import make_customer, make_order, make_product

pytestmark = pytest.mark.django_db

PLACED = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def create(customer, lines, number="700001", currency="USD"):
    return order_create(
        customer=customer,
        number=number,
        lines=lines,
        currency=currency,
        shipping_name="Ada",
        shipping_address="1 Test St",
        shipping_country="US",
        placed_at=PLACED,
    )


def processing_order(customer, products):
    order = make_order(customer, products, placed_at=PLACED)
    order_transition(order=order, to_status="paid", now=PLACED)
    return order_transition(order=order, to_status="processing", now=PLACED)


@pytest.mark.parametrize("quantity", [0, -1, 101, 1.5])
def test_an_order_refuses_quantities_outside_1_to_100(quantity):
    with pytest.raises(InvalidInput, match="whole number from 1 to 100"):
        create(make_customer(), [OrderLine(make_product(), quantity)])
    assert not Order.objects.exists()


def test_an_order_total_is_the_sum_of_its_lines():
    order = create(
        make_customer(),
        [OrderLine(make_product(price="10.50"), 3), OrderLine(make_product(price="0.99"), 1)],
    )
    assert order.total == Decimal("32.49")
    assert sum(item.line_total for item in order.items.all()) == order.total


def test_an_order_in_a_currency_the_product_is_not_priced_in_is_refused():
    with pytest.raises(InvalidInput, match="Not sold in CNY"):
        create(make_customer(), [OrderLine(make_product(), 1)], currency="CNY")


def test_a_duplicate_order_number_is_refused_and_the_first_order_is_kept():
    customer = make_customer()
    first = create(customer, [OrderLine(make_product(), 1)])
    with pytest.raises(InvalidInput, match="already exists"):
        create(customer, [OrderLine(make_product(), 5)])
    assert list(Order.objects.all()) == [first]
    assert OrderItem.objects.count() == 1


def test_the_database_refuses_a_negative_quantity_even_without_the_services():
    order = create(make_customer(), [OrderLine(make_product(), 1)])
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderItem.objects.create(order=order, product=make_product(), quantity=0, unit_price=1)


def test_an_order_cannot_skip_from_pending_to_delivered():
    order = create(make_customer(), [OrderLine(make_product(), 1)])
    with pytest.raises(InvalidTransition, match="allowed next: cancelled, paid"):
        order_transition(order=order, to_status="delivered")
    order.refresh_from_db()
    assert order.status == "pending"


def test_an_unknown_status_is_named_as_such():
    order = create(make_customer(), [OrderLine(make_product(), 1)])
    with pytest.raises(InvalidInput, match="'lost' is not a order status"):
        order_transition(order=order, to_status="lost")


def test_an_order_becomes_delivered_only_when_its_last_parcel_is():
    customer = make_customer()
    order = processing_order(customer, [make_product(), make_product()])
    first_item, _second_item = order.items.all()
    first = shipment_create(
        order=order, carrier="ups", tracking_number="1Z1", items=[first_item], shipped_at=PLACED
    )
    order.refresh_from_db()
    assert order.status == "processing"
    second = shipment_create(order=order, carrier="dhl", tracking_number="99", shipped_at=PLACED)
    order.refresh_from_db()
    assert order.status == "shipped"

    for shipment in (first, second):
        shipment_record_event(
            shipment=shipment,
            status="in_transit",
            location="Memphis, TN",
            occurred_at=PLACED + timedelta(days=1),
        )
    shipment_record_event(
        shipment=first, status="delivered", occurred_at=PLACED + timedelta(days=2)
    )
    order.refresh_from_db()
    assert order.status == "shipped"
    shipment_record_event(
        shipment=second, status="delivered", occurred_at=PLACED + timedelta(days=3)
    )
    order.refresh_from_db()
    assert order.status == "delivered"


def test_a_shipment_keeps_its_status_history_in_order():
    order = processing_order(make_customer(), [make_product()])
    shipment = shipment_create(
        order=order, carrier="fedex", tracking_number="123456789012", shipped_at=PLACED
    )
    for day, status in enumerate(
        ["in_transit", "in_transit", "out_for_delivery", "delivered"], start=1
    ):
        shipment_record_event(
            shipment=shipment, status=status, occurred_at=PLACED + timedelta(days=day)
        )
    assert list(shipment.events.values_list("status", flat=True)) == [
        "label_created",
        "in_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    shipment.refresh_from_db()
    assert shipment.delivered_at == PLACED + timedelta(days=4)
    assert shipment.tracking_url.endswith("123456789012")


def test_a_delivered_parcel_cannot_go_back_in_transit():
    order = processing_order(make_customer(), [make_product()])
    shipment = shipment_create(
        order=order, carrier="usps", tracking_number="9400", shipped_at=PLACED
    )
    shipment_record_event(shipment=shipment, status="in_transit", occurred_at=PLACED)
    shipment_record_event(shipment=shipment, status="delivered", occurred_at=PLACED)
    with pytest.raises(InvalidTransition, match="it is final"):
        shipment_record_event(shipment=shipment, status="in_transit", occurred_at=PLACED)
    assert shipment.events.count() == 3


def test_a_pending_order_cannot_ship():
    order = make_order(make_customer(), [make_product()], placed_at=PLACED)
    with pytest.raises(InvalidTransition, match="only orders being processed can ship"):
        shipment_create(order=order, carrier="ups", tracking_number="1Z2")
    assert not Shipment.objects.exists()


def test_a_reused_tracking_number_is_refused_without_moving_any_item():
    customer = make_customer()
    shipment_create(
        order=processing_order(customer, [make_product()]),
        carrier="ups",
        tracking_number="1ZSAME",
        shipped_at=PLACED,
    )
    second = processing_order(customer, [make_product()])
    with pytest.raises(InvalidInput, match="already used"):
        shipment_create(order=second, carrier="ups", tracking_number="1ZSAME", shipped_at=PLACED)
    assert second.items.get().shipment is None


def test_customers_see_only_their_own_orders():
    alice, bob = make_customer("Alice"), make_customer("Bob")
    mine = make_order(alice, [make_product()], placed_at=PLACED)
    make_order(bob, [make_product()], placed_at=PLACED)
    assert order_list_for_customer(customer=alice) == [mine]
    assert order_get_for_customer(customer=alice, number=f"#{mine.number}") == mine
    with pytest.raises(NotFound, match="No order"):
        order_get_for_customer(customer=bob, number=mine.number)
    with pytest.raises(InvalidInput):
        order_list_for_customer(customer=alice, limit=0)
