"""A request inside the engine: its tokens, cache blocks, sampling state and output text."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

import torch

from modelserver.chat.grammar import Matcher, ToolConstraint
from modelserver.chat.tokenizer import IncrementalDetokenizer, Tokenizer


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    banned_token_ids: tuple[int, ...] = ()
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, added to its logit)
    constraint: ToolConstraint | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature < 1e-5


class Status(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass
class Output:
    """What one step produced for one request (sent to the HTTP layer)."""

    request_id: str
    text: str  # new text since the last output
    finished: bool = False
    finish_reason: str | None = None  # "stop" | "length" | "abort" | "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    token_ids: list[int] = field(default_factory=list)  # new token ids since the last output
    error: str | None = None


class Sequence:
    def __init__(
        self,
        request_id: str,
        prompt_ids: list[int],
        params: SamplingParams,
        tokenizer: Tokenizer,
        *,
        adapter: str | None = None,
        arrival: float | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.request_id = request_id
        self.token_ids = list(prompt_ids)  # prompt + output; the last one is not yet cached
        self.num_prompt_tokens = len(prompt_ids)
        self.params = params
        self.adapter = adapter
        self.status = Status.WAITING
        self.num_computed = 0  # tokens whose latents are in the cache
        self.num_cached_prompt = 0  # prompt tokens served by the prefix cache
        self.block_table: list[int] = []
        self.num_hashed_blocks = 0
        self.generator: torch.Generator | None = None
        if params.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(params.seed)
        self.matcher = Matcher(params.constraint) if self._constrained_from_start() else None
        self._detok = IncrementalDetokenizer(tokenizer)
        self._stop_ids = set() if params.ignore_eos else tokenizer.stop_ids
        self.text = ""
        self._sent_text = 0
        self._sent_tokens = self.num_prompt_tokens
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.arrival = time.monotonic() if arrival is None else arrival
        self.last_token_time: float | None = None

    def _constrained_from_start(self) -> bool:
        return self.params.constraint is not None and self.params.constraint.trigger_id is None

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    def append(self, token_id: int, max_model_len: int) -> None:
        """Record a sampled token: grammar, stop conditions, text."""
        constraint = self.params.constraint
        if self.matcher is None and constraint is not None and token_id == constraint.trigger_id:
            self.matcher = Matcher(constraint)
        self.token_ids.append(token_id)
        if self.matcher is not None and not self.matcher.accept(token_id):
            # Only if the mask left nothing to sample (e.g. every allowed token banned).
            self.finish_reason, self.error = "error", "no token fits the tool-call grammar"
            return
        if token_id in self._stop_ids or (self.matcher is not None and self.matcher.terminated):
            self.finish_reason = "stop"
            self.text += self._detok.flush()
        else:
            self._append_text(self._detok.push(token_id))
        if self.finish_reason is None and (
            self.num_output_tokens >= self.params.max_tokens or len(self) >= max_model_len
        ):
            self.finish_reason = "length"
            self.text += self._detok.flush()

    def _append_text(self, delta: str) -> None:
        old_len = len(self.text)
        self.text += delta
        for stop in self.params.stop:
            # Only the tail can hold a stop string that this delta completed.
            index = self.text.find(stop, max(0, old_len - len(stop) + 1))
            if index >= 0:
                self.text = self.text[:index]
                self.finish_reason = "stop"
                return

    def take_output(self) -> Output:
        """The text and tokens not yet sent. While running, text that could be the start of a
        stop string is held back: it is sent once the next tokens show it is not a stop."""
        end = len(self.text)
        if self.finish_reason is None:
            for stop in self.params.stop:
                for n in range(min(len(stop) - 1, end), 0, -1):
                    if self.text.endswith(stop[:n]):
                        end = min(end, len(self.text) - n)
                        break
        end = max(end, self._sent_text)
        out = Output(
            request_id=self.request_id,
            text=self.text[self._sent_text : end],
            finished=self.finish_reason is not None,
            finish_reason=self.finish_reason,
            prompt_tokens=self.num_prompt_tokens,
            completion_tokens=self.num_output_tokens,
            cached_tokens=self.num_cached_prompt,
            token_ids=self.token_ids[self._sent_tokens :],
            error=self.error,
        )
        self._sent_text = end
        self._sent_tokens = len(self.token_ids)
        return out
