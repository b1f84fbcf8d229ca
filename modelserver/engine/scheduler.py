"""Continuous batching with chunked prefill.

Every step: all running sequences that are decoding get one token each (one batched decode);
what is left of the step's token budget goes to prefill chunks, first of sequences already
prefilling, then of newly admitted ones. A sequence is admitted only when the cache has blocks
for all its tokens; when a decoding sequence needs a block and none is free, the most recently
admitted sequence is preempted: its blocks are freed and it waits at the front of the queue to be
recomputed (its output so far is kept, so nothing is dropped or sent twice).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from modelserver.engine.block_manager import BlockManager
from modelserver.engine.sequence import Sequence, Status


@dataclass
class Batch:
    prefills: list[tuple[Sequence, int, int]] = field(default_factory=list)  # (seq, start, end)
    decodes: list[Sequence] = field(default_factory=list)


class Scheduler:
    def __init__(
        self, block_manager: BlockManager, *, max_num_seqs: int, max_batched_tokens: int
    ) -> None:
        self.blocks = block_manager
        self.max_num_seqs = max_num_seqs
        self.max_batched_tokens = max_batched_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # in admission order
        self.num_preemptions = 0

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def remove(self, seq: Sequence) -> None:
        """Take a finished or aborted sequence out and free its blocks at once."""
        if seq in self.running:
            self.running.remove(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        self.blocks.free(seq)
        seq.status = Status.FINISHED

    def _preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.blocks.free(seq)
        seq.status = Status.WAITING
        self.waiting.appendleft(seq)
        self.num_preemptions += 1

    def schedule(self) -> Batch:
        batch = Batch()
        # 1. Decodes: sequences whose only uncomputed token is the last one.
        for seq in list(self.running):
            if seq.status is not Status.RUNNING or len(seq) - seq.num_computed != 1:
                continue
            while self.blocks.needs_block(seq) and self.blocks.num_free == 0:
                self._preempt(self.running[-1])
                if seq.status is not Status.RUNNING:
                    break
            if seq.status is Status.RUNNING:
                if self.blocks.needs_block(seq):
                    self.blocks.append_block(seq)
                batch.decodes.append(seq)
        budget = self.max_batched_tokens - len(batch.decodes)
        # 2. Chunks of prompts already being prefilled (their blocks are allocated).
        for seq in self.running:
            remaining = len(seq) - seq.num_computed
            if budget <= 0:
                break
            if remaining > 1:
                chunk = min(remaining, budget)
                batch.prefills.append((seq, seq.num_computed, seq.num_computed + chunk))
                budget -= chunk
        # 3. Admit waiting sequences while there is room in the batch and in the cache.
        while (
            self.waiting
            and budget > 0
            and len(self.running) < self.max_num_seqs
            and self.blocks.can_allocate(self.waiting[0])
        ):
            seq = self.waiting.popleft()
            self.blocks.allocate(seq)
            seq.status = Status.RUNNING
            self.running.append(seq)
            remaining = len(seq) - seq.num_computed
            if remaining == 1:
                batch.decodes.append(seq)  # fully served by the prefix cache
                budget -= 1
            else:
                chunk = min(remaining, budget)
                batch.prefills.append((seq, seq.num_computed, seq.num_computed + chunk))
                budget -= chunk
        return batch
