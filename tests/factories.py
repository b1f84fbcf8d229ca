"""Builders for domain objects in tests. They go through the services, as production does."""

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

from django.contrib.auth import get_user_model
from django.utils import timezone

from assistant.shop.models import (
    Category,
    Customer,
    Order,
    Product,
    ProductPrice,
    ReturnPolicy,
    Shipment,
)
from assistant.shop.services import (
    OrderLine,
    order_create,
    order_transition,
    shipment_create,
    shipment_record_event,
)

_ids = count(1)


def make_customer(name: str = "Ada Lovelace", *, locale: str = "en") -> Customer:
    n = next(_ids)
    user = get_user_model().objects.create(username=f"test-customer-{n}")
    return Customer.objects.create(
        user=user,
        external_id=f"t_{n}",
        name=name,
        email=f"c{n}@example.com",
        locale=locale,
        created_at=datetime(2026, 1, 1).astimezone(),
    )


def make_product(
    *,
    category: str = "books",
    price: str = "20.00",
    returnable: bool = True,
    name: str = "",
    name_zh: str = "",
) -> Product:
    n = next(_ids)
    cat, _ = Category.objects.get_or_create(
        slug=category, defaults={"name": category.title(), "name_zh": category}
    )
    if not returnable:
        ReturnPolicy.load().non_returnable_categories.add(cat)
    product = Product.objects.create(
        sku=f"SKU-{n}",
        name=name or f"Product {n}",
        name_zh=name_zh or name or f"商品{n}",
        category=cat,
    )
    ProductPrice.objects.create(product=product, currency="USD", amount=Decimal(price))
    return product


def make_order(
    customer: Customer,
    products: list[Product],
    *,
    quantity: int = 1,
    placed_at: datetime,
    number: str = "",
) -> Order:
    return order_create(
        customer=customer,
        number=number or str(500000 + next(_ids)),
        lines=[OrderLine(product=p, quantity=quantity) for p in products],
        currency="USD",
        shipping_name=customer.name,
        shipping_address="1 Test Street",
        shipping_country="US",
        placed_at=placed_at,
    )


def make_delivered_order(
    customer: Customer,
    products: list[Product],
    *,
    delivered_at: datetime,
    quantity: int = 1,
    number: str = "",
    tracking_number: str = "",
) -> Order:
    placed = delivered_at - timedelta(days=4)
    order = make_order(customer, products, quantity=quantity, placed_at=placed, number=number)
    order_transition(order=order, to_status=Order.Status.PAID, now=placed)
    order_transition(order=order, to_status=Order.Status.PROCESSING, now=placed)
    shipment = shipment_create(
        order=order,
        carrier="ups",
        tracking_number=tracking_number or f"1ZTEST{next(_ids):010d}",
        shipped_at=placed + timedelta(days=1),
    )
    shipment_record_event(
        shipment=shipment, status=Shipment.Status.IN_TRANSIT, occurred_at=placed + timedelta(days=2)
    )
    shipment_record_event(
        shipment=shipment, status=Shipment.Status.DELIVERED, occurred_at=delivered_at
    )
    order.refresh_from_db()
    return order


def make_recent_delivery(customer: Customer, number: str, *, days_ago: int = 3, **product) -> Order:
    """One product delivered `days_ago` days ago, numbered as the shop numbers orders, with a
    UPS tracking number in the carrier's format: what the demo model's tests ask it about."""
    return make_delivered_order(
        customer,
        [make_product(**product)],
        delivered_at=timezone.now() - timedelta(days=days_ago),
        number=number,
        tracking_number=f"1Z8E74W3{number}{number[:4]}",
    )
