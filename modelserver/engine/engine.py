"""The engine: scheduler + block manager + model runner + sampler, one `step()` at a time.

`LLMEngine` is synchronous and single-threaded. `AsyncEngine` runs it in one background thread
that owns the model; the HTTP layer talks to it through a command queue (add, abort, adapter
changes) and gets each request's outputs on an asyncio queue.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from modelserver.chat.tokenizer import Tokenizer
from modelserver.engine.block_manager import BlockManager
from modelserver.engine.lora import Adapter
from modelserver.engine.runner import ModelRunner
from modelserver.engine.sampler import Sampler
from modelserver.engine.scheduler import Scheduler
from modelserver.engine.sequence import Output, SamplingParams, Sequence

log = logging.getLogger(__name__)


@dataclass
class EngineConfig:
    max_model_len: int
    block_size: int = 16
    num_blocks: int = 1024
    max_num_seqs: int = 64
    max_batched_tokens: int = 512  # per step: decodes + prefill chunks
    cuda_graphs: bool = True


class Observer(Protocol):
    """Receives the engine's timings (the server's Prometheus metrics)."""

    def first_token(self, seconds: float) -> None: ...
    def inter_token(self, seconds: float) -> None: ...
    def step(self, prompt_tokens: int, generated_tokens: int) -> None: ...
    def finished(self, seq: Sequence) -> None: ...


class LLMEngine:
    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Tokenizer,
        config: EngineConfig,
        observer: Observer | None = None,
    ) -> None:
        blocks_per_seq = -(-config.max_model_len // config.block_size)
        if config.num_blocks < blocks_per_seq:
            raise ValueError(
                f"the cache ({config.num_blocks} blocks of {config.block_size}) cannot hold one "
                f"sequence of max_model_len={config.max_model_len}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.observer = observer
        self.blocks = BlockManager(config.num_blocks, config.block_size)
        self.scheduler = Scheduler(
            self.blocks,
            max_num_seqs=config.max_num_seqs,
            max_batched_tokens=config.max_batched_tokens,
        )
        self.runner = ModelRunner(
            model,
            num_blocks=config.num_blocks,
            block_size=config.block_size,
            max_num_seqs=config.max_num_seqs,
            max_model_len=config.max_model_len,
            cuda_graphs=config.cuda_graphs,
        )
        self.sampler = Sampler(tokenizer.vocab_size)
        self.seqs: dict[str, Sequence] = {}

    @property
    def device(self) -> torch.device:
        return self.runner.device

    def add(self, seq: Sequence) -> None:
        self.seqs[seq.request_id] = seq
        self.scheduler.add(seq)

    def abort(self, request_id: str) -> Sequence | None:
        """Stop a request and free its cache blocks now."""
        seq = self.seqs.pop(request_id, None)
        if seq is not None:
            self.scheduler.remove(seq)
            if self.observer is not None:
                self.observer.finished(seq)
        return seq

    def has_work(self) -> bool:
        return self.scheduler.has_work()

    def step(self) -> list[Output]:
        batch = self.scheduler.schedule()
        to_sample: list[tuple[Sequence, torch.Tensor]] = []
        prompt_tokens = 0
        for seq, start, end in batch.prefills:
            logits = self.runner.prefill(seq, start, end)  # [V]
            seq.num_computed = end
            self.blocks.commit(seq)
            prompt_tokens += end - start
            if end == len(seq):
                to_sample.append((seq, logits))
        if batch.decodes:
            logits = self.runner.decode(batch.decodes)  # [B, V]
            for i, seq in enumerate(batch.decodes):
                seq.num_computed += 1
                self.blocks.commit(seq)
                to_sample.append((seq, logits[i]))
        if not to_sample:
            return []
        seqs = [s for s, _ in to_sample]
        tokens = self.sampler(torch.stack([lg for _, lg in to_sample]), seqs)
        now = time.monotonic()
        outputs = []
        for seq, token in zip(seqs, tokens, strict=True):
            if self.observer is not None:
                if seq.last_token_time is None:
                    self.observer.first_token(now - seq.arrival)
                else:
                    self.observer.inter_token(now - seq.last_token_time)
            seq.last_token_time = now
            seq.append(token, self.config.max_model_len)
            outputs.append(seq.take_output())
            if seq.finish_reason is not None:
                self.seqs.pop(seq.request_id, None)
                self.scheduler.remove(seq)
                if self.observer is not None:
                    self.observer.finished(seq)
        if self.observer is not None:
            self.observer.step(prompt_tokens, len(tokens))
        return outputs

    def generate(
        self, prompts: list[list[int]], params: SamplingParams | list[SamplingParams]
    ) -> list[Output]:
        """Offline: run prompts to completion -> one merged Output per prompt, in order."""
        params_list = params if isinstance(params, list) else [params] * len(prompts)
        ids = [f"offline-{i}" for i in range(len(prompts))]
        for rid, prompt, p in zip(ids, prompts, params_list, strict=True):
            self.add(Sequence(rid, prompt, p, self.tokenizer, device=self.device))
        merged = {rid: Output(rid, "") for rid in ids}
        while self.has_work():
            for out in self.step():
                m = merged[out.request_id]
                out.text, out.token_ids = m.text + out.text, m.token_ids + out.token_ids
                merged[out.request_id] = out
        return [merged[rid] for rid in ids]


STAT_NAMES = ("running", "waiting", "kv_usage", "kv_blocks_used", "kv_blocks_total", "preemptions")


class AsyncEngine:
    """The engine in its own thread. `generate` yields a request's outputs as they come."""

    def __init__(self, build: Callable[[], LLMEngine]) -> None:
        self._build = build
        self.engine: LLMEngine | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None  # why the engine thread died
        self._commands: queue.Queue = queue.Queue()
        self._queues: dict[str, asyncio.Queue[Output]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._adapter_generation = itertools.count(1)
        self._retiring: set[str] = set()  # adapters to unload once no request uses them
        self.num_pending = 0  # requests submitted and not finished (admission control)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._commands.put(("wake",))
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self.error is None and (self._thread is None or self._thread.is_alive())

    def stats(self) -> dict[str, float]:
        """Gauges for /metrics (read from the event loop while the engine thread runs)."""
        core = self.engine
        if core is None:
            return dict.fromkeys(STAT_NAMES, 0.0)
        running = len(core.scheduler.running)
        return {
            "running": running,
            "waiting": max(0, self.num_pending - running),
            "kv_usage": core.blocks.usage,
            "kv_blocks_used": core.blocks.num_blocks - core.blocks.num_free,
            "kv_blocks_total": core.blocks.num_blocks,
            "preemptions": core.scheduler.num_preemptions,
        }

    async def generate(self, seq: Sequence) -> AsyncIterator[Output]:
        """Outputs of one request; closing the iterator early aborts it (frees its blocks)."""
        q: asyncio.Queue[Output] = asyncio.Queue()
        self._queues[seq.request_id] = q
        self.num_pending += 1
        self._commands.put(("add", seq))
        finished = False
        try:
            while not finished:
                out = await q.get()
                finished = out.finished
                yield out
        finally:
            self.num_pending -= 1
            self._queues.pop(seq.request_id, None)
            if not finished:
                self._commands.put(("abort", seq.request_id))

    async def call(self, fn: Callable[[LLMEngine], Any]) -> Any:
        """Run `fn(engine)` in the engine thread between two steps."""
        future: asyncio.Future = self._loop.create_future()
        self._commands.put(("call", fn, future))
        return await future

    async def install_adapter(self, read: Callable[[int], Adapter]) -> Adapter:
        """`read(generation)` runs in a worker thread (file I/O), the install in the engine."""
        adapter = await asyncio.to_thread(read, next(self._adapter_generation))
        await self.call(lambda engine: engine.runner.adapters.install(adapter))
        return adapter

    async def remove_adapter(self, name: str) -> None:
        """Unload once no queued or running request uses the adapter."""

        def retire(engine: LLMEngine) -> None:
            registry = engine.runner.adapters
            key = registry.adapters[name].key
            if any(s.adapter == key for s in engine.seqs.values()):
                self._retiring.add(name)
            else:
                registry.remove(name)

        await self.call(retire)

    def adapter_key(self, name: str) -> str | None:
        """The key of a loaded adapter that new requests may use (None: no such adapter)."""
        if self.engine is None or name in self._retiring:
            return None
        adapter = self.engine.runner.adapters.adapters.get(name)
        return adapter.key if adapter is not None else None

    def _run(self) -> None:
        try:
            self.engine = self._build()
        except BaseException as exc:
            log.exception("engine failed to start")
            self.error = exc
            return
        self.ready.set()
        engine = self.engine
        while not self._stopping:
            self._drain(block=not engine.has_work())
            if not engine.has_work():
                continue
            try:
                outputs = engine.step()
            except Exception as exc:  # fail the requests in flight, keep serving
                log.exception("engine step failed")
                outputs = [
                    Output(rid, "", finished=True, finish_reason="error", error=str(exc))
                    for rid in list(engine.seqs)
                ]
                for rid in list(engine.seqs):
                    engine.abort(rid)
            self._retire_unused()
            if outputs:
                self._loop.call_soon_threadsafe(self._deliver, outputs)

    def _retire_unused(self) -> None:
        if not self._retiring:
            return
        live = {s.adapter for s in self.engine.seqs.values()}
        registry = self.engine.runner.adapters
        for name in list(self._retiring):
            if registry.adapters[name].key not in live:
                registry.remove(name)
                self._retiring.discard(name)

    def _drain(self, block: bool) -> None:
        try:
            command = self._commands.get(timeout=0.5) if block else self._commands.get_nowait()
        except queue.Empty:
            return
        while True:
            self._execute(command)
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return

    def _execute(self, command: tuple) -> None:
        kind = command[0]
        if kind == "add":
            seq = command[1]
            if seq.adapter and not self.engine.runner.adapters.has_key(seq.adapter):
                error = Output(seq.request_id, "", True, "error", error="adapter was unloaded")
                self._loop.call_soon_threadsafe(self._deliver, [error])
            else:
                self.engine.add(seq)
        elif kind == "abort":
            self.engine.abort(command[1])
        elif kind == "call":
            fn, future = command[1], command[2]
            try:
                result = fn(self.engine)
            except Exception as exc:
                self._loop.call_soon_threadsafe(_set_exception, future, exc)
            else:
                self._loop.call_soon_threadsafe(_set_result, future, result)

    def _deliver(self, outputs: list[Output]) -> None:
        for out in outputs:
            q = self._queues.get(out.request_id)
            if q is not None:
                q.put_nowait(out)


def _set_result(future: asyncio.Future, result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
