"""The demo model's corpus: customer-service dialogues plus fill-in-the-middle code, deterministic
from a seed.

A dialogue is OpenAI-style `messages` (system prompt and tools from `assistant.agent.spec`, tool
results in its JSON shapes) plus `checks`: for each assistant message, what the evaluation
expects there. Training renders every assistant message as one example with the serving template
(`modelserver.chat.template.render_chat`): the prompt is the conversation so far with the
generation prompt (`<｜Assistant｜><think>\\n`), the target is what the model must write next, an
empty thought then the tool calls or the answer: `\\n</think>\\n\\n…<｜end▁of▁sentence｜>`
(`render_reply`, which the server's output parser reads back).

`python -m modelserver demo-corpus --out corpus.jsonl` writes the dialogues for inspection.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from assistant.agent import spec
from modelserver.chat.template import render_chat, render_fim, render_reply
from modelserver.chat.tokenizer import EOS
from modelserver.demo import answers, phrases, world
from modelserver.demo.fim import fim_samples

# A customer writes English, or Chinese with some conversations code-switched (mixed).
LOCALES = [("en", 0.5), ("zh", 0.5)]
ZH_LANGS = [("zh", 0.7), ("mixed", 0.3)]
# Some training conversations are in the other language than the customer's account (whose
# product names stay in the account's language): the language of the reply follows the words.
OTHER_LANGUAGE = 0.1
# Some training conversations go on to a return after their first request: a model that saw
# returns only as the first request checked eligibility there and never opened one.
RETURN_AFTER = 0.12
# Conversations per customer: they share the system prompt, which training computes once.
GROUP = 12
MAIN_INTENTS = {  # relative frequency of a dialogue's main request
    "order_status": 14,
    "recent_orders": 5,
    "track": 14,
    "return_check": 8,
    "return_open": 12,
    "return_status_rma": 7,
    "return_status_recent": 4,
    "handoff": 6,
    "other_customer": 5,
    "injection_order": 4,
    "injection_refuse": 4,
    "harmful": 5,
    "greeting": 2,
    "bot": 3,
    "policy": 4,
}
# Which tool each main intent's first step calls (None: answer directly).
FIRST_TOOL = {
    "order_status": "order_lookup",
    "recent_orders": "order_lookup",
    "track": "shipment_track",
    "return_check": "return_eligibility",
    "return_open": "return_eligibility",
    "return_status_rma": "return_status",
    "return_status_recent": "return_status",
    "handoff": "handoff_to_human",
    "other_customer": "order_lookup",
    "injection_order": "order_lookup",
    "injection_refuse": None,
    "harmful": None,
    "greeting": None,
    "thanks": None,
    "bot": None,
    "policy": None,
}
UNSAFE = {"injection_refuse", "harmful"}
# Requests about the order a conversation is already about, without its number; they follow
# one of FOLLOWED.
FOLLOW_UPS = ["track_followup", "return_check_followup", "return_open_followup"]
FOLLOWED = ["order_status", "track", "return_check"]


@dataclass
class Dialogue:
    lang: str
    customer: world.Customer
    messages: list[dict]
    # One per assistant message: {"index", "intent", "tool", "arguments"} for a tool call, or
    # {"index", "intent", "facts"} for an answer (strings it must contain).
    checks: list[dict] = field(default_factory=list)
    order: world.Order | None = None  # the order the conversation is about, for follow-ups

    def to_json(self) -> dict:
        return {"lang": self.lang, "messages": self.messages, "checks": self.checks}


class _Builder:
    def __init__(self, rng: random.Random, customer: world.Customer, lang: str, split: str) -> None:
        self.rng, self.customer, self.lang, self.split = rng, customer, lang, split
        system = {"role": "system", "content": self.customer.system_prompt()}
        self.d = Dialogue(lang, self.customer, [system])
        self.calls = 0
        self.checked: dict[str, dict] = {}  # order number -> its eligibility result

    def user(self, intent: str, naming_item: bool = False, **slots: str) -> None:
        """A customer message of `intent`; `naming_item`: only templates with an {item} slot."""
        choices = phrases.templates(intent, self.lang, self.split)
        if naming_item:
            choices = [t for t in choices if "{item}" in t]
        template = self.rng.choice(choices)
        if self.split == "train" and intent in phrases.COMPOSED and self.rng.random() < 0.5:
            template = phrases.composed(intent, self.lang, self.rng)
        if self.split == "train":
            text = phrases.vary(template, self.lang, self.rng)
        elif self.lang == "mixed":
            text = phrases.code_switch(template, self.rng)
        else:
            text = template
        self.d.messages.append({"role": "user", "content": text.format(**slots)})

    def call(self, intent: str, name: str, arguments: dict, result: dict) -> None:
        self.calls += 1
        call_id = f"call_{self.calls}"
        function = {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}
        self.d.checks.append(
            {"index": len(self.d.messages), "intent": intent, "tool": name, "arguments": arguments}
        )
        self.d.messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": call_id, "type": "function", "function": function}],
            }
        )
        self.d.messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": spec.tool_result_text(result)}
        )

    def answer(self, intent: str, text: str, facts: list[str]) -> None:
        self.d.checks.append({"index": len(self.d.messages), "intent": intent, "facts": facts})
        self.d.messages.append({"role": "assistant", "content": text})

    def ref(self, number: str) -> str:
        return phrases.order_ref(number, self.lang, self.rng)

    # --- episodes: one customer request and the assistant's handling of it ---

    def order_status(self) -> None:
        order = world.make_order(self.rng, self.customer)
        self.user("order_status", order=self.ref(order.number))
        if self.rng.random() < 0.1:  # a mistyped number: the tool says so, and so do we
            self.call(
                "order_status",
                "order_lookup",
                {"order_number": order.number},
                world.not_found("order", order.number),
            )
            self.answer("order_status", answers.not_found(order.number, self.lang), [order.number])
            return
        result = world.order_result(order)
        self.call("order_status", "order_lookup", {"order_number": order.number}, result)
        facts = [order.number, order.status] + [p.tracking_number for p in order.parcels]
        self.answer("order_status", answers.order(result, self.lang), facts)
        self.d.order = order

    def recent_orders(self) -> None:
        orders = [world.make_order(self.rng, self.customer) for _ in range(self.rng.randint(0, 4))]
        self.user("recent_orders")
        result = world.recent_orders_result(orders)
        self.call("recent_orders", "order_lookup", {}, result)
        facts = [x for o in orders[:1] for x in (o.number, o.status)]
        self.answer("recent_orders", answers.recent_orders(result, self.lang), facts)

    def _track(self, intent: str, order: world.Order) -> None:
        result = world.track_result(order)
        self.call(intent, "shipment_track", {"order_number": order.number}, result)
        facts = [order.number] + [x for p in order.parcels for x in (p.tracking_number, p.status)]
        self.answer(intent, answers.track(result, self.lang), facts or [order.status])

    def track(self) -> None:
        status = self.rng.choice(
            ["shipped", "shipped", "shipped", "delivered", "processing", "paid"]
        )
        order = world.make_order(self.rng, self.customer, status=status)
        self.user("track", order=self.ref(order.number))
        self._track("track", order)
        self.d.order = order

    def _eligibility(self, intent: str, order: world.Order) -> dict:
        result = world.eligibility_result(order, self.customer)
        self.call(intent, "return_eligibility", {"order_number": order.number}, result)
        self.checked[order.number] = result
        return result

    def _eligibility_answer(self, intent: str, order: world.Order, result: dict) -> None:
        facts = [order.number] + [i["deadline"] for i in result["items"] if i["eligible"]]
        self.answer(intent, answers.eligibility(result, self.lang), facts)

    def return_check(self) -> None:
        status = self.rng.choice(["delivered"] * 4 + ["shipped", "cancelled"])
        order = world.make_order(self.rng, self.customer, status=status)
        self.user("return_check", order=self.ref(order.number))
        self._eligibility_answer("return_check", order, self._eligibility("return_check", order))
        self.d.order = order

    def return_open(self) -> None:
        self._open_return(
            "return_open", world.make_order(self.rng, self.customer, status="delivered")
        )

    def _open_return(self, intent: str, order: world.Order) -> None:
        """The customer asks to return one item of `order` (by number unless it is a follow-up):
        check its eligibility unless this conversation has, then open the return or say why not."""
        target = self.rng.choice(order.items)
        reason = self.rng.choice(spec.RETURN_REASONS)
        why = self.rng.choice(phrases.WHY[reason][phrases.base_lang(self.lang)])
        self.user(
            intent,
            naming_item=len(order.items) > 1,
            order=self.ref(order.number),
            item=target.name,
            why=why,
            Why=why[:1].upper() + why[1:],
        )
        result = self.checked.get(order.number) or self._eligibility(intent, order)
        rows = {row["sku"]: row for row in result["items"]}
        row = rows[target.sku]
        if not row["eligible"]:
            self.answer(intent, answers.not_returnable(row, self.lang), [row["reason"]])
            return
        arguments: dict = {"order_number": order.number, "reason": reason}
        if sum(r["eligible"] for r in rows.values()) > 1:  # the tool wants items only then
            arguments["items"] = [{"sku": target.sku, "quantity": row["returnable_quantity"]}]
        earlier = any(i.open_rma or i.returned for i in order.items)  # that return was -1
        ret = world.Return(
            f"RMA-{order.number}-{1 + earlier}",
            order,
            "requested",
            reason,
            [target],
            self.customer.today,
        )
        created = world.return_create_result(ret)
        self.call(intent, "return_create", arguments, created)
        self.answer(
            intent, answers.return_created(created, self.lang), [ret.rma_number, "requested"]
        )

    def return_status_rma(self) -> None:
        ret = world.make_return(self.rng, self.customer)
        self.user("return_status_rma", rma=ret.rma_number)
        if self.rng.random() < 0.15:
            self.call(
                "return_status_rma",
                "return_status",
                {"rma_number": ret.rma_number},
                world.not_found("return", ret.rma_number),
            )
            self.answer(
                "return_status_rma",
                answers.not_found(ret.rma_number, self.lang, "return"),
                [ret.rma_number],
            )
            return
        result = world.return_status_result(ret)
        self.call("return_status_rma", "return_status", {"rma_number": ret.rma_number}, result)
        self.answer(
            "return_status_rma",
            answers.return_status(result, self.lang),
            [ret.rma_number, ret.status],
        )

    def return_status_recent(self) -> None:
        rets = [world.make_return(self.rng, self.customer) for _ in range(self.rng.randint(0, 3))]
        self.user("return_status_recent")
        result = {"returns": [world.return_status_result(r) for r in rets]}
        self.call("return_status_recent", "return_status", {}, result)
        facts = [x for r in rets[:1] for x in (r.rma_number, r.status)]
        self.answer("return_status_recent", answers.return_status(result, self.lang), facts)

    def handoff(self) -> None:
        self.user("handoff")
        self.call(
            "handoff", "handoff_to_human", {"reason": answers.HANDOFF_REASON}, world.HANDOFF_RESULT
        )
        self.answer("handoff", answers.handoff(self.lang), [])

    def _someone_elses(self, intent: str) -> None:
        number = world.order_number(self.rng)
        self.user(intent, order=self.ref(number))
        self.call(
            intent, "order_lookup", {"order_number": number}, world.not_found("order", number)
        )
        self.answer(intent, answers.not_found(number, self.lang), [number])

    def other_customer(self) -> None:
        self._someone_elses("other_customer")

    def injection_order(self) -> None:
        self._someone_elses("injection_order")

    def injection_refuse(self) -> None:
        self.user("injection_refuse")
        self.answer("injection_refuse", answers.INJECTION_REFUSAL[phrases.base_lang(self.lang)], [])

    def harmful(self) -> None:
        self.user("harmful")
        self.answer("harmful", answers.REFUSAL[phrases.base_lang(self.lang)], [])

    def chat(self, intent: str) -> None:
        self.user(intent)
        facts = [str(self.customer.window_days)] if intent == "policy" else []
        self.answer(intent, answers.smalltalk(intent, self.lang, self.customer), facts)

    def follow_up(self, kind: str | None = None) -> None:
        """A request about the same order without its number (one of FOLLOW_UPS): the model must
        carry the number over. After an eligibility check the customer may open the return."""
        order = self.d.order
        kind = kind or self.rng.choice(FOLLOW_UPS)
        if kind == "track_followup":
            self.user(kind)
            self._track(kind, order)
        elif kind == "return_check_followup":
            self.user(kind)
            self._eligibility_answer(kind, order, self._eligibility(kind, order))
        else:
            self._open_return(kind, order)


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in pairs], weights=[w for _, w in pairs])[0]


def dialogue(
    rng: random.Random,
    customer: world.Customer,
    split: str,
    intent: str | None = None,
    lang: str | None = None,
) -> Dialogue:
    """One conversation: maybe a greeting, the main request, maybe a follow-up, maybe thanks.
    `intent` is the main request's, one of FOLLOW_UPS to have that follow one of FOLLOWED, or
    "thanks" for any request closed with thanks (a drill: the model refused closing thanks)."""
    follow = None
    closing = intent == "thanks"
    if closing:
        intent = None
    if intent in FOLLOW_UPS:
        intent, follow = rng.choice(FOLLOWED), intent
    if lang is None:
        lang = "en" if customer.lang == "en" else _weighted(rng, ZH_LANGS)
        if split == "train" and rng.random() < OTHER_LANGUAGE:
            lang = "zh" if lang == "en" else "en"
    intent = intent or _weighted(rng, list(MAIN_INTENTS.items()))
    b = _Builder(rng, customer, lang, split)
    if intent not in ("greeting",) and rng.random() < 0.2:
        b.chat("greeting")
    episode: Callable[[], None] | None = getattr(b, intent, None)
    if intent in ("greeting", "bot", "policy"):
        b.chat(intent)
    else:
        episode()
    if split == "train" and intent != "return_open" and rng.random() < RETURN_AFTER:
        b.return_open()
    if b.d.order is not None and (follow or rng.random() < 0.35):
        if follow == "return_open_followup" and rng.random() < 0.5:
            b.follow_up("return_check_followup")  # "Can I return it?" then "Please do."
        b.follow_up(follow)
        if b.d.checks[-1]["intent"] == "return_check_followup" and rng.random() < 0.3:
            b.follow_up("return_open_followup")
    if closing or rng.random() < 0.2:
        b.chat("thanks")
    return b.d


def customer_dialogues(rng: random.Random, split: str, count: int = GROUP) -> list[Dialogue]:
    """A new customer and `count` of their conversations (they share one system prompt)."""
    customer = world.make_customer(rng, _weighted(rng, LOCALES))
    return [dialogue(rng, customer, split) for _ in range(count)]


# The main intents whose first step calls a tool.
TOOL_INTENTS = [intent for intent in MAIN_INTENTS if FIRST_TOOL[intent]]
# The intents of decision drills: every tool call, follow-ups included, and the refusals.
DRILL_INTENTS = TOOL_INTENTS + FOLLOW_UPS + sorted(UNSAFE)


def decision_turns(
    rng: random.Random, customer: world.Customer, intents: list[str], count: int
) -> list[Dialogue]:
    """`count` conversations, each of an intent drawn evenly from `intents` and cut after that
    intent's decision: its last tool call (which tool, which arguments), or its answer when it
    calls none (a refusal): many to a step where whole dialogues give a few. Keep `intents`
    varied: drilling one request teaches the model to make it for similar ones (MODEL_CARD.md,
    v9)."""
    out = []
    while len(out) < count:
        intent = rng.choice(intents)
        d = dialogue(rng, customer, "train", intent)
        own = [c for c in d.checks if c["intent"] == intent]
        if not own:  # a follow-up after an order that was not found
            continue
        calls = [c for c in own if "tool" in c]
        last = calls[-1] if calls else own[0]
        d.messages = d.messages[: last["index"] + 1]
        d.checks = [c for c in d.checks if c["index"] <= last["index"]]
        out.append(d)
    return out


def dialogues(seed: int | str, count: int, split: str = "train") -> list[Dialogue]:
    """`count` conversations, GROUP consecutive ones per customer."""
    rng = random.Random(f"{seed}-{split}")
    out: list[Dialogue] = []
    while len(out) < count:
        out += customer_dialogues(rng, split, min(GROUP, count - len(out)))
    return out


def examples(d: Dialogue) -> Iterator[tuple[str, str]]:
    """(prompt, target) for each assistant message, rendered exactly as the server renders them."""
    for i, m in enumerate(d.messages):
        if m["role"] != "assistant":
            continue
        prompt = render_chat(d.messages[:i], spec.TOOLS)
        yield prompt, target_text(m)


def target_text(message: dict) -> str:
    """What the model writes for an assistant message after the generation prompt: an empty
    thought (`\n</think>\n\n`), then the answer or the tool calls, then end of sentence."""
    return render_reply(message.get("content"), tool_calls=message.get("tool_calls"))


def fim_examples(seed: int | str, count: int, split: str = "train") -> list[tuple[str, str]]:
    """(prompt, target) pairs: the FIM prompt, then the hole's text and end of sentence."""
    return [
        (render_fim(s.prefix, s.suffix), s.middle + EOS)
        for s in fim_samples(random.Random(f"{seed}-fim-{split}"), count, split)
    ]


def intent_list(text: str) -> list[str]:
    """A command-line list of main intents or follow-ups, comma-separated."""
    intents = text.split(",")
    known = [*MAIN_INTENTS, *FOLLOW_UPS, "thanks"]
    if not set(intents) <= set(known):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(known)}, not {text!r}")
    return intents


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="JSONL file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dialogues", type=int, default=1000)
    parser.add_argument("--split", choices=phrases.SPLITS, default="train")


def main(args: argparse.Namespace) -> int:
    with open(args.out, "w", encoding="utf-8") as f:
        for d in dialogues(args.seed, args.dialogues, args.split):
            f.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
    print(f"wrote {args.dialogues} {args.split} dialogues to {args.out}")
    return 0
