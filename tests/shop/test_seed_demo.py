import hashlib
import io
import json

import pytest
from django.core.management import call_command

from assistant.shop.models import Customer, Order, ReturnRequest, Shipment, ShipmentEvent
from assistant.shop.selectors import order_items_eligibility

pytestmark = pytest.mark.django_db

ARGS = ["--customers", "12", "--seed", "7", "--today", "2026-11-22"]


def shop_digest() -> str:
    """A fingerprint of the shop by natural keys (database ids and secrets left out)."""
    rows = [
        list(
            Customer.objects.order_by("external_id").values_list(
                "external_id", "name", "email", "phone", "locale"
            )
        ),
        [
            (
                o.number,
                o.customer.external_id,
                o.status,
                str(o.total),
                o.currency,
                o.placed_at.isoformat(),
                [(i.product.sku, i.quantity, str(i.unit_price)) for i in o.items.all()],
            )
            for o in Order.objects.order_by("number")
            .select_related("customer")
            .prefetch_related("items__product")
        ],
        list(
            Shipment.objects.order_by("tracking_number").values_list(
                "tracking_number", "carrier", "status", "order__number"
            )
        ),
        list(
            ShipmentEvent.objects.order_by("shipment__tracking_number", "occurred_at").values_list(
                "shipment__tracking_number", "status", "occurred_at"
            )
        ),
        list(
            ReturnRequest.objects.order_by("rma_number").values_list(
                "rma_number", "status", "reason", "refund_amount"
            )
        ),
    ]
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


def seed(*extra):
    call_command("seed_demo", *ARGS, *extra, stdout=io.StringIO())


def test_seeding_twice_changes_nothing():
    seed()
    first = shop_digest()
    seed()
    assert shop_digest() == first


def test_a_reset_rebuilds_the_identical_shop_from_the_same_seed():
    seed()
    first = shop_digest()
    seed("--reset")
    assert shop_digest() == first


def test_another_seed_builds_another_shop():
    seed()
    first = shop_digest()
    call_command(
        "seed_demo",
        "--customers",
        "12",
        "--seed",
        "8",
        "--today",
        "2026-11-22",
        "--reset",
        stdout=io.StringIO(),
    )
    assert shop_digest() != first


def test_the_demo_shop_is_bilingual_and_has_orders_in_every_status():
    seed()
    assert set(Customer.objects.values_list("locale", flat=True)) == {"en", "zh-hans"}
    assert set(Order.objects.values_list("currency", flat=True)) == {"USD", "CNY"}
    assert set(Order.objects.values_list("status", flat=True)) >= {
        "paid",
        "processing",
        "shipped",
        "delivered",
        "cancelled",
    }
    assert ReturnRequest.objects.exists()


def test_every_seeded_return_was_allowed_by_the_policy_when_it_was_opened():
    seed()
    for rma in ReturnRequest.objects.prefetch_related("items"):
        verdicts = {
            v.item.id: v for v in order_items_eligibility(order=rma.order, now=rma.created_at)
        }
        for line in rma.items.all():
            verdict = verdicts[line.order_item_id]
            assert verdict.deadline is not None and rma.created_at.date() <= verdict.deadline


def test_seeding_prints_working_staff_logins_and_ide_tokens(capsys):
    from django.contrib.auth import authenticate

    from assistant.ide.services import api_token_authenticate

    call_command("seed_demo", *ARGS)
    out = capsys.readouterr().out
    logins = dict(
        line.removeprefix("Console login: ").split(" / ")
        for line in out.splitlines()
        if line.startswith("Console login")
    )
    assert set(logins) == {"operator", "admin"}
    assert authenticate(username="operator", password=logins["operator"]).is_staff
    tokens = [
        line.rsplit(": ", 1)[1] for line in out.splitlines() if line.startswith("IDE API token")
    ]
    assert len(tokens) == 3 and all(api_token_authenticate(raw=t) for t in tokens)
    call_command("seed_demo", *ARGS)
    assert capsys.readouterr().out.count(logins["operator"]) == 1  # the same password again
