"""The chat widget in a real browser, on the real stack, in the ways that do not depend on what
the model answers: embedding, isolation, escaping, keyboard and phone use, languages, reloads,
dropped connections and the rating after a conversation ends."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from assistant.agent.tools import ToolContext, run_tool
from assistant.conversations import services
from assistant.conversations.models import Conversation, Message
from assistant.shop.models import ReturnRequest
from tests.browser.conftest import console_login, open_shop, screenshot, staff_user
from tests.browser.widget import Widget
from tests.factories import make_customer, make_delivered_order, make_product

pytestmark = pytest.mark.django_db(transaction=True)

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'

HOSTILE_CSS = """
* { all: unset !important; font-size: 40px !important; color: red !important;
    display: block !important; position: static !important; }
div, section, button, textarea, span { display: none !important; visibility: hidden !important; }
shop-assistant { display: none !important; transform: scale(0) !important; opacity: 0 !important; }
h1 { color: rgb(0, 128, 0) !important; }
"""


def look(page) -> dict:
    """How the open widget looks: boxes and computed styles of its main parts."""
    page.mouse.move(0, 0)
    return page.evaluate(
        """() => {
            const root = document.querySelector("shop-assistant").shadowRoot;
            const parts = [".launcher", ".panel", ".header", ".toolbar .end", ".log",
                           "textarea#input", ".send", ".message.user", ".message.system"];
            return Object.fromEntries(parts.map((selector) => {
                const e = root.querySelector(selector);
                if (!e) return [selector, null];
                const s = getComputedStyle(e);
                const b = e.getBoundingClientRect();
                return [selector, {box: [b.x, b.y, b.width, b.height], font: s.font, color: s.color,
                                   background: s.backgroundColor, display: s.display}];
            }));
        }"""
    )


def test_the_widget_survives_a_hostile_host_stylesheet_and_leaves_the_host_page_alone(
    browser, live, shop
):
    looks = []
    for css in ["", HOSTILE_CSS]:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        tab = context.new_page()
        open_shop(tab, live, shop, customer=make_customer(), css=css)
        widget = Widget(tab)
        widget.open()
        widget.button("Talk to a human").click()
        widget.ask("Can a person help me?")
        looks.append(look(tab))
        if css:
            # The page's own rules still apply to the page: the widget changed nothing outside.
            assert (
                tab.locator("body > h1").evaluate("e => getComputedStyle(e).color")
                == "rgb(0, 128, 0)"
            )
            assert tab.locator("body > p").evaluate("e => getComputedStyle(e).fontSize") == "40px"
            screenshot(tab, "widget-hostile-stylesheet")
        context.close()
    assert looks[0] == looks[1]
    assert Message.objects.filter(role="user").count() == 2


def test_html_typed_in_a_message_is_shown_as_text_in_the_widget_and_the_console(
    page, context, live, shop
):
    open_shop(page, live, shop, customer=make_customer())
    widget = Widget(page)
    widget.open()
    widget.ask(XSS)
    assert widget.texts("user") == [XSS]
    assert widget.log.locator("img, script").count() == 0
    assert page.evaluate("() => window.__xss") is None
    conversation = Conversation.objects.get()
    assert conversation.messages.get(role="user").content == XSS

    operator = context.new_page()
    console_login(operator, live, staff_user("olga"))
    operator.goto(f"{live.base}/console/conversations/{conversation.public_id}/")
    transcript = operator.get_by_label("Transcript")
    assert XSS in transcript.inner_text()
    assert transcript.locator("img, script").count() == 0
    assert operator.evaluate("() => window.__xss") is None


def test_markdown_from_the_model_never_becomes_html(page, live, shop):
    open_shop(page, live, shop)
    widget = Widget(page)
    rendered = page.evaluate(
        """async ([url, texts]) => {
            const {renderMarkdown} = await import(url);
            return texts.map((text) => {
                const box = document.createElement("div");
                box.append(renderMarkdown(text));
                return {html: box.innerHTML, text: box.textContent,
                        tags: [...box.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()),
                        hrefs: [...box.querySelectorAll("a")].map((a) => a.getAttribute("href"))};
            });
        }""",
        [
            widget.module_url("markdown.js"),
            [
                XSS,
                "**bold <b>not bold</b>** and `<i>code</i>`",
                "```html\n<script>alert(1)</script>\n```",
                "[click](javascript:alert(1)) and [docs](https://example.com/a?b=1)",
                "- one <svg onload=alert(1)>\n- two",
            ],
        ],
    )
    assert set().union(*(r["tags"] for r in rendered)) <= {
        "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "a",
    }  # fmt: skip
    assert rendered[0]["text"] == XSS
    assert rendered[1]["tags"] == ["p", "strong", "code"]
    assert rendered[2]["tags"] == ["pre", "code"] and "<script>" in rendered[2]["text"]
    assert rendered[3]["hrefs"] == ["https://example.com/a?b=1"]
    assert rendered[3]["text"].startswith("click")  # the label stays; the unsafe link does not
    assert rendered[4]["tags"] == ["ul", "li", "li"]
    assert page.evaluate("() => window.__xss") is None


def test_the_widget_can_be_used_with_the_keyboard_alone(page, live, shop):
    open_shop(page, live, shop, customer=make_customer(), body='<a href="#">Home</a>')
    widget = Widget(page)
    widget.launcher.wait_for()
    for _ in range(5):
        page.keyboard.press("Tab")
        if widget.launcher.evaluate("e => e.getRootNode().activeElement === e"):
            break
    else:
        pytest.fail("Tab never reached the chat launcher.")
    page.keyboard.press("Enter")
    assert widget.input.evaluate("e => e.getRootNode().activeElement === e")
    assert widget.launcher.get_attribute("aria-expanded") == "true"
    assert widget.log.get_attribute("role") == "log"

    page.keyboard.press("Shift+Tab")  # to the log, which scrolls with the arrow keys
    page.keyboard.press("Shift+Tab")  # to the toolbar ("End chat" is hidden until there is a chat)
    assert widget.root.locator(":focus").inner_text() == "Talk to a human"
    page.keyboard.press("Enter")
    widget.notice.get_by_text("We've asked a member of our team to join").wait_for()
    widget.input.focus()
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Enter")
    widget.wait_until_idle()
    assert widget.texts("user") == ["Typed without a mouse"]
    assert widget.log.get_attribute("aria-busy") == "false"

    page.keyboard.press("Escape")
    assert widget.panel.is_hidden()
    assert widget.launcher.evaluate("e => e.getRootNode().activeElement === e")


@pytest.mark.parametrize("locale", ["en", "zh-hans"])
def test_on_a_phone_the_widget_fills_the_screen_and_every_target_is_at_least_24px(
    browser, live, locale, shop
):
    context = browser.new_context(
        viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        open_shop(page, live, shop, customer=make_customer(locale=locale))
        widget = Widget(page)
        widget.launcher.tap()
        widget.panel.wait_for(state="visible")
        box = widget.panel.bounding_box()
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 375, 667)
        widget.root.locator("button.human").tap()
        widget.send("Hello")
        widget.wait_until_idle()
        targets = widget.root.locator("button:visible, textarea:visible, a:visible")
        assert targets.count() >= 4
        for target in targets.all():
            size = target.bounding_box()
            assert size["width"] >= 24 and size["height"] >= 24, target.evaluate("e => e.outerHTML")
        assert widget.log.evaluate("e => e.scrollWidth <= e.clientWidth")
        screenshot(page, f"widget-phone-{locale[:2]}")
    finally:
        context.close()


def test_the_interface_follows_the_chinese_locale(page, live, shop):
    open_shop(page, live, shop, customer=make_customer("王芳", locale="zh-hans"))
    widget = Widget(page)
    widget.open()
    for key, shown in [
        ("open", widget.launcher.inner_text()),
        ("placeholder", widget.input.get_attribute("placeholder")),
        ("human", widget.root.locator("button.human").inner_text()),
        ("send", widget.send_button.inner_text()),
        ("greeting", widget.log.locator(".greeting").inner_text()),
    ]:
        chinese = widget.translate("zh-hans", key)
        assert shown.strip() == chinese != widget.translate("en", key)
    assert widget.root.locator(".frame").get_attribute("lang") == "zh-hans"
    widget.root.locator("button.human").click()
    widget.ask("你好")
    assert Conversation.objects.get().locale == "zh-hans"
    screenshot(page, "widget-desktop-zh")


def test_a_streamed_reply_survives_a_reload(page, live, shop):
    open_shop(page, live, shop, customer=make_customer())
    widget = Widget(page)
    widget.open()
    widget.record()
    widget.ask("Hello, what can you do?")
    assert widget.recorded()["streamed"] > 0  # the reply was shown as it arrived
    assert widget.log.get_attribute("aria-busy") == "false"  # and is announced once complete
    before = widget.log.inner_text()
    assert widget.messages("assistant").count() == 1
    page.reload()
    widget.panel.wait_for(state="visible")  # it was open, so it opens again
    widget.messages("assistant").first.wait_for()
    assert widget.log.inner_text() == before
    assert widget.texts("user") == ["Hello, what can you do?"]
    screenshot(page, "widget-desktop-en")


def test_a_dropped_connection_reconnects_without_duplicating_messages(page, live, shop):
    open_shop(page, live, shop, customer=make_customer())
    widget = Widget(page)
    widget.open()
    dropped = []

    def drop_the_first_reply(route):
        if dropped:
            route.continue_()
            return
        route.fetch()  # the server stores the message and the whole reply...
        dropped.append(route.request.post_data_json["client_id"])
        route.abort("connectionreset")  # ...and the customer's connection drops before it arrives

    page.route(f"{live.base}/api/chat/conversations/*/messages", drop_the_first_reply)
    widget.send("Is anyone there?")
    widget.notice.get_by_text(widget.translate("en", "reconnecting")).wait_for(timeout=240_000)
    widget.wait_until_idle()

    assert widget.texts("user") == ["Is anyone there?"]
    assert widget.messages("assistant").count() == 1
    stored = Message.objects.filter(role="user")
    assert [(m.content, m.client_id) for m in stored] == [("Is anyone there?", dropped[0])]
    reply = Message.objects.filter(role="assistant").exclude(content="").get()
    assert widget.texts("assistant") == [reply.content.strip()]


def test_after_the_customer_ends_the_chat_they_rate_it_and_can_start_again(page, live, shop):
    open_shop(page, live, shop, customer=make_customer())
    widget = Widget(page)
    widget.open()
    widget.button("Talk to a human").click()
    widget.ask("I'd like to speak to someone.")
    widget.button("End chat").click()
    widget.root.get_by_text("How did we do?").wait_for()
    assert widget.root.locator("form.composer").is_hidden()
    widget.button("4 out of 5").click()
    widget.root.get_by_label("Anything to add? (optional)").fill("Quick, thanks")
    widget.button("Send rating").click()
    widget.root.get_by_text("Thank you for your feedback!").wait_for()
    conversation = Conversation.objects.get()
    assert conversation.status == "closed"
    assert (conversation.csat_rating, conversation.csat_comment) == (4, "Quick, thanks")

    widget.button("Start a new conversation").click()
    assert widget.messages("user").count() == 0
    widget.button("Talk to a human").click()
    widget.ask("Another question")
    assert Conversation.objects.count() == 2


def test_the_demo_shop_page_embeds_the_widget_for_its_signed_in_customer(page, live):
    customer = make_customer("Grace Hopper")
    page.goto(f"{live.base}/demo/?customer={customer.external_id}")
    assert "Grace Hopper" in page.locator("body > header").inner_text()
    widget = Widget(page)
    widget.open()
    widget.button("Talk to a human").click()
    widget.ask("Hello from the demo shop")
    assert widget.stored_state()["signedIn"] is True
    assert Conversation.objects.get().customer == customer


def test_a_signed_in_customers_conversation_and_its_cards_follow_them_to_a_new_device(
    page, live, shop
):
    """Cards whatever the model says: the tools run here as the agent runs them."""
    customer = make_customer()
    product = make_product(name=XSS)
    order = make_delivered_order(
        customer, [product], delivered_at=timezone.now() - timedelta(days=2)
    )
    conversation = services.conversation_start(customer=customer, visitor_id=uuid.uuid4())
    services.message_post_user(conversation=conversation, content=f"Order {order.number}?")
    step = services.assistant_message_start(conversation=conversation, model="demo")
    calls = [
        ("order_lookup", {"order_number": order.number}),
        ("shipment_track", {"order_number": order.number}),
        ("return_create", {"order_number": order.number, "reason": "damaged"}),
    ]
    context = ToolContext(customer=customer, conversation=conversation)
    for n, (name, arguments) in enumerate(calls):
        result = run_tool(
            ctx=context,
            message=step,
            call_id=f"call_{n}",
            name=name,
            arguments=json.dumps(arguments),
        )
        assert result.outcome == "ok", result.result
    services.assistant_message_finish(message=step, status="complete")
    answer = services.assistant_message_start(conversation=conversation, model="demo")
    services.assistant_message_finish(
        message=answer, status="complete", content="Your order is **delivered**."
    )

    open_shop(page, live, shop, customer=customer)
    widget = Widget(page)
    widget.open()
    order_card = widget.cards("order_lookup")
    order_card.wait_for()
    assert order.number in order_card.inner_text()
    assert widget.translate("en", f"status.{order.status}") in order_card.inner_text()
    shipment = order.shipments.get()
    link = widget.cards("shipment_track").get_by_role("link")
    assert link.get_attribute("href") == shipment.tracking_url
    assert link.get_attribute("target") == "_blank"
    rma = ReturnRequest.objects.get(order=order)
    assert widget.cards("return_create").locator(".rma-number").inner_text() == rma.rma_number
    for tool, _ in calls:
        assert XSS in widget.cards(tool).inner_text()
    assert widget.log.locator("img, script").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert widget.messages("assistant").locator("strong").inner_text() == "delivered"
    screenshot(page, "widget-cards")
