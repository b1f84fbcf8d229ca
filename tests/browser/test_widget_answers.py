"""What the customer sees when the model does its job: it must call the right tool with the
right order number, so these tests pass only with a capable checkpoint at the path `make run`
serves (modelserver/demo/checkpoint; see its MODEL_CARD.md). The widget's cards, links and
escaping are tested whatever the model says in test_widget.py, with the tools run as the agent
runs them."""

import pytest

from assistant.conversations.models import ToolCall
from assistant.shop.models import ReturnRequest
from tests.browser.conftest import open_shop, screenshot
from tests.browser.widget import Widget
from tests.factories import make_customer, make_recent_delivery

pytestmark = pytest.mark.django_db(transaction=True)

ORDER_CARDS = '.card[data-tool="order_lookup"], .card[data-tool="shipment_track"]'


def what_the_model_did(widget: Widget) -> str:
    calls = list(ToolCall.objects.values_list("name", "arguments", "outcome"))
    return f"tool calls {calls}, answers {widget.texts('assistant')}"


@pytest.mark.parametrize(
    "locale, question",
    [("en", "What's the status of order {order}?"), ("zh-hans", "我的订单{order}现在什么状态？")],
)
def test_a_customer_asks_for_an_orders_status_and_sees_the_streamed_answer_and_the_order_card(
    page, live, shop, locale, question
):
    customer = make_customer("Ada Lovelace" if locale == "en" else "王芳", locale=locale)
    order = make_recent_delivery(customer, "147253")
    open_shop(page, live, shop, customer=customer)
    widget = Widget(page)
    widget.open()
    widget.record()
    widget.ask(question.format(order=order.number))

    run = ToolCall.objects.filter(outcome="ok").first()
    assert run is not None, what_the_model_did(widget)
    assert run.name in ("order_lookup", "shipment_track"), what_the_model_did(widget)
    assert run.result["order_number"] == order.number
    seen = widget.recorded()
    assert widget.translate(locale, f"progress.{run.name}", order=order.number) in seen["progress"]
    assert seen["streamed"] > 0  # the answer was shown while it arrived

    card = widget.log.locator(ORDER_CARDS)
    assert card.count() == 1
    assert order.number in card.inner_text()
    assert widget.translate(locale, f"status.{order.status}") in card.inner_text()
    assert order.number in widget.texts("assistant")[-1]
    screenshot(page, f"widget-order-status-{locale[:2]}")


def test_a_customer_opens_a_return_from_the_widget_and_sees_its_rma_number(page, live, shop):
    customer = make_customer()
    order = make_recent_delivery(
        customer, "162740", category="electronics", name="Portable SSD 1TB"
    )
    open_shop(page, live, shop, customer=customer)
    widget = Widget(page)
    widget.open()
    widget.ask(
        f"I want to return the Portable SSD 1TB from order {order.number}, it arrived broken."
    )

    rma = ReturnRequest.objects.filter(order=order).first()
    assert rma is not None, what_the_model_did(widget)
    assert rma.reason == ReturnRequest.Reason.DAMAGED
    label = widget.cards("return_create")
    assert label.locator(".rma-number").inner_text() == rma.rma_number
    assert "Portable SSD 1TB" in label.inner_text()
    assert rma.rma_number in widget.texts("assistant")[-1]
    screenshot(page, "widget-return-created")
