"""The demo model's corpus: deterministic, valid tool calls, grounded answers, held-out phrasings."""

from __future__ import annotations

import json
import random
import re
import uuid
from pathlib import Path

import jsonschema
import pytest

from assistant.agent import spec
from assistant.agent.tools import ToolContext, run_tool
from assistant.conversations.models import Message
from assistant.conversations.services import conversation_start
from modelserver.demo import corpus, phrases
from modelserver.demo.fim import fim_samples, source_files
from tests.factories import make_customer

SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in spec.TOOLS}


@pytest.fixture(scope="module")
def training() -> list[corpus.Dialogue]:
    return corpus.dialogues(0, 600)


def test_the_corpus_is_the_same_for_the_same_seed_and_differs_for_another():
    first = [d.to_json() for d in corpus.dialogues(7, 30)]
    assert first == [d.to_json() for d in corpus.dialogues(7, 30)]
    assert first != [d.to_json() for d in corpus.dialogues(8, 30)]


def test_every_tool_call_matches_its_tool_schema_and_the_evaluation_key(training):
    calls = 0
    for d in training + corpus.dialogues(0, 200, "held_out") + corpus.dialogues(0, 200, "test"):
        checks = {c["index"]: c for c in d.checks}
        for i, m in enumerate(d.messages):
            for call in m.get("tool_calls") or []:
                arguments = json.loads(call["function"]["arguments"])
                jsonschema.validate(arguments, SCHEMAS[call["function"]["name"]])
                assert checks[i]["tool"] == call["function"]["name"]
                assert checks[i]["arguments"] == arguments
                assert d.messages[i + 1]["role"] == "tool"
                calls += 1
    assert calls > 500


def test_all_languages_and_intents_occur(training):
    assert {d.lang for d in training} == {"en", "zh", "mixed"}
    intents = {c["intent"] for d in training for c in d.checks}
    assert set(corpus.MAIN_INTENTS) <= intents


def test_some_customers_write_in_another_language_than_their_account_and_are_answered_in_it(
    training,
):
    other = [d for d in training if phrases.base_lang(d.lang) != d.customer.lang]
    assert 0.04 < len(other) / len(training) < 0.2
    assert {d.customer.lang for d in other} == {"en", "zh"}
    for d in other:
        for m in d.messages:
            if m["role"] == "assistant" and m["content"] and d.lang != "en":
                assert re.search(r"[\u4e00-\u9fff]", m["content"]), m["content"]


def test_some_conversations_open_a_return_after_another_request_and_only_in_training(training):
    def late_returns(dialogues):
        return [
            d
            for d in dialogues
            if any(
                c.get("tool") == "return_create" and c["intent"] == "return_open" for c in d.checks
            )
            and any("tool" in c and c["intent"] != "return_open" for c in d.checks)
        ]

    assert len(late_returns(training)) > 0.02 * len(training)
    assert not late_returns(corpus.dialogues(0, 300, "held_out"))


def test_a_return_asked_for_in_a_follow_up_is_opened_for_the_conversations_order(training):
    """After "Can I return it?" the customer's "Yes please, return it" is a return_create for
    the order already checked, with no second eligibility check; otherwise it checks first."""
    opened = 0
    for d in training + corpus.dialogues(0, 300, "held_out"):
        checks = [c for c in d.checks if c["intent"] == "return_open_followup"]
        if not checks:
            continue
        calls = [c for c in checks if "tool" in c]
        earlier = [c for c in d.checks if "tool" in c and c["index"] < checks[0]["index"]]
        number = earlier[0]["arguments"]["order_number"]
        assert all(c["arguments"]["order_number"] == number for c in calls)
        already_checked = any(
            c["tool"] == "return_eligibility" and c["arguments"]["order_number"] == number
            for c in earlier
        )
        assert (calls[:1] and calls[0]["tool"]) == (
            "return_create" if already_checked else "return_eligibility"
        ) or not calls
        opened += any(c["tool"] == "return_create" for c in calls)
    assert opened > 5


def test_answers_after_a_tool_result_quote_its_facts(training):
    """The evaluation's groundedness check is satisfiable: references contain their facts."""
    checked = 0
    for d in training:
        for check in d.checks:
            if check.get("facts"):
                content = d.messages[check["index"]]["content"]
                assert all(fact in content for fact in check["facts"]), (check, content)
                checked += 1
    assert checked > 300


def test_eligibility_results_give_every_reason_the_shop_gives(training):
    # Before delivered demo orders had returned items, the corpus never showed the last two, and
    # the model answered an open return with "has not been delivered yet".
    reasons = [
        item["reason"]
        for dialogue in training
        for message in dialogue.messages
        if message["role"] == "tool" and '"window_days"' in message["content"]
        for item in json.loads(message["content"])["items"]
    ]
    for rule in [
        "was cancelled, so there is nothing to return.",
        "has not been delivered yet",
        "which the return policy excludes.",
        "-day return window for",
        "already has an open return, RMA-",
        "has already been returned.",
        "can be returned until",
    ]:
        assert sum(rule in reason for reason in reasons) >= 5, rule


def test_someone_elses_order_is_not_found_and_the_reply_confirms_nothing(training):
    seen = 0
    for d in training:
        for check in d.checks:
            if check["intent"] in ("other_customer", "injection_order") and "tool" in check:
                result = json.loads(d.messages[check["index"] + 1]["content"])
                assert result["error"]["code"] == "not_found"
                reply = d.messages[check["index"] + 2]["content"]
                assert "couldn't find" in reply or "没有找到" in reply
                assert "status" not in reply
                seen += 1
    assert seen > 10


def test_unsafe_requests_are_refused_without_a_tool(training):
    for d in training:
        for check in d.checks:
            if check["intent"] in corpus.UNSAFE:
                assert "tool" not in check
                assert any(m in d.messages[check["index"]]["content"] for m in ("Sorry", "抱歉"))


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{\w+\}", template)
    return re.compile(".*".join(re.escape(p) for p in parts), re.IGNORECASE | re.DOTALL)


def test_held_out_phrasings_never_occur_in_training(training):
    held_out = []
    for intent, by_lang in phrases.INTENTS.items():
        for templates in by_lang.values():
            for split in phrases.HELD_OUT:
                assert templates[split], intent
                assert not set(templates[split]) & set(templates["train"])
                held_out += templates[split]
    patterns = [_pattern(t) for t in held_out]
    users = [m["content"] for d in training for m in d.messages if m["role"] == "user"]
    for text in users:
        for template, pattern in zip(held_out, patterns, strict=True):
            assert not pattern.search(text), (template, text)


def test_training_messages_vary_their_templates(training):
    users = [m["content"] for d in training for m in d.messages if m["role"] == "user"]
    assert len(set(users)) > 0.8 * len(users)
    assert any("pls" in u or " u " in u for u in users)  # slang
    code_switched = [
        u
        for u in users
        if re.search(r"[\u4e00-\u9fff]", u) and re.search(r"order|status|return|tracking", u)
    ]
    assert len(code_switched) > 20


def test_a_chinese_typing_slip_changes_one_place_and_never_a_slot():
    template = "麻烦帮我查一下订单{order}里的{item}到哪了"
    rng = random.Random(5)
    slipped = {phrases._zh_slip(template, rng) for _ in range(300)}
    assert len(slipped) > 30
    for text in slipped:
        assert text.count("{order}") == text.count("{item}") == 1
        if len(text) < len(template):  # a character left out
            assert text in {template[:i] + template[i + 1 :] for i in range(len(template))}
        else:  # a character doubled or a filler of one or two characters put in
            extra = len(text) - len(template)
            assert extra in (1, 2)
            assert template in {text[:i] + text[i + extra :] for i in range(len(text))}
    assert phrases._zh_slip("你好", rng) == "你好"


def test_decision_drills_end_at_their_intents_last_call_or_refusal_and_cover_every_tool():
    rng = random.Random(3)
    customer = corpus.world.make_customer(rng, "en")
    drills = corpus.decision_turns(rng, customer, corpus.DRILL_INTENTS, 300)
    for d in drills:
        last = d.messages[-1]
        assert d.checks[-1]["index"] == len(d.messages) - 1
        if d.checks[-1]["intent"] in corpus.UNSAFE:
            assert last["role"] == "assistant" and not last.get("tool_calls")
            assert not any(m.get("tool_calls") for m in d.messages)
        elif d.checks[-1]["intent"] == "return_open_followup" and "tool" not in d.checks[-1]:
            # the conversation has checked the order: nothing to call for an item it can't return
            assert "cannot be returned" in last["content"] or "不能退货" in last["content"]
        else:
            assert last["role"] == "assistant" and last["tool_calls"]
            assert "tool" in d.checks[-1]
    tools = {c["tool"] for d in drills for c in d.checks if "tool" in c}
    assert tools == set(SCHEMAS) - {"code_complete"}
    assert {d.checks[-1]["intent"] for d in drills} >= corpus.UNSAFE
    returns = corpus.decision_turns(rng, customer, ["return_open"], 150)
    reasons = {
        c["arguments"]["reason"]
        for d in returns
        for c in d.checks
        if c.get("tool") == "return_create"
    }
    assert reasons == set(spec.RETURN_REASONS)


def test_a_thanks_drill_closes_some_request_with_thanks_and_ends_at_the_answer():
    rng = random.Random(4)
    customer = corpus.world.make_customer(rng, "zh")
    drills = corpus.decision_turns(rng, customer, corpus.intent_list("thanks"), 40)
    for d in drills:
        assert d.checks[-1]["intent"] == "thanks"
        assert d.messages[-1]["role"] == "assistant" and not d.messages[-1].get("tool_calls")
        assert d.checks[-1]["index"] == len(d.messages) - 1
    # the thanks close many kinds of conversation, not one
    assert len({d.checks[0]["intent"] for d in drills}) > 5


def test_rendered_examples_are_prompt_and_target_in_the_serving_format():
    d = corpus.dialogues(0, 1)[0]
    for prompt, target in corpus.examples(d):
        assert prompt.endswith("<think>\n")
        assert target.startswith("\n</think>\n\n") and target.endswith("<｜end▁of▁sentence｜>")


def test_fim_samples_are_contiguous_pieces_of_files_held_out_or_not():
    train_files, held_out = source_files("train"), source_files("held_out")
    assert train_files and held_out and not set(train_files) & set(held_out)
    for sample in fim_samples(random.Random(0), 20, "held_out"):
        assert Path(sample.path) in held_out
        text = Path(sample.path).read_text(encoding="utf-8")
        assert sample.prefix + sample.middle + sample.suffix in text
        assert sample.middle.endswith("\n") and sample.middle.strip()


def test_composed_requests_fill_the_slots_of_their_intent_and_are_never_a_held_out_phrasing():
    rng = random.Random(5)
    held_out = [
        _pattern(t)
        for by_lang in phrases.INTENTS.values()
        for templates in by_lang.values()
        for split in phrases.HELD_OUT
        for t in templates[split]
    ]
    for intent in sorted(phrases.COMPOSED):  # a set: sorted, so the draws are the same each run
        for lang in ("en", "zh", "mixed"):
            slots = {
                frozenset(re.findall(r"\{\w+\}", t))
                for t in phrases.templates(intent, lang, "train")
            }
            texts = {phrases.composed(intent, lang, rng) for _ in range(300)}
            assert len(texts) > 10, intent  # varied, not one sentence
            for text in texts:
                assert frozenset(re.findall(r"\{\w+\}", text)) in slots, (intent, text)
                assert not any(p.search(text) for p in held_out), (intent, text)


@pytest.mark.django_db
def test_a_number_not_on_the_account_gets_the_tool_result_the_shop_returns():
    customer = make_customer()
    conversation = conversation_start(customer=customer, visitor_id=uuid.uuid4())
    for kind, tool, argument, number in [
        ("order", "order_lookup", "order_number", "987654"),
        ("return", "return_status", "rma_number", "RMA-987654-1"),
    ]:
        served = run_tool(
            ctx=ToolContext(customer=customer, conversation=conversation),
            message=Message.objects.create(conversation=conversation, role="assistant"),
            call_id="call_1",
            name=tool,
            arguments=json.dumps({argument: number}),
        )
        assert served.result == corpus.world.not_found(kind, number)
