"""Consent, and what a fine-tuning dataset may hold: only consenting customers' dialogues from
after they consented, no personal data, one unit per customer."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from assistant.chat.identity import WidgetSession, session_token_create
from assistant.conversations import services as conversations
from assistant.conversations.models import Conversation
from assistant.finetune import services
from assistant.finetune.models import Dataset, FineTuneJob, TrainingConsent
from assistant.shop.errors import InvalidInput, InvalidTransition
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

NOTICE = "2026-12"


def chat(customer, user: str, reply: str, *, tool: dict | None = None) -> Conversation:
    """A past conversation: the customer's words, maybe a tool call and its result, a reply."""
    messages = [{"role": "user", "content": user}]
    if tool:
        call = {"id": "call_1", "type": "function", "function": tool}
        messages += [
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"status":"shipped"}'},
        ]
    messages.append({"role": "assistant", "content": reply})
    return conversations.conversation_record(customer=customer, messages=messages)


def dataset_text(dataset: Dataset) -> str:
    return json.dumps([u.dialogues for u in dataset.units.all()], ensure_ascii=False) + "".join(
        u.system_prompt for u in dataset.units.all()
    )


def test_only_consenting_customers_conversations_since_consent_enter_a_dataset():
    yes, no = make_customer("Grace Hopper"), make_customer("Alan Turing")
    old = chat(yes, "Before I agreed", "Noted.")
    Conversation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    services.consent_grant(customer=yes, notice_version=NOTICE)
    chat(yes, "Where is order 100200?", "It shipped.")
    chat(no, "Where is order 100300?", "It shipped.")
    dataset = services.dataset_create(name="december")
    text = dataset_text(dataset)
    assert "100200" in text
    assert "100300" not in text and "Before I agreed" not in text
    assert dataset.stats["customers"] == 1 and dataset.stats["dialogues"] == 1
    assert dataset.stats["notice_versions"] == {NOTICE: 1}


def test_no_personal_data_reaches_a_dataset():
    customer = make_customer("Grace Hopper")
    services.consent_grant(customer=customer, notice_version=NOTICE)
    chat(
        customer,
        "Hi, I'm Grace Hopper, mail me at grace@navy.example or call +44 7700 900123; "
        "card 4111 1111 1111 1111. 我的身份证 11010519491231002X",
        "Thanks Grace, I will email grace@navy.example.",
        tool={"name": "order_lookup", "arguments": '{"order_number": "100200"}'},
    )
    dataset = services.dataset_create(name="pii")
    text = dataset_text(dataset)
    for secret in ("Grace", "Hopper", "grace@navy.example", "7700 900123", "4111", "11010519"):
        assert secret not in text
    assert "[NAME]" in text and "[EMAIL]" in text and "100200" in text
    assert dataset.stats["redactions"]["name"] >= 2
    assert "the customer" in dataset.units.get().system_prompt


def test_each_customer_is_one_unit_with_a_capped_number_of_dialogues():
    busy, quiet = make_customer("Busy Bee"), make_customer("Quiet Mouse")
    for c in (busy, quiet):
        services.consent_grant(customer=c, notice_version=NOTICE)
    for i in range(7):
        chat(busy, f"Question {i}", "Answer.")
    chat(quiet, "One question", "One answer.")
    dataset = services.dataset_create(name="cap", max_dialogues_per_customer=5)
    sizes = sorted(len(u.dialogues) for u in dataset.units.all())
    assert sizes == [1, 5]
    assert dataset.stats["customers_capped"] == 1
    assert len({u.unit for u in dataset.units.all()}) == 2
    assert not any(str(busy.pk) == u.unit for u in dataset.units.all())


def test_a_revoked_consent_retires_datasets_and_leaves_future_ones():
    a, b = make_customer("Ann Smith"), make_customer("Bob Jones")
    for c in (a, b):
        services.consent_grant(customer=c, notice_version=NOTICE)
        chat(c, "Where is my parcel?", "On its way.")
    old = services.dataset_create(name="before")
    assert services.consent_revoke(customer=a) == 1
    old.refresh_from_db()
    assert old.retired_at is not None and old.units.count() == 1
    with pytest.raises(InvalidInput, match="retired"):
        services.job_create(dataset=old)
    assert services.dataset_create(name="after").stats["customers"] == 1
    assert TrainingConsent.objects.get(customer=a).revoked_at is not None


def test_consent_is_to_the_current_notice_and_idempotent():
    customer = make_customer()
    with pytest.raises(InvalidInput, match="current notice"):
        services.consent_grant(customer=customer, notice_version="2020-01")
    first = services.consent_grant(customer=customer, notice_version=NOTICE)
    assert services.consent_grant(customer=customer, notice_version=NOTICE) == first


def test_a_job_needs_a_sane_privacy_budget(settings, tmp_path):
    settings.FINETUNE_DIR = tmp_path
    for i in range(3):
        c = make_customer(f"Person {i}")
        services.consent_grant(customer=c, notice_version=NOTICE)
        chat(c, "Hello", "Hi.")
    dataset = services.dataset_create(name="budget")
    for bad in ({"epsilon": 0}, {"epsilon": "3"}, {"epochs": 0}, {"delta": 0.5}):
        with pytest.raises(InvalidInput):
            services.job_create(dataset=dataset, **bad)
    job = services.job_create(dataset=dataset)
    assert job.delta == pytest.approx(1e-5) and job.delta < 1 / 3
    assert services.job_cancel(job=job).status == FineTuneJob.Status.CANCELLED
    with pytest.raises(InvalidTransition):
        services.job_cancel(job=job)
    with pytest.raises(InvalidTransition, match="only a succeeded job"):
        services.job_deploy(job=job)


def test_the_chat_api_lets_a_signed_in_customer_give_and_withdraw_consent(client):
    customer = make_customer()
    token = session_token_create(session=WidgetSession(visitor_id=uuid.uuid4(), customer=customer))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = "/api/chat/consent"
    assert client.get(url, **auth).json()["granted"] is False
    bad = client.put(url, {"granted": True}, content_type="application/json", **auth)
    assert bad.status_code == 400 and NOTICE in bad.json()["error"]["message"]
    wrong_type = client.put(url, {"granted": "yes"}, content_type="application/json", **auth)
    assert wrong_type.status_code == 400
    ok = client.put(
        url, {"granted": True, "notice_version": NOTICE}, content_type="application/json", **auth
    )
    assert ok.status_code == 200 and ok.json()["granted"] is True
    off = client.put(url, {"granted": False}, content_type="application/json", **auth)
    assert off.json()["granted"] is False

    anonymous = session_token_create(session=WidgetSession(visitor_id=uuid.uuid4(), customer=None))
    denied = client.get(url, HTTP_AUTHORIZATION=f"Bearer {anonymous}")
    assert denied.status_code == 403 and "signed-in" in denied.json()["error"]["message"]
