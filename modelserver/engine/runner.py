"""Runs the model over the paged latent cache: one call per prefill chunk, one batched decode.

On CUDA, decodes replay CUDA graphs captured for a ladder of batch sizes (the batch is padded
up to the next one); padding rows write into a scratch block the block manager never hands out.
If the model cannot be captured (a host sync, a data-dependent shape), decodes stay eager.
"""

from __future__ import annotations

import logging

import torch

from modelserver.engine.lora import AdapterRegistry
from modelserver.engine.sequence import Sequence

log = logging.getLogger(__name__)


class ModelRunner:
    def __init__(
        self,
        model: torch.nn.Module,
        *,
        num_blocks: int,
        block_size: int,
        max_num_seqs: int,
        max_model_len: int,
        cuda_graphs: bool = True,
    ) -> None:
        self.model = model
        self.device = model.device
        self.block_size = block_size
        self.scratch_block = num_blocks  # one extra block, for CUDA-graph padding rows
        self.cache = model.allocate_cache(num_blocks + 1, block_size)
        self.adapters = AdapterRegistry(model)
        self._graphs: _DecodeGraphs | None = None
        if cuda_graphs and self.device.type == "cuda":
            max_blocks = -(-max_model_len // block_size)
            try:
                self._graphs = _DecodeGraphs(self, max_num_seqs, max_blocks)
            except Exception as exc:  # capture is best effort: eager decode always works
                log.warning("CUDA graph capture failed, decoding eagerly: %s", exc)

    def _ints(self, values: list[int], dtype: torch.dtype = torch.long) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=self.device)

    @torch.inference_mode()
    def prefill(self, seq: Sequence, start: int, end: int) -> torch.Tensor:
        """Compute tokens [start, end) of `seq` into the cache -> logits of the last one [V]."""
        ids = self._ints(seq.token_ids[start:end])  # [T]
        table = self._ints(seq.block_table, torch.int32)  # [n]
        with self.adapters.rows([seq.adapter]):
            logits = self.model.prefill(ids, self.cache, table, start)  # [T, V]
        return logits[-1]

    @torch.inference_mode()
    def decode(self, seqs: list[Sequence]) -> torch.Tensor:
        """Compute each sequence's last token into the cache -> logits [B, V]."""
        ids = [s.token_ids[-1] for s in seqs]
        positions = [len(s) - 1 for s in seqs]
        if self._graphs is not None and not any(s.adapter for s in seqs):
            logits = self._graphs.run(ids, positions, [s.block_table for s in seqs])
            if logits is not None:
                return logits
        # The attention reads every column of the table: make it only as wide as needed.
        width = max(len(s.block_table) for s in seqs)
        tables = self._ints([s.block_table + [0] * (width - len(s.block_table)) for s in seqs])
        with self.adapters.rows([s.adapter for s in seqs]):
            return self.model.decode(
                self._ints(ids), self._ints(positions), self.cache, tables.to(torch.int32)
            )


class _DecodeGraphs:
    """CUDA graphs of `model.decode` for batch sizes 1, 2, 4, 8, 16, 24, 32, … max_num_seqs."""

    def __init__(self, runner: ModelRunner, max_num_seqs: int, max_blocks: int) -> None:
        self.runner = runner
        dev = runner.device
        self.sizes = sorted(
            {min(b, max_num_seqs) for b in (1, 2, 4, 8, *range(16, max_num_seqs + 16, 8))}
        )
        top = self.sizes[-1]
        self.ids = torch.zeros(top, dtype=torch.long, device=dev)
        self.positions = torch.zeros(top, dtype=torch.long, device=dev)
        self.tables = torch.full(
            (top, max_blocks), runner.scratch_block, dtype=torch.int32, device=dev
        )
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.logits: dict[int, torch.Tensor] = {}
        pool = None
        model, cache = runner.model, runner.cache
        with torch.inference_mode():
            for size in reversed(self.sizes):  # largest first, so smaller ones reuse its pool
                args = (self.ids[:size], self.positions[:size], cache, self.tables[:size])
                model.decode(*args)  # warm up (kernel compilation, allocator) outside the graph
                torch.cuda.synchronize()
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool):
                    self.logits[size] = model.decode(*args)
                pool = graph.pool()
                self.graphs[size] = graph
        torch.cuda.synchronize()

    def run(
        self, ids: list[int], positions: list[int], tables: list[list[int]]
    ) -> torch.Tensor | None:
        b = len(ids)
        size = next((s for s in self.sizes if s >= b), None)
        if size is None:
            return None
        width = self.tables.shape[1]
        scratch = self.runner.scratch_block
        # Padding rows decode token 0 at position 0 of the scratch block.
        pad = size - b
        self.ids[:size].copy_(torch.tensor(ids + [0] * pad), non_blocking=True)
        self.positions[:size].copy_(torch.tensor(positions + [0] * pad), non_blocking=True)
        rows = [t + [scratch] * (width - len(t)) for t in tables] + [[scratch] * width] * pad
        self.tables[:size].copy_(torch.tensor(rows, dtype=torch.int32), non_blocking=True)
        self.graphs[size].replay()
        return self.logits[size][:b]
