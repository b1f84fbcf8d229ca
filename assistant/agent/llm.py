"""Calls to the model server (ours or `vllm serve`) through the official OpenAI client.

Failures are contained here: connection errors, timeouts, 429 and 5xx are retried with
backoff before the first token; repeated failures open a circuit breaker, shared by all
processes through the cache, so an outage turns into an immediate "a human will reply"
instead of every customer waiting for a timeout.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from functools import cache as memoize

import httpx
import openai
from django.conf import settings
from django.core.cache import cache

BREAKER_KEY = "llm:breaker"
RETRYABLE = (
    openai.APIConnectionError,
    openai.APITimeoutError,
    openai.InternalServerError,
    openai.RateLimitError,
)


class ModelUnavailable(Exception):
    """The model server cannot answer now (down, overloaded, or the breaker is open)."""


def _timeout() -> openai.Timeout:
    # The client's own Timeout class: openai 3.x runs on httpx2 and rejects httpx's.
    return openai.Timeout(
        settings.MODEL_SERVER_TIMEOUT, connect=settings.MODEL_SERVER_CONNECT_TIMEOUT
    )


@memoize
def sync_client() -> openai.OpenAI:
    return openai.OpenAI(
        base_url=settings.MODEL_SERVER_URL,
        api_key=settings.MODEL_SERVER_API_KEY or "unused",
        timeout=_timeout(),
        max_retries=0,  # retried below, with the breaker in the loop
    )


@memoize
def async_client() -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=settings.MODEL_SERVER_URL,
        api_key=settings.MODEL_SERVER_API_KEY or "unused",
        timeout=_timeout(),
        max_retries=0,
    )


def breaker_open() -> bool:
    state = cache.get(BREAKER_KEY) or {}
    return state.get("open_until", 0) > time.time()


def record_failure() -> None:
    state = cache.get(BREAKER_KEY) or {"failures": 0}
    state["failures"] = state.get("failures", 0) + 1
    if state["failures"] >= settings.MODEL_BREAKER_THRESHOLD:
        state["open_until"] = time.time() + settings.MODEL_BREAKER_COOLDOWN
        state["failures"] = 0
    cache.set(BREAKER_KEY, state, timeout=3600)


def record_success() -> None:
    if cache.get(BREAKER_KEY):
        cache.delete(BREAKER_KEY)


def _delay(attempt: int, error: Exception) -> float:
    retry_after = getattr(getattr(error, "response", None), "headers", {}).get("retry-after")
    if retry_after and retry_after.replace(".", "", 1).isdigit():
        return min(float(retry_after), 5.0)
    return 0.25 * 2**attempt


def _unavailable(error: Exception) -> ModelUnavailable:
    return ModelUnavailable(f"The model server did not answer ({type(error).__name__}: {error}).")


def complete_code(*, prefix: str, suffix: str, max_tokens: int, temperature: float = 0.0) -> str:
    """Fill-in-the-middle completion through `/v1/completions` with `suffix`."""
    if breaker_open():
        raise ModelUnavailable("The model server is unavailable; try again in a minute.")
    for attempt in range(settings.MODEL_RETRIES + 1):
        try:
            response = sync_client().completions.create(
                model=settings.MODEL_NAME,
                prompt=prefix,
                suffix=suffix or None,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=["\n\n\n"],
            )
        except RETRYABLE as error:
            record_failure()
            if attempt == settings.MODEL_RETRIES or breaker_open():
                raise _unavailable(error) from error
            time.sleep(_delay(attempt, error))
        else:
            record_success()
            return response.choices[0].text
    raise AssertionError("unreachable")


async def stream_chat(
    *,
    messages: list[dict],
    tools: list[dict],
    max_tokens: int,
    model: str,
    tool_choice: str = "auto",
) -> AsyncIterator:
    """Stream one chat completion's chunks from `model` (the base model or an adapter's name).
    Retries happen only before the first chunk, so nothing the customer has seen is ever
    repeated."""
    from asgiref.sync import sync_to_async

    if await sync_to_async(breaker_open)():
        raise ModelUnavailable("The model server is unavailable; try again in a minute.")
    reloaded = False
    for attempt in range(settings.MODEL_RETRIES + 1):
        try:
            stream = await async_client().chat.completions.create(
                model=model,
                messages=messages,
                tools=tools,
                tool_choice=tool_choice,
                stream=True,
                stream_options={"include_usage": True},
                temperature=0,
                max_tokens=max_tokens,
            )
            iterator = stream.__aiter__()
            first = await iterator.__anext__()
        except StopAsyncIteration:
            return
        except openai.NotFoundError as error:
            # A deployed adapter the model server no longer has (it restarted): load it again.
            if reloaded or model == settings.MODEL_NAME:
                raise _unavailable(error) from error
            from assistant.finetune.services import adapter_reload
            from assistant.shop.errors import DomainError

            try:
                await sync_to_async(adapter_reload)(name=model)
            except DomainError as reload_error:
                raise ModelUnavailable(reload_error.message) from error
            reloaded = True
            continue
        except RETRYABLE as error:
            await sync_to_async(record_failure)()
            if attempt == settings.MODEL_RETRIES or await sync_to_async(breaker_open)():
                raise _unavailable(error) from error
            await asyncio.sleep(_delay(attempt, error))
            continue
        await sync_to_async(record_success)()
        try:
            yield first
            async for chunk in iterator:
                yield chunk
        except RETRYABLE as error:
            raise _unavailable(error) from error
        finally:
            await stream.close()
        return


# Prometheus names of the same quantities on our server and on `vllm serve`.
METRICS = {
    "running": ("modelserver_requests_running", "vllm:num_requests_running"),
    "waiting": ("modelserver_requests_waiting", "vllm:num_requests_waiting"),
    "kv_cache_usage": (
        "modelserver_kv_cache_usage_ratio",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
    ),
    "generation_tokens": ("modelserver_generation_tokens_total", "vllm:generation_tokens_total"),
    "prompt_tokens": ("modelserver_prompt_tokens_total", "vllm:prompt_tokens_total"),
    "requests_finished": ("modelserver_requests_finished_total", "vllm:request_success_total"),
    "preemptions": ("modelserver_preemptions", "vllm:num_preemptions_total"),
    "kv_cache_blocks_total": ("modelserver_kv_cache_blocks_total",),
}


def server_metrics() -> dict[str, float]:
    """The model server's load from its Prometheus `/metrics` (next to `/v1`), summed over
    labels. Counters are totals since the server started: rates are the caller's business."""
    from prometheus_client.parser import text_string_to_metric_families

    url = settings.MODEL_SERVER_URL.rstrip("/").removesuffix("/v1") + "/metrics"
    try:
        response = httpx.get(url, timeout=settings.MODEL_SERVER_CONNECT_TIMEOUT)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise _unavailable(error) from error
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
    return {
        key: next((samples[name] for name in names if name in samples), None)
        for key, names in METRICS.items()
    }
