from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from assistant.shop.errors import InvalidInput, InvalidTransition, NotFound, ReturnNotAllowed
from assistant.shop.models import ReturnItem, ReturnRequest
from assistant.shop.selectors import return_eligibility
from assistant.shop.services import ReturnLine, return_create, return_transition
from tests.factories import make_customer, make_delivered_order, make_order, make_product

pytestmark = pytest.mark.django_db

DELIVERED = datetime(2026, 10, 1, 15, 30, tzinfo=UTC)


def open_return(customer, order, *, quantity=1, now=DELIVERED + timedelta(days=3), item=0):
    return return_create(
        customer=customer,
        order_number=order.number,
        lines=[ReturnLine(order_item_id=order.items.all()[item].id, quantity=quantity)],
        reason="damaged",
        now=now,
    )


@pytest.fixture
def customer():
    return make_customer()


@pytest.fixture
def order(customer):
    return make_delivered_order(
        customer, [make_product(price="19.90")], delivered_at=DELIVERED, quantity=2
    )


def test_a_return_on_day_30_after_delivery_is_allowed(customer, order):
    day_30 = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
    rma = open_return(customer, order, now=day_30)
    assert rma.status == ReturnRequest.Status.REQUESTED
    assert rma.rma_number == f"RMA-{order.number}-1"


def test_a_return_on_day_31_after_delivery_is_refused_with_the_closing_date(customer, order):
    day_31 = datetime(2026, 11, 1, 0, 1, tzinfo=UTC)
    with pytest.raises(ReturnNotAllowed, match="closed on 2026-10-31"):
        open_return(customer, order, now=day_31)
    assert not ReturnRequest.objects.exists()


def test_items_in_a_non_returnable_category_cannot_be_returned(customer):
    gift_card = make_product(category="gift-cards", returnable=False)
    order = make_delivered_order(customer, [gift_card], delivered_at=DELIVERED)
    with pytest.raises(ReturnNotAllowed, match="excludes"):
        open_return(customer, order)


def test_an_item_with_an_open_return_cannot_be_returned_again(customer, order):
    first = open_return(customer, order, quantity=1)
    with pytest.raises(ReturnNotAllowed, match=f"already has an open return, {first.rma_number}"):
        open_return(customer, order, quantity=1)
    assert ReturnRequest.objects.count() == 1


def test_the_rest_of_an_item_can_be_returned_once_the_first_return_is_refunded(customer, order):
    first = open_return(customer, order, quantity=1)
    for status in ("approved", "received", "refunded"):
        return_transition(return_request=first, to_status=status, now=DELIVERED + timedelta(days=5))
    second = open_return(customer, order, quantity=1, now=DELIVERED + timedelta(days=6))
    assert second.rma_number.endswith("-2")
    for status in ("approved", "received", "refunded"):
        return_transition(
            return_request=second, to_status=status, now=DELIVERED + timedelta(days=7)
        )
    with pytest.raises(ReturnNotAllowed, match="already been returned"):
        open_return(customer, order, quantity=1, now=DELIVERED + timedelta(days=8))


def test_a_rejected_return_frees_the_item_for_a_new_return(customer, order):
    first = open_return(customer, order, quantity=2)
    return_transition(return_request=first, to_status="rejected")
    assert open_return(customer, order, quantity=2).items.get().quantity == 2


def test_another_customers_order_is_reported_exactly_like_a_missing_one(customer, order):
    stranger = make_customer("Eve")
    with pytest.raises(NotFound) as theirs:
        open_return(stranger, order)
    with pytest.raises(NotFound) as missing:
        return_create(
            customer=stranger, order_number="999999999", lines=[ReturnLine(1, 1)], reason="damaged"
        )
    assert str(theirs.value) == str(missing.value).replace("999999999", order.number)
    with pytest.raises(NotFound):
        return_eligibility(customer=stranger, order_number=order.number)


def test_an_undelivered_item_cannot_be_returned(customer):
    order = make_order(customer, [make_product()], placed_at=DELIVERED)
    with pytest.raises(ReturnNotAllowed, match="not been delivered"):
        open_return(customer, order)


def test_returning_more_units_than_bought_is_refused(customer, order):
    with pytest.raises(InvalidInput, match="between 1 and 2"):
        open_return(customer, order, quantity=3)


def test_a_return_that_fails_on_its_second_line_writes_nothing(customer):
    order = make_delivered_order(
        customer,
        [make_product(), make_product(category="grocery", returnable=False)],
        delivered_at=DELIVERED,
    )
    items = list(order.items.all())
    with pytest.raises(ReturnNotAllowed):
        return_create(
            customer=customer,
            order_number=order.number,
            lines=[ReturnLine(items[0].id, 1), ReturnLine(items[1].id, 1)],
            reason="size_fit",
            now=DELIVERED + timedelta(days=1),
        )
    assert not ReturnRequest.objects.exists()
    assert not ReturnItem.objects.exists()


def test_an_item_of_another_order_is_not_found_in_this_order(customer, order):
    other = make_delivered_order(customer, [make_product()], delivered_at=DELIVERED)
    with pytest.raises(NotFound, match="has no item"):
        return_create(
            customer=customer,
            order_number=order.number,
            lines=[ReturnLine(other.items.get().id, 1)],
            reason="damaged",
            now=DELIVERED + timedelta(days=1),
        )


def test_the_refund_is_the_price_of_the_returned_units(customer, order):
    assert open_return(customer, order, quantity=2).refund_amount == Decimal("39.80")


def test_an_unknown_reason_is_refused_with_the_valid_ones(customer, order):
    with pytest.raises(InvalidInput, match="damaged, wrong_item"):
        return_create(
            customer=customer,
            order_number=order.number,
            lines=[ReturnLine(order.items.get().id, 1)],
            reason="because",
            now=DELIVERED,
        )


def test_a_return_moves_only_along_the_allowed_graph(customer, order):
    rma = open_return(customer, order)
    with pytest.raises(InvalidTransition, match="allowed next: approved, cancelled, rejected"):
        return_transition(return_request=rma, to_status="refunded")
    return_transition(return_request=rma, to_status="cancelled")
    with pytest.raises(InvalidTransition, match="it is final"):
        return_transition(return_request=rma, to_status="approved")
    rma.refresh_from_db()
    assert rma.status == "cancelled"
    assert rma.resolved_at is not None


def test_eligibility_explains_each_item(customer):
    ok, excluded = make_product(), make_product(category="beauty", returnable=False)
    order = make_delivered_order(customer, [ok, excluded], delivered_at=DELIVERED)
    verdicts = return_eligibility(
        customer=customer, order_number=order.number, now=DELIVERED + timedelta(days=2)
    )
    assert [(v.item.product, v.eligible) for v in verdicts] == [(ok, True), (excluded, False)]
    assert verdicts[0].deadline.isoformat() == "2026-10-31"
    assert verdicts[0].returnable_quantity == 1


def test_a_chinese_customer_reads_each_reason_with_the_product_name_they_see():
    customer = make_customer(locale="zh-hans")
    product = make_product(name="Rain Jacket", name_zh="防水雨衣外套")
    order = make_delivered_order(customer, [product], delivered_at=DELIVERED)
    [verdict] = return_eligibility(
        customer=customer, order_number=order.number, now=DELIVERED + timedelta(days=2)
    )
    assert verdict.reason == "防水雨衣外套 can be returned until 2026-10-31."
