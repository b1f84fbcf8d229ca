import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from safety.models import KeywordTerm, SafetyVerdict
from safety.policy import run_keywords
from safety.selectors import overturned_examples, review_queue
from safety.services import SafetyError, verdict_review

pytestmark = pytest.mark.django_db


def make_verdict(**kwargs):
    fields = {
        "direction": "input",
        "text_sha256": "0" * 64,
        "excerpt": "this shit is [PHONE]",
        "action": "block",
        "tier": "classifier",
        "review_status": "pending",
        "language": "en",
    }
    return SafetyVerdict.objects.create(**{**fields, **kwargs})


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("op", "op@example.com", "pw-123456789")
    client.force_login(user)
    return user


def test_the_review_queue_lists_pending_verdicts_oldest_first():
    first, second = make_verdict(), make_verdict()
    make_verdict(review_status="not_needed", action="allow")
    assert list(review_queue()) == [first, second]


def test_an_operator_overturns_a_block_in_the_admin_and_it_becomes_training_data(client, operator):
    verdict = make_verdict()
    url = reverse("admin:safety_safetyverdict_changelist")
    page = client.get(url, {"queue": "pending"})
    assert page.status_code == 200 and b"this shit is [PHONE]" in page.content
    response = client.post(url, {"action": "overturn_to_allow", "_selected_action": [verdict.pk]})
    assert response.status_code == 302
    verdict.refresh_from_db()
    assert verdict.review_status == "overturned"
    assert verdict.expected_action == "allow"
    assert verdict.reviewed_by == operator
    [row] = overturned_examples()
    assert row == {
        "text": "this shit is [PHONE]",
        "unsafe": 0,
        "lang": "en",
        "direction": "input",
        "context": "",
        "source": f"review:{verdict.pk}",
        "verdict_action": "block",
        "expected_action": "allow",
        "tier": "classifier",
    }


def test_confirming_a_verdict_takes_it_out_of_the_queue(client, operator):
    verdict = make_verdict()
    client.post(
        reverse("admin:safety_safetyverdict_changelist"),
        {"action": "confirm", "_selected_action": [verdict.pk]},
    )
    verdict.refresh_from_db()
    assert verdict.review_status == "confirmed"
    assert not review_queue().exists()
    assert overturned_examples() == []


def test_overturning_to_the_same_action_is_refused(operator):
    with pytest.raises(SafetyError, match="different action"):
        verdict_review(
            verdict=make_verdict(), reviewer=operator, confirm=False, expected_action="block"
        )


def test_the_export_command_writes_overturned_verdicts_as_jsonl(tmp_path, operator):
    verdict_review(
        verdict=make_verdict(action="allow", review_status="not_needed"),
        reviewer=operator,
        confirm=False,
    )
    out = tmp_path / "reviews.jsonl"
    call_command("safety_export_reviews", out=out)
    [line] = out.read_text().splitlines()
    assert json.loads(line)["unsafe"] == 1


def test_the_admin_download_action_returns_jsonl(client, operator):
    verdict_review(verdict=make_verdict(), reviewer=operator, confirm=False)
    response = client.post(
        reverse("admin:safety_safetyverdict_changelist"),
        {"action": "export_overturned", "_selected_action": [SafetyVerdict.objects.first().pk]},
    )
    assert response["Content-Type"].startswith("application/jsonl")
    assert json.loads(response.content.decode().splitlines()[0])["expected_action"] == "allow"


def test_a_keyword_added_in_the_admin_takes_effect_at_once(client, operator):
    assert run_keywords("the blorptastic offer").action == "allow"
    response = client.post(
        reverse("admin:safety_keywordterm_add"),
        {
            "term": "Blorptastic",
            "language": "en",
            "category": "spam",
            "severity": 2,
            "action": "block",
            "match": "auto",
            "enabled": "on",
            "source": "operator",
            "note": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert KeywordTerm.objects.get(term="Blorptastic").normalized == "blorptastic"
    assert run_keywords("the blorptastic offer").action == "block"


def test_the_constitution_is_seeded_with_examples_of_both_kinds():
    from safety.models import Principle

    codes = set(Principle.objects.values_list("code", flat=True))
    assert {"no-unauthorised-commitments", "no-other-customers-data", "honest-about-ai"} <= codes
    for principle in Principle.objects.all():
        kinds = set(principle.examples.values_list("kind", flat=True))
        assert kinds == {"violation", "acceptable"}, principle.code
