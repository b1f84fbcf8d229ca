"""The agent loop: answer the customer's last message, calling tools until a final answer.

`reply()` is an async generator of events for the chat stream:
  tool_call    {"id", "name", "arguments"}            the model asked for a tool
  tool_result  {"id", "name", "outcome", "result"}    what the tool returned (cards are built from it)
  token        {"text"}                               released reply text (checked sentences)
  message      {"id", "content", "status"}            the stored final message
  status       {"status"}                             the conversation's status changed
  error        {"code", "message"}                    the reply failed; the message stays retryable
Every step is stored as it happens; a failure leaves a failed, visible message, never a lost one.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings

from assistant.conversations import selectors as conv_selectors
from assistant.conversations import services as conv_services
from assistant.conversations.models import Conversation, Message
from assistant.finetune.selectors import serving_model
from assistant.shop.models import Customer

from . import guard, llm, spec
from .tools import ToolContext, run_tool

REFUSAL = {
    "en": "I'm sorry, I can't help with that. I can help with your orders, deliveries and returns.",
    "zh-hans": "抱歉，这个我无法帮忙。我可以帮您处理订单、物流和退货问题。",
}
ESCALATED = {
    "en": "A member of our team will look at this and reply here.",
    "zh-hans": "我们的客服人员会查看并在这里回复您。",
}
DEGRADED = {
    "en": "I can't answer right now. A member of our team will reply here as soon as possible.",
    "zh-hans": "我现在无法回复。我们的客服人员会尽快在这里回复您。",
}


def event(kind: str, /, **data) -> dict:
    return {"event": kind, "data": data}


@sync_to_async
def _load(conversation: Conversation) -> tuple[list[dict], str, str]:
    history = conv_selectors.history_for_model(conversation=conversation)
    last_user = conversation.messages.filter(role=Message.Role.USER).order_by("-id").first()
    previous = (
        conversation.messages.filter(
            role=Message.Role.ASSISTANT, id__lt=last_user.id, status=Message.Status.COMPLETE
        )
        .exclude(content="")
        .order_by("-id")
        .first()
    )
    return history, last_user.content, previous.content if previous else ""


@sync_to_async
def _fail(conversation: Conversation, message: Message, error: Exception, content: str) -> None:
    conv_services.assistant_message_finish(
        message=message, status=Message.Status.FAILED, content=content, error=str(error)
    )
    conv_services.conversation_request_human(
        conversation=conversation, reason="The model server is unavailable."
    )


async def reply(*, conversation: Conversation, customer: Customer | None) -> AsyncIterator[dict]:
    locale = "zh-hans" if conversation.locale == "zh-hans" else "en"
    messages, user_text, previous = await _load(conversation)

    verdict = await sync_to_async(guard.check_input)(
        text=user_text, conversation=conversation, context=previous
    )
    if verdict.action not in guard.PASSES:
        stored = await sync_to_async(_store_refusal)(conversation, verdict, locale)
        yield event("token", text=stored.content)
        yield event("message", id=stored.id, content=stored.content, status=stored.status)
        return
    if verdict.action == "redact":
        messages[-1] = {"role": "user", "content": verdict.text}  # the model never sees the PII

    ctx = ToolContext(customer=customer, conversation=conversation)
    serving = await sync_to_async(serving_model)()
    handed_off = False
    for step in range(settings.AGENT_MAX_STEPS):
        # The last step may not call a tool: the model answers from the results it has (a model
        # that repeats a call which found nothing would otherwise end the turn with no answer).
        last = step == settings.AGENT_MAX_STEPS - 1
        message = await sync_to_async(conv_services.assistant_message_start)(
            conversation=conversation, model=settings.MODEL_NAME, adapter=serving.adapter
        )
        gate = guard.OutputGate(conversation=conversation, context=user_text)
        content, reasoning, calls, usage = "", "", {}, None
        started = time.perf_counter()
        try:
            async for chunk in llm.stream_chat(
                messages=messages,
                tools=spec.TOOLS,
                max_tokens=settings.AGENT_MAX_TOKENS,
                model=serving.name,
                tool_choice="none" if last else "auto",
            ):
                usage = chunk.usage or usage
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
                if delta.content:
                    content += delta.content
                    for text in await sync_to_async(gate.feed)(delta.content):
                        yield event("token", text=text)
                for call in delta.tool_calls or []:
                    slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = call.id or slot["id"]
                    if call.function:
                        slot["name"] += call.function.name or ""
                        slot["arguments"] += call.function.arguments or ""
            for text in await sync_to_async(gate.flush)():
                yield event("token", text=text)
        except llm.ModelUnavailable as error:
            await _fail(conversation, message, error, gate.released)
            yield event("error", code="model_unavailable", message=DEGRADED[locale])
            yield event("status", status=Conversation.Status.WAITING)
            return
        except (asyncio.CancelledError, GeneratorExit):
            # The customer went away mid-reply: keep what they saw, and free the model's slot
            # (closing the stream above tells the model server to stop).
            await sync_to_async(conv_services.assistant_message_finish)(
                message=message,
                status=Message.Status.INTERRUPTED,
                content=gate.released,
                reasoning=reasoning,
            )
            raise

        fields = {
            "reasoning": reasoning,
            "latency_ms": round((time.perf_counter() - started) * 1000),
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "safety_verdict_id": gate.verdict_ids[-1] if gate.verdict_ids else None,
        }
        if gate.stopped:
            stored = await sync_to_async(conv_services.assistant_message_finish)(
                message=message,
                status=Message.Status.BLOCKED,
                content=content,
                error=f"Blocked by the safety layer: {gate.stopped.reason}",
                **fields,
            )
            refusal = await sync_to_async(_store_refusal)(conversation, gate.stopped, locale)
            yield event("token", text=refusal.content)
            yield event(
                "message",
                id=refusal.id,
                content=gate.released + refusal.content,
                status=refusal.status,
            )
            return

        tool_calls = [
            {
                "id": c["id"] or f"call_{message.id}_{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for i, c in sorted(calls.items())
        ]
        stored = await sync_to_async(conv_services.assistant_message_finish)(
            message=message,
            status=Message.Status.COMPLETE,
            # What passed the safety check, also before a tool call: the customer sees it.
            content=gate.released,
            tool_calls=tool_calls,
            **fields,
        )
        if not tool_calls:
            yield event("message", id=stored.id, content=stored.content, status=stored.status)
            return

        messages.append({"role": "assistant", "content": gate.released, "tool_calls": tool_calls})
        for call in tool_calls:
            name, arguments = call["function"]["name"], call["function"]["arguments"]
            yield event("tool_call", id=call["id"], name=name, arguments=_preview(arguments))
            result = await sync_to_async(_run_and_store)(ctx, stored, call["id"], name, arguments)
            yield event(
                "tool_result",
                id=call["id"],
                name=name,
                outcome=result.outcome,
                result=result.result,
            )
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result.text})
        if not handed_off and await _handed_off(conversation):
            handed_off = True  # the model still writes its last words to the customer
            yield event("status", status=Conversation.Status.WAITING)

    stored = await sync_to_async(_store_degraded)(conversation, locale)
    yield event("token", text=stored.content)
    yield event("message", id=stored.id, content=stored.content, status=stored.status)
    yield event("status", status=Conversation.Status.WAITING)


def _preview(arguments: str) -> dict | str:
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return arguments[:200]
    return parsed if isinstance(parsed, dict) else arguments[:200]


def _run_and_store(ctx: ToolContext, message: Message, call_id: str, name: str, arguments: str):
    result = run_tool(ctx=ctx, message=message, call_id=call_id, name=name, arguments=arguments)
    conv_services.tool_message_create(
        conversation=ctx.conversation, tool_call_id=call_id, content=result.text
    )
    return result


@sync_to_async
def _handed_off(conversation: Conversation) -> bool:
    conversation.refresh_from_db(fields=["status"])
    return conversation.status != Conversation.Status.BOT


def _store_refusal(conversation: Conversation, verdict, locale: str) -> Message:
    """Answer a blocked message with a refusal; an escalated one goes to a person as well.
    Either way the conversation is flagged for the operators' safety review."""
    escalate = verdict.action == "escalate"
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content=(ESCALATED if escalate else REFUSAL)[locale],
        safety_verdict_id=verdict.audit_id,
    )
    Conversation.objects.filter(pk=conversation.pk).update(flagged=True)
    if escalate:
        conv_services.conversation_request_human(
            conversation=conversation, reason="Safety review needed."
        )
    return message


def _store_degraded(conversation: Conversation, locale: str) -> Message:
    """The step limit was reached without a final answer (a model server that ignored
    `tool_choice="none"` on the last step): say so and hand over."""
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content=DEGRADED[locale]
    )
    conv_services.conversation_request_human(
        conversation=conversation, reason="The assistant reached its step limit."
    )
    return message
