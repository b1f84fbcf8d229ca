"""Chat API throughput and latency with N concurrent simulated customers against a running
stack (`make run`), side by side with the same first model request sent straight to the
model server.

Django's overhead shows two ways: the ratio of a whole turn through Django to one direct model
request (an upper bound: a turn with a tool makes two model requests), and per turn, the turn's
latency minus the model streaming time Django stored on its assistant messages (a lower bound:
the output safety check runs while the model streams, so it counts as model time)."""

import asyncio
import json
import statistics
import time

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from assistant.agent import spec
from assistant.chat.identity import identity_token_create
from assistant.conversations.models import Conversation, Message, ToolCall
from assistant.conversations.selectors import history_for_model
from assistant.shop.models import Customer


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return (
        values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))] if values else float("nan")
    )


async def one_turn_via_django(client: httpx.AsyncClient, session: dict, text: str) -> dict:
    started = time.perf_counter()
    first_token, steps, events, user_message = None, 0, [], None
    async with client.stream(
        "POST",
        f"/api/chat/conversations/{session['conversation']}/messages",
        json={"content": text},
        headers=session["headers"],
    ) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
                events.append(name)
                if name == "token" and first_token is None:
                    first_token = time.perf_counter() - started
                steps += name == "tool_call"
            elif line.startswith("data: ") and user_message is None:
                user_message = json.loads(line[6:])["id"]  # the first event is the user message
    return {
        "user_message": user_message,
        "latency": time.perf_counter() - started,
        "ttft": first_token,
        "tool_calls": steps,
        "ok": "error" not in events,
    }


async def one_turn_direct(client: httpx.AsyncClient, messages: list[dict]) -> dict:
    started = time.perf_counter()
    first = None
    body = {
        "model": settings.MODEL_NAME,
        "messages": messages,
        "tools": spec.TOOLS,
        "stream": True,
        "temperature": 0,
        "max_tokens": settings.AGENT_MAX_TOKENS,
    }
    async with client.stream("POST", "/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and first is None and '"content"' in line:
                first = time.perf_counter() - started
    return {"latency": time.perf_counter() - started, "ttft": first}


def add_model_time(turns: list[dict]) -> None:
    """Each turn's model streaming time and tool time, as Django stored them on the turn's
    assistant messages and tool runs (those after its user message, before the next one)."""
    for turn in turns:
        user = Message.objects.get(pk=turn["user_message"])
        later = user.conversation.messages.filter(pk__gt=user.pk).order_by("pk")
        next_user = later.filter(role=Message.Role.USER).first()
        replies = later.filter(role=Message.Role.ASSISTANT)
        if next_user:
            replies = replies.filter(pk__lt=next_user.pk)
        turn["model_s"] = sum(m.latency_ms or 0 for m in replies) / 1000
        runs = ToolCall.objects.filter(message__in=replies)
        turn["tools_s"] = sum(r.latency_ms for r in runs) / 1000


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--web", default="http://127.0.0.1:8000")
        parser.add_argument("--model-url", default=settings.MODEL_SERVER_URL)
        parser.add_argument("--concurrency", default="1,4,16")
        parser.add_argument("--turns", type=int, default=2, help="Messages per simulated customer.")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, web, model_url, concurrency, turns, as_json: bool, **options):
        levels = [int(n) for n in concurrency.split(",")]
        customers = list(
            Customer.objects.filter(orders__isnull=False)
            .distinct()
            .order_by("external_id")[: max(levels)]
        )
        if len(customers) < max(levels):
            raise CommandError("Seed the demo shop first (python manage.py seed_demo).")
        rows = [asyncio.run(self.level(n, customers[:n], web, model_url, turns)) for n in levels]
        if as_json:
            self.stdout.write(
                json.dumps({"web": web, "model_url": model_url, "results": rows}, indent=2)
            )
        else:
            for row in rows:
                self.stdout.write(str(row))

    async def level(self, n: int, customers: list, web: str, model_url: str, turns: int) -> dict:
        async with (
            httpx.AsyncClient(base_url=web, timeout=600) as client,
            httpx.AsyncClient(base_url=model_url, timeout=600) as model,
        ):
            sessions = [await self.open(client, c) for c in customers]
            started = time.perf_counter()
            django_turns = await asyncio.gather(
                *(
                    self.customer(client, s, c, turns)
                    for s, c in zip(sessions, customers, strict=True)
                )
            )
            django_wall = time.perf_counter() - started
            prompts = [await sync_to_async(self.first_prompt)(s["conversation"]) for s in sessions]
            started = time.perf_counter()
            direct = await asyncio.gather(*(one_turn_direct(model, p) for p in prompts))
            direct_wall = time.perf_counter() - started
        flat = [t for turns_ in django_turns for t in turns_]
        first_turns = [turns_[0] for turns_ in django_turns]

        def summary(xs):
            return {
                "p50": round(percentile(xs, 50), 3),
                "p99": round(percentile(xs, 99), 3),
            }

        await sync_to_async(add_model_time)(flat)
        overhead = [t["latency"] - t["model_s"] for t in flat]
        django_first = [t["latency"] for t in first_turns]
        direct_latency = [d["latency"] for d in direct]
        return {
            "concurrency": n,
            "django": {
                "turns": len(flat),
                "ok": sum(t["ok"] for t in flat),
                "turns_per_s": round(len(flat) / django_wall, 3),
                "latency_s": summary([t["latency"] for t in flat]),
                "ttft_s": summary([t["ttft"] for t in flat if t["ttft"] is not None]),
                "tool_calls_per_turn": round(statistics.mean(t["tool_calls"] for t in flat), 2),
                "model_s_per_turn": summary([t["model_s"] for t in flat]),
                "tools_s_per_turn": summary([t["tools_s"] for t in flat]),
                "overhead_s_per_turn": summary(overhead),
                "overhead_share_of_turn": round(sum(overhead) / sum(t["latency"] for t in flat), 3),
            },
            "model_server_direct": {
                "requests_per_s": round(len(direct) / direct_wall, 3),
                "latency_s": summary(direct_latency),
            },
            # Same first message, one model request direct vs the whole turn through Django
            # (which may call the model more than once when it uses tools).
            "first_turn_latency_ratio_django_over_direct": round(
                statistics.median(django_first) / statistics.median(direct_latency), 2
            ),
        }

    async def open(self, client: httpx.AsyncClient, customer) -> dict:
        token = identity_token_create(external_id=customer.external_id)
        response = await client.post("/api/chat/sessions", json={"identity_token": token})
        if response.status_code != 201:  # e.g. 429: the per-address session limit
            raise CommandError(
                f"Opening a chat session failed ({response.status_code}): {response.text}"
            )
        session = response.json()
        client_headers = {"Authorization": f"Bearer {session['session_token']}"}
        conversation = (
            await client.post("/api/chat/conversations", json={}, headers=client_headers)
        ).json()
        return {"headers": client_headers, "conversation": conversation["id"]}

    async def customer(
        self, client: httpx.AsyncClient, session: dict, customer, turns: int
    ) -> list[dict]:
        order = await sync_to_async(lambda: customer.orders.order_by("-placed_at").first().number)()
        texts = [f"Where is my order {order}?", "Can I return it?", "Thanks, that's all."][:turns]
        results = []
        for text in texts:
            results.append(await one_turn_via_django(client, session, text))
        return results

    def first_prompt(self, conversation_id: str) -> list[dict]:
        conversation = Conversation.objects.get(public_id=conversation_id)
        history = history_for_model(conversation=conversation)
        first_user = next(i for i, m in enumerate(history) if m["role"] == "user")
        return history[: first_user + 1]
