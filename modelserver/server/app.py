"""The OpenAI-compatible HTTP API (Starlette) in front of the `AsyncEngine`.

Routes: `POST /v1/chat/completions`, `POST /v1/completions` (with `suffix`: fill-in-the-middle),
`GET /v1/models`, `GET|POST /v1/adapters`, `DELETE /v1/adapters/{name}`, `GET /health`
(liveness), `GET /ready` (readiness), `GET /metrics` (Prometheus). Every error is OpenAI's shape.
A client that goes away (stream or not) aborts its request, which frees its cache blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelserver.chat.grammar import GrammarError, GrammarFactory
from modelserver.chat.parser import Event, OutputParser
from modelserver.chat.template import TemplateError, render_chat, render_fim, validate_tools
from modelserver.chat.tokenizer import Tokenizer
from modelserver.engine.engine import AsyncEngine
from modelserver.engine.lora import AdapterError, read_adapter
from modelserver.engine.sequence import Output, SamplingParams, Sequence
from modelserver.server.metrics import Metrics
from modelserver.server.protocol import (
    AdapterRequest,
    APIError,
    ChatRequest,
    CompletionRequest,
    parse,
)

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    engine: AsyncEngine
    tokenizer: Tokenizer
    grammars: GrammarFactory
    model_name: str
    max_model_len: int
    max_num_seqs: int
    max_waiting: int = 256
    max_body_bytes: int = 4 << 20
    api_key: str | None = None
    defaults: dict[str, float] = field(default_factory=dict)  # from generation_config.json
    metrics: Metrics | None = None
    created: int = field(default_factory=lambda: int(time.time()))


def create_app(state: ServerState) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.engine.start(asyncio.get_running_loop())
        yield
        await asyncio.to_thread(state.engine.stop)

    api = _API(state)
    routes = [
        Route("/health", api.health, methods=["GET"]),
        Route("/ready", api.ready, methods=["GET"]),
        Route("/metrics", api.metrics, methods=["GET"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/v1/chat/completions", api.chat, methods=["POST"]),
        Route("/v1/completions", api.completions, methods=["POST"]),
        Route("/v1/adapters", api.list_adapters, methods=["GET"]),
        Route("/v1/adapters", api.load_adapter, methods=["POST"]),
        Route("/v1/adapters/{name}", api.unload_adapter, methods=["DELETE"]),
    ]
    handlers = {APIError: _api_error, HTTPException: _http_error, Exception: _internal_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.server = state
    return app


def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
    return _api_error(request, APIError(exc.status_code, str(exc.detail), type=kind))


def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("internal error")
    return _api_error(request, APIError(500, f"internal error: {exc}", type="server_error"))


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


class _Stream(Response):
    """SSE response that watches the connection: when the client leaves, the producer is
    cancelled at once (even while it waits for a queued request), which aborts the request."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes]) -> None:  # no super(): no Content-Length
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def produce() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with aclosing(self.events) as events:
                async for chunk in events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        with contextlib.suppress(ClientGone, OSError):  # gone while waiting or between writes
            await _until_disconnect(receive, produce())


async def _until_disconnect(receive: Receive, work: Awaitable[Any]) -> Any:
    """Run `work`; if the client disconnects first, cancel it and raise ClientGone."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(disconnected())
    gone = False
    try:
        done, _ = await asyncio.wait([task, watcher], return_when=asyncio.FIRST_COMPLETED)
        gone = task not in done
    finally:  # also when we are cancelled ourselves (shutdown): never leave `work` running
        watcher.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if gone:
        raise ClientGone
    return task.result()


class ClientGone(Exception):
    pass


class _API:
    def __init__(self, state: ServerState) -> None:
        self.s = state

    # ---- helpers -------------------------------------------------------------------------
    def _authorize(self, request: Request) -> None:
        key = self.s.api_key
        if key is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {key}".encode()):
            raise APIError(401, "invalid or missing API key", code="invalid_api_key")

    def _require_ready(self) -> None:
        if not self.s.engine.alive:
            raise APIError(
                503, "the engine has stopped", type="server_error", headers={"Retry-After": "30"}
            )
        if not self.s.engine.ready.is_set():
            raise APIError(
                503,
                "the model is loading",
                type="server_error",
                code="not_ready",
                headers={"Retry-After": "5"},
            )

    def _admit(self) -> None:
        limit = self.s.max_num_seqs + self.s.max_waiting
        if self.s.engine.num_pending >= limit:
            raise APIError(
                429,
                f"server overloaded: {self.s.engine.num_pending} requests in flight (limit {limit})",
                type="rate_limit_error",
                code="overloaded",
                headers={"Retry-After": "1"},
            )

    async def _json(self, request: Request) -> Any:
        limit = self.s.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise APIError(413, f"request body over {limit} bytes", code="body_too_large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise APIError(413, f"request body over {limit} bytes", code="body_too_large")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise APIError(400, f"malformed JSON body: {exc}", code="invalid_json") from None

    def _adapter_for(self, model: str) -> str | None:
        """The requested model: the base model (None) or a loaded adapter's key; else 404."""
        if model == self.s.model_name:
            return None
        key = self.s.engine.adapter_key(model)
        if key is None:
            raise APIError(
                404,
                f"the model {model!r} does not exist",
                type="not_found",
                code="model_not_found",
                param="model",
            )
        return key

    def _check_length(self, prompt_ids: list[int], max_tokens: int | None) -> int:
        limit, n = self.s.max_model_len, len(prompt_ids)
        if n >= limit or (max_tokens is not None and n + max_tokens > limit):
            asked = f" + {max_tokens} completion tokens" if max_tokens is not None else ""
            raise APIError(
                400,
                f"This model's maximum context length is {limit} tokens; the request has "
                f"{n} prompt tokens{asked}. Shorten the prompt or lower max_tokens.",
                code="context_length_exceeded",
                param="messages" if max_tokens is None or n >= limit else "max_tokens",
            )
        return max_tokens if max_tokens is not None else limit - n

    def _params(self, req: ChatRequest | CompletionRequest, max_tokens: int, **extra: Any):
        d = self.s.defaults
        bias = req.logit_bias or {}
        if any(not 0 <= t < self.s.tokenizer.vocab_size for t in bias):
            raise APIError(400, "logit_bias: token id out of range", param="logit_bias")
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=req.temperature
            if req.temperature is not None
            else d.get("temperature", 1.0),
            top_p=req.top_p if req.top_p is not None else d.get("top_p", 1.0),
            top_k=max(0, req.top_k if req.top_k is not None else int(d.get("top_k", 0))),
            seed=req.seed,
            stop=req.stop_list,
            ignore_eos=req.ignore_eos,
            logit_bias=tuple(bias.items()),
            **extra,
        )

    def _sequence(
        self,
        request_id: str,
        ids: list[int],
        params: SamplingParams,
        adapter: str | None,
        arrival: float,
    ) -> Sequence:
        engine = self.s.engine.engine
        assert engine is not None
        return Sequence(
            request_id,
            ids,
            params,
            self.s.tokenizer,
            adapter=adapter,
            arrival=arrival,
            device=engine.device,
        )

    async def _collect(self, request: Request, seq: Sequence) -> tuple[str, Output]:
        async def run() -> tuple[str, Output]:
            text = ""
            async with aclosing(self.s.engine.generate(seq)) as outputs:
                async for out in outputs:
                    text += out.text
            return text, out

        try:
            text, last = await _until_disconnect(request.receive, run())
        except ClientGone:
            raise APIError(499, "client closed the request") from None
        if last.finish_reason == "error":
            raise APIError(500, f"generation failed: {last.error}", type="server_error")
        return text, last

    @staticmethod
    def _usage(out: Output) -> dict[str, Any]:
        return {
            "prompt_tokens": out.prompt_tokens,
            "completion_tokens": out.completion_tokens,
            "total_tokens": out.prompt_tokens + out.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": out.cached_tokens},
        }

    # ---- plain endpoints -----------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        if not self.s.engine.alive:
            return JSONResponse({"status": "dead", "error": str(self.s.engine.error)}, 503)
        return JSONResponse({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        if self.s.engine.alive and self.s.engine.ready.is_set():
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "loading" if self.s.engine.alive else "dead"},
            503,
            headers={"Retry-After": "5"},
        )

    async def metrics(self, request: Request) -> Response:
        assert self.s.metrics is not None
        return Response(self.s.metrics.render(), media_type="text/plain; version=0.0.4")

    async def models(self, request: Request) -> Response:
        self._authorize(request)
        cards = [
            {
                "id": self.s.model_name,
                "object": "model",
                "created": self.s.created,
                "owned_by": "modelserver",
                "max_model_len": self.s.max_model_len,
            }
        ]
        for name in await self._adapter_names():
            cards.append(
                {
                    "id": name,
                    "object": "model",
                    "created": self.s.created,
                    "owned_by": "modelserver",
                    "parent": self.s.model_name,
                }
            )
        return JSONResponse({"object": "list", "data": cards})

    async def _adapter_names(self) -> list[str]:
        if not self.s.engine.ready.is_set():
            return []
        engine = self.s.engine
        return [n for n in list(engine.engine.runner.adapters.adapters) if engine.adapter_key(n)]

    async def list_adapters(self, request: Request) -> Response:
        self._authorize(request)
        names = await self._adapter_names()
        return JSONResponse(
            {"object": "list", "data": [{"id": n, "object": "adapter"} for n in names]}
        )

    async def load_adapter(self, request: Request) -> Response:
        self._authorize(request)
        self._require_ready()
        req = parse(AdapterRequest, await self._json(request))
        if req.name == self.s.model_name or self.s.engine.adapter_key(req.name) is not None:
            raise APIError(
                409,
                f"an adapter or model named {req.name!r} is loaded already",
                code="adapter_exists",
                param="name",
            )
        model = self.s.engine.engine.model
        try:
            await self.s.engine.install_adapter(
                lambda gen: read_adapter(req.name, req.path, model, gen)
            )
        except (AdapterError, OSError) as exc:
            raise APIError(400, f"cannot load adapter: {exc}", code="invalid_adapter") from None
        return JSONResponse({"id": req.name, "object": "adapter", "parent": self.s.model_name})

    async def unload_adapter(self, request: Request) -> Response:
        self._authorize(request)
        self._require_ready()
        name = request.path_params["name"]
        if self.s.engine.adapter_key(name) is None:
            raise APIError(
                404, f"no adapter {name!r} is loaded", type="not_found", code="adapter_not_found"
            )
        await self.s.engine.remove_adapter(name)
        return JSONResponse({"id": name, "object": "adapter", "deleted": True})

    # ---- completions ---------------------------------------------------------------------
    async def completions(self, request: Request) -> Response:
        arrival = time.monotonic()
        self._authorize(request)
        req = parse(CompletionRequest, await self._json(request))
        adapter = self._adapter_for(req.model)
        self._require_ready()
        tok = self.s.tokenizer
        prompt = (
            req.prompt[0]
            if isinstance(req.prompt, list) and isinstance(req.prompt[0], str)
            else req.prompt
        )
        if isinstance(prompt, list):
            if any(not 0 <= t < tok.vocab_size for t in prompt):
                raise APIError(
                    400, "prompt: token id out of range", code="invalid_value", param="prompt"
                )
            ids = list(prompt)
        elif req.suffix is not None:
            ids = tok.encode(render_fim(prompt, req.suffix))
        else:
            ids = tok.encode(prompt, add_bos=tok.add_bos)
        max_tokens = self._check_length(ids, req.max_tokens)
        self._admit()
        seq = self._sequence(
            f"cmpl-{uuid.uuid4().hex}", ids, self._params(req, max_tokens), adapter, arrival
        )
        base = {
            "id": seq.request_id,
            "object": "text_completion",
            "created": int(time.time()),
            "model": req.model,
        }
        if req.stream:
            return _Stream(self._stream_completion(seq, base, req.include_usage))
        text, out = await self._collect(request, seq)
        choice = {"index": 0, "text": text, "finish_reason": out.finish_reason, "logprobs": None}
        return JSONResponse({**base, "choices": [choice], "usage": self._usage(out)})

    async def _stream_completion(self, seq: Sequence, base: dict, usage: bool):
        async with aclosing(self.s.engine.generate(seq)) as outputs:
            async for out in outputs:
                if out.finish_reason == "error":
                    yield _sse(
                        {
                            "error": APIError(500, str(out.error), type="server_error").body()[
                                "error"
                            ]
                        }
                    )
                    break
                if out.text or out.finished:
                    choice = {
                        "index": 0,
                        "text": out.text,
                        "logprobs": None,
                        "finish_reason": out.finish_reason,
                    }
                    yield _sse({**base, "choices": [choice]})
                if out.finished and usage:
                    yield _sse({**base, "choices": [], "usage": self._usage(out)})
        yield b"data: [DONE]\n\n"

    # ---- chat ----------------------------------------------------------------------------
    async def chat(self, request: Request) -> Response:
        arrival = time.monotonic()
        self._authorize(request)
        req = parse(ChatRequest, await self._json(request))
        adapter = self._adapter_for(req.model)
        self._require_ready()
        try:
            functions = validate_tools(req.tools)
        except TemplateError as exc:
            raise APIError(400, str(exc), param="tools") from None
        choice = (
            req.tool_choice if req.tool_choice is not None else ("auto" if functions else "none")
        )
        forced = choice == "required" or isinstance(choice, dict)
        if forced and not functions:
            raise APIError(400, "tool_choice requires tools", param="tool_choice")
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            named = [f for f in functions if f["name"] == name]
            if choice.get("type", "function") != "function" or not named:
                raise APIError(
                    400, f"tool_choice names no given tool: {name!r}", param="tool_choice"
                )
            allowed = named
        else:
            allowed = functions
        thinking = req.thinking and not forced  # a forced call skips the reasoning
        try:
            prompt = render_chat(req.messages, req.tools, thinking=thinking)
        except TemplateError as exc:
            raise APIError(400, str(exc), param="messages") from None
        ids = self.s.tokenizer.encode(prompt)
        max_tokens = self._check_length(ids, req.max_completion_tokens or req.max_tokens)
        self._admit()
        extra: dict[str, Any] = {}
        if choice == "none" and functions:
            trigger = self.s.tokenizer.token_id("<｜tool▁calls▁begin｜>")
            extra["banned_token_ids"] = (trigger,) if trigger is not None else ()
        elif choice != "none":
            single = isinstance(choice, dict) or req.parallel_tool_calls is False
            try:
                extra["constraint"] = await asyncio.to_thread(
                    self.s.grammars.tool_calls, allowed, forced=forced, single=single
                )
            except GrammarError as exc:
                raise APIError(
                    400, f"tools: unsupported parameters schema: {exc}", param="tools"
                ) from None
        seq = self._sequence(
            f"chatcmpl-{uuid.uuid4().hex}",
            ids,
            self._params(req, max_tokens, **extra),
            adapter,
            arrival,
        )
        parser = OutputParser(reasoning=thinking, tools=bool(functions))
        base = {
            "id": seq.request_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
        }
        if req.stream:
            chunk_base = {**base, "object": "chat.completion.chunk"}
            return _Stream(self._stream_chat(seq, parser, chunk_base, req.include_usage))
        text, out = await self._collect(request, seq)
        parser.feed(text)
        parser.finish()
        result = parser.result
        message: dict[str, Any] = {
            "role": "assistant",
            "content": result.content,
            "reasoning_content": result.reasoning,
        }
        if result.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in result.tool_calls
            ]
            if not (result.content or "").strip():
                message["content"] = None
        finish = _chat_finish(out.finish_reason, bool(result.tool_calls))
        body = {
            **base,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": self._usage(out),
        }
        return JSONResponse(body)

    async def _stream_chat(self, seq: Sequence, parser: OutputParser, base: dict, usage: bool):
        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return _sse({**base, "choices": [choice]})

        yield chunk({"role": "assistant", "content": ""})
        async with aclosing(self.s.engine.generate(seq)) as outputs:
            async for out in outputs:
                if out.finish_reason == "error":
                    yield _sse(
                        {
                            "error": APIError(500, str(out.error), type="server_error").body()[
                                "error"
                            ]
                        }
                    )
                    break
                events = parser.feed(out.text)
                if out.finished:
                    events += parser.finish()
                for delta in _merge_deltas(events):
                    yield chunk(delta)
                if out.finished:
                    yield chunk({}, _chat_finish(out.finish_reason, bool(parser.result.tool_calls)))
                    if usage:
                        yield _sse({**base, "choices": [], "usage": self._usage(out)})
        yield b"data: [DONE]\n\n"


def _chat_finish(reason: str | None, tool_calls: bool) -> str | None:
    return "tool_calls" if tool_calls and reason == "stop" else reason


def _merge_deltas(events: list[Event]) -> list[dict[str, Any]]:
    """Parser events -> OpenAI deltas; consecutive events of one kind become one delta."""
    deltas: list[dict[str, Any]] = []
    for e in events:
        if e.reasoning is not None or e.content is not None:
            key = "reasoning_content" if e.reasoning is not None else "content"
            text = e.reasoning if e.reasoning is not None else e.content
            if deltas and set(deltas[-1]) == {key}:
                deltas[-1][key] += text
            else:
                deltas.append({key: text})
            continue
        if e.tool_call is not None:
            call = {
                "index": e.tool_index,
                "id": e.tool_call.id,
                "type": "function",
                "function": {"name": e.tool_call.name, "arguments": e.tool_args or ""},
            }
            deltas.append({"tool_calls": [call]})
            continue
        last = deltas[-1]["tool_calls"][0] if deltas and "tool_calls" in deltas[-1] else None
        if last is not None and last["index"] == e.tool_index:
            last["function"]["arguments"] += e.tool_args
        else:
            deltas.append(
                {"tool_calls": [{"index": e.tool_index, "function": {"arguments": e.tool_args}}]}
            )
    return deltas
