import pytest

from safety.benign import benign_messages
from safety.curate import read_tsv
from safety.datasets import load_all
from safety.policy import run_keywords


def test_the_split_is_seeded_and_reported_rows_are_never_trained_on():
    first, second = load_all(), load_all()
    assert [(r.text, r.split) for r in first] == [(r.text, r.split) for r in second]
    train = {(r.text, r.context) for r in first if r.split == "train"}
    dev = [r for r in first if r.split == "dev"]
    assert len(dev) > 10000
    overlap = [r for r in dev if (r.text, r.context) in train]
    assert len(overlap) < 0.01 * len(dev)  # upstream duplicates only


def test_benign_dev_messages_come_from_templates_never_trained_on():
    rows = benign_messages(per_template=8)
    train_templates = {r["template"] for r in rows if r["split"] == "train"}
    dev_templates = {r["template"] for r in rows if r["split"] == "dev"}
    test_texts = {r["text"] for r in rows if r["split"] == "test"}
    assert dev_templates and not train_templates & dev_templates
    assert len(test_texts) > 400
    assert not test_texts & {r["text"] for r in rows if r["split"] != "test"}


def test_every_curated_term_has_a_known_category_and_action():
    from safety.models import KeywordTerm

    rows = read_tsv()
    assert len(rows) > 1000
    assert {r["category"] for r in rows} <= set(KeywordTerm.Category.values)
    assert {r["action"] for r in rows} <= set(KeywordTerm.Action.values)
    assert {r["language"] for r in rows} == {"en", "zh"}


@pytest.mark.django_db
def test_no_benign_customer_message_is_blocked_or_escalated_by_the_keyword_tier():
    stopped = [
        r["text"]
        for r in benign_messages(per_template=8)
        if run_keywords(r["text"]).action in ("block", "escalate")
    ]
    assert stopped == []
