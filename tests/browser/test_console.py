"""The operator console in a real browser, next to the customer's widget, on the real stack."""

import re
import uuid

import httpx
import pytest
from django.contrib.auth import get_user_model

from assistant.chat.identity import identity_token_create
from assistant.conversations import services
from assistant.conversations.models import CannedResponse, Conversation, Message
from assistant.ide.services import api_token_create
from safety.models import KeywordTerm, SafetyVerdict
from tests.browser.conftest import console_login, open_shop, screenshot, staff_user
from tests.browser.widget import Widget
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator_page(browser, live):
    """A second browser (its own cookies) with an operator signed in to the console."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    user = staff_user("olga")
    user.first_name, user.last_name = "Olga", "Ops"
    user.save()
    console_login(page, live, user)
    yield page
    context.close()


def test_an_operator_takes_over_and_the_customer_sees_the_operators_reply(
    page, operator_page, live, shop
):
    CannedResponse.objects.update_or_create(
        locale="en",
        title="Greeting",
        defaults={"text": "Hi, this is {name} from the support team."},
    )
    console = operator_page
    console.goto(f"{live.base}/console/?status=waiting_for_human")
    open_shop(page, live, shop, customer=make_customer("Ada Lovelace"))
    widget = Widget(page)
    widget.open()
    widget.button("Talk to a human").click()
    widget.ask("My parcel never arrived")

    row = console.locator("tbody tr", has_text="Ada Lovelace")  # the queue refreshes itself
    row.get_by_text("My parcel never arrived").wait_for()
    screenshot(console, "console-conversations")
    row.get_by_role("link", name="Ada Lovelace").click()
    console.get_by_role("button", name="Take over").click()
    console.get_by_text("With a human").first.wait_for()

    joined = Message.objects.filter(role="system").last().content
    assert "Olga Ops" in joined
    widget.log.locator(".message.system", has_text=joined).wait_for()

    console.get_by_label("Canned response").select_option(label="Greeting")
    reply_box = console.get_by_label("Message to the customer")
    assert reply_box.input_value() == "Hi, this is Olga Ops from the support team."
    reply_box.press("End")
    reply_box.type(" Let me check your parcel.")
    console.get_by_role("button", name="Send reply").click()

    reply = "Hi, this is Olga Ops from the support team. Let me check your parcel."
    operator_bubble = widget.log.locator(".message.operator", has_text=reply)
    operator_bubble.wait_for()
    assert operator_bubble.locator(".author-name").inner_text() == "Olga Ops"
    screenshot(page, "widget-operator-reply")

    widget.ask("Thank you!")  # a person has the conversation: no reply from the assistant
    console.get_by_label("Transcript").get_by_text("Thank you!").wait_for()
    screenshot(console, "console-conversation")
    console.get_by_role("button", name="Hand back to the assistant").click()
    back = Message.objects.filter(role="system").last().content
    widget.log.locator(".message.system", has_text=back).wait_for()

    conversation = Conversation.objects.get()
    assert conversation.status == "bot" and conversation.assigned_to is None

    console.get_by_role("button", name="Close").click()
    widget.root.get_by_text("How did we do?").wait_for()  # the customer is asked for a rating
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    operator_message = conversation.messages.get(role="operator")
    assert (operator_message.content, operator_message.operator.username) == (reply, "olga")
    assert not conversation.messages.filter(role="assistant").exists()


def test_private_notes_stay_with_the_operators_and_labels_filter_the_queue(operator_page, live):
    english, chinese = make_customer("Ada Lovelace"), make_customer("王芳", locale="zh-hans")
    first = services.conversation_start(customer=english, visitor_id=uuid.uuid4(), locale="en")
    services.message_post_user(conversation=first, content="I want a refund")
    second = services.conversation_start(
        customer=chinese, visitor_id=uuid.uuid4(), locale="zh-hans"
    )
    services.message_post_user(conversation=second, content="我的包裹在哪里？")
    Conversation.objects.filter(pk=second.pk).update(flagged=True)

    console = operator_page
    console.goto(f"{live.base}/console/conversations/{first.public_id}/")
    console.get_by_label("New note").fill("Asked twice already; VIP.")
    console.get_by_role("button", name="Add note").click()
    console.locator(".notes").get_by_text("Asked twice already; VIP.").wait_for()
    console.get_by_label("Comma-separated").fill("refund, vip")
    console.get_by_role("button", name="Save labels").click()
    console.get_by_label("Comma-separated").fill("vip, Not A Label!")
    response = submit_and_capture(console, "Save labels")
    assert response.status == 400
    assert "is not one" in console.get_by_role("alert").inner_text()
    first.refresh_from_db()
    assert first.labels == ["refund", "vip"]

    session = httpx.post(
        f"{live.base}/api/chat/sessions",
        json={"identity_token": identity_token_create(external_id=english.external_id)},
    ).json()["session_token"]
    seen_by_customer = httpx.get(
        f"{live.base}/api/chat/conversations/{first.public_id}",
        headers={"Authorization": f"Bearer {session}"},
    ).text
    assert "I want a refund" in seen_by_customer and "VIP" not in seen_by_customer

    def listed(query: str) -> list[str]:
        console.goto(f"{live.base}/console/?{query}")
        return console.locator("tbody tr[data-conversation]").evaluate_all(
            "rows => rows.map((r) => r.dataset.conversation)"
        )

    assert listed("label=vip") == [str(first.public_id)]
    assert listed("locale=zh-hans") == [str(second.public_id)]
    assert listed("flagged=yes") == [str(second.public_id)]
    assert set(listed("")) == {str(first.public_id), str(second.public_id)}
    bad = console.goto(f"{live.base}/console/?status=lost")
    assert bad.status == 400
    assert "Unknown status 'lost'" in console.get_by_role("alert").inner_text()


def submit_and_capture(page, button: str):
    with page.expect_response(lambda r: r.request.method == "POST") as response:
        page.get_by_role("button", name=button).click()
    return response.value


def test_the_safety_review_queue_confirms_and_overturns_the_verdicts_of_a_flagged_chat(
    page, operator_page, live, shop
):
    open_shop(page, live, shop, customer=make_customer("Mallory"))
    widget = Widget(page)
    widget.open()
    widget.ask("I will find you and kill you, you worthless idiot")
    widget.ask("你们这些骗子都该死")
    refusals = Message.objects.filter(role="assistant").exclude(content="")
    assert widget.texts("assistant") == [m.content for m in refusals]
    conversation = Conversation.objects.get()
    assert conversation.flagged
    blocked = SafetyVerdict.objects.filter(
        conversation_id=conversation.pk, review_status="pending"
    ).order_by("pk")
    assert blocked.count() == 2

    console = operator_page
    console.goto(f"{live.base}/console/?flagged=yes")
    console.get_by_role("link", name="Mallory").wait_for()
    console.goto(f"{live.base}/console/safety/")
    screenshot(console, "console-safety")
    first, second = blocked
    console.locator(f"#review-{first.pk}").get_by_role("button", name="Confirm").click()
    console.locator(f"#review-{second.pk}").get_by_label(f"Note for verdict {second.pk}").fill(
        "A figure of speech"
    )
    console.locator(f"#review-{second.pk}").get_by_role(
        "button", name="Overturn: should allow"
    ).click()
    console.locator(f"#reviewed-{second.pk}").wait_for()
    assert console.locator(f"#review-{first.pk}, #review-{second.pk}").count() == 0

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.review_status, first.reviewed_by.username) == ("confirmed", "olga")
    assert (second.review_status, second.expected_action) == ("overturned", "allow")
    assert second.review_note == "A figure of speech"
    console.goto(f"{live.base}/console/conversations/{conversation.public_id}/")
    verdicts = console.locator("table.verdicts")
    for verdict in (first, second):
        row = verdicts.locator(f"#verdict-{verdict.pk}").inner_text()
        assert row.endswith(verdict.get_review_status_display())


def test_ide_usage_shows_the_acceptance_rate_per_user_and_language(operator_page, live):
    users = {name: get_user_model().objects.create(username=name) for name in ("alice", "bruno")}
    plan = {("alice", "python"): (3, 1), ("bruno", "go"): (2, 2)}  # completions, accepted
    for (name, language), (served, accepted) in plan.items():
        _, raw = api_token_create(user=users[name], name="editor")
        ide = httpx.Client(base_url=live.base, headers={"Authorization": f"Bearer {raw}"})
        for n in range(served):
            completion = ide.post(
                "/ide/v1/completions",
                json={"language": language, "segments": {"prefix": f"def f{n}(x):\n    return "}},
                timeout=120,
            ).json()
            ide.post("/ide/v1/events", json={"type": "view", "completion_id": completion["id"]})
            if n < accepted:
                ide.post(
                    "/ide/v1/events", json={"type": "select", "completion_id": completion["id"]}
                )

    console = operator_page
    console.goto(f"{live.base}/console/ide/?days=7")
    for (name, language), (served, accepted) in plan.items():
        row = console.locator(f'tr[data-user="{name}"][data-language="{language}"]')
        cells = row.locator("td").all_inner_texts()
        assert cells[2:5] == [str(served), str(served), str(accepted)]
        assert cells[5] == f"{accepted / served:.0%}"
    assert console.locator('[data-stat="rate"]').inner_text() == f"{3 / 5:.0%}"
    assert console.locator('[data-chart="ide-daily"] polyline').count() == 2
    screenshot(console, "console-ide")


def test_the_model_server_page_charts_throughput_queue_and_kv_cache_from_its_metrics(
    operator_page, live, demo_model
):
    console = operator_page
    console.goto(f"{live.base}/console/model/")
    console.locator('[data-model-state][data-up="true"]').wait_for()
    scraped = httpx.get(demo_model.url.removesuffix("/v1") + "/metrics").text
    blocks = re.search(r"^modelserver_kv_cache_blocks_total (\S+)$", scraped, re.M).group(1)
    assert console.locator('[data-metric="kv_cache_blocks_total"]').inner_text() == str(
        int(float(blocks))
    )

    httpx.post(
        f"{demo_model.url}/completions",
        json={"model": "demo", "prompt": "def add(a, b):\n", "max_tokens": 48},
        timeout=120,
    )
    console.wait_for_function(
        """() => parseFloat(document.querySelector('[data-metric="throughput"]').textContent) > 0""",
        timeout=20_000,
    )
    console.wait_for_function(
        """() => ["throughput", "queue", "kv"].every((chart) => {
            const line = document.querySelector(`[data-chart="${chart}"] polyline`);
            return line && line.getAttribute("points").split(" ").length >= 2;
        })""",
        timeout=10_000,
    )
    screenshot(console, "console-model")


def test_admins_edit_the_keyword_lists_and_operators_only_read_them(operator_page, browser, live):
    operator_page.goto(f"{live.base}/admin/safety/keywordterm/")
    operator_page.get_by_role("link", name="Keyword lists").wait_for()  # the console's navigation
    assert operator_page.get_by_role("link", name="Add keyword term").count() == 0

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    admin = context.new_page()
    console_login(
        admin, live, staff_user("root", admin=True), next_url="/admin/safety/keywordterm/"
    )
    admin.get_by_role("link", name="Add keyword term").click()
    admin.get_by_label("Term").fill("zorbleflux")
    admin.get_by_label("Language").select_option("en")
    admin.get_by_label("Category").select_option("spam")
    admin.get_by_role("button", name="Save", exact=True).click()
    admin.get_by_role("link", name="zorbleflux (spam, block)").wait_for()  # "was added"
    screenshot(admin, "console-keywords")
    context.close()
    operator_page.goto(f"{live.base}/admin/safety/keywordterm/?q=zorbleflux")
    assert operator_page.get_by_role("link", name="zorbleflux", exact=True).count() == 1
    term = KeywordTerm.objects.get(term="zorbleflux")
    assert (term.language, term.category, term.action) == ("en", "spam", "block")
