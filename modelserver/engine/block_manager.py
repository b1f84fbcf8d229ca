"""Paged latent cache bookkeeping: block tables, reference counts and prefix caching.

Position p of a sequence lives in block `block_table[p // block_size]`. A block that is full and
computed gets a content hash (chained over the whole prefix, salted by the LoRA adapter, whose
weights change the latents); a later request whose prompt starts with the same blocks shares
them (ref count > 1). Freed blocks keep their hash and stay reusable until they are evicted,
least recently freed first, so a system prompt survives between requests.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict

from modelserver.engine.sequence import Sequence


class Block:
    __slots__ = ("hash", "id", "ref_count", "token_ids")

    def __init__(self, block_id: int) -> None:
        self.id = block_id
        self.ref_count = 0
        self.hash: bytes | None = None
        self.token_ids: tuple[int, ...] = ()


def block_hash(prev: bytes | None, token_ids: list[int], salt: str | None) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(prev or (salt or "").encode())
    h.update(array("q", token_ids).tobytes())
    return h.digest()


class BlockManager:
    def __init__(self, num_blocks: int, block_size: int) -> None:
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.blocks = [Block(i) for i in range(num_blocks)]
        # Free blocks in eviction order (front first); the hashed ones still hold valid latents.
        self._free: OrderedDict[int, None] = OrderedDict.fromkeys(range(num_blocks))
        self._by_hash: dict[bytes, int] = {}

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def usage(self) -> float:
        """Fraction of blocks held by live sequences."""
        return 1.0 - self.num_free / self.num_blocks

    def blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    def _prefix_hits(self, seq: Sequence) -> list[int]:
        """Cached blocks matching the sequence's leading full blocks. The block holding the last
        token is never taken from the cache: its logits must be computed."""
        hits: list[int] = []
        prev = None
        bs = self.block_size
        for i in range((len(seq) - 1) // bs):
            tokens = seq.token_ids[i * bs : (i + 1) * bs]
            prev = block_hash(prev, tokens, seq.adapter)
            block_id = self._by_hash.get(prev)
            if block_id is None or self.blocks[block_id].token_ids != tuple(tokens):
                break
            hits.append(block_id)
        return hits

    def can_allocate(self, seq: Sequence) -> bool:
        hits = self._prefix_hits(seq)
        revived = sum(1 for b in hits if self.blocks[b].ref_count == 0)  # these leave the free list
        return self.blocks_for(len(seq)) - len(hits) + revived <= self.num_free

    def allocate(self, seq: Sequence) -> None:
        """Give a waiting sequence blocks for all its tokens, shared ones first."""
        assert not seq.block_table
        hits = self._prefix_hits(seq)
        for block_id in hits:
            block = self.blocks[block_id]
            if block.ref_count == 0:
                del self._free[block_id]
            block.ref_count += 1
            seq.block_table.append(block_id)
        seq.num_computed = seq.num_hashed_blocks = len(hits)
        seq.num_computed *= self.block_size
        if seq.num_output_tokens == 0:
            seq.num_cached_prompt = seq.num_computed
        while len(seq.block_table) < self.blocks_for(len(seq)):
            seq.block_table.append(self._take_fresh())

    def _take_fresh(self) -> int:
        block_id, _ = self._free.popitem(last=False)
        block = self.blocks[block_id]
        if block.hash is not None and self._by_hash.get(block.hash) == block_id:
            del self._by_hash[block.hash]
        block.hash, block.token_ids, block.ref_count = None, (), 1
        return block_id

    def needs_block(self, seq: Sequence) -> bool:
        """Whether the next step (computing the last token) needs one more block."""
        return len(seq.block_table) < self.blocks_for(len(seq))

    def append_block(self, seq: Sequence) -> None:
        seq.block_table.append(self._take_fresh())

    def commit(self, seq: Sequence) -> None:
        """Hash the blocks that the last step filled, so later requests can share them."""
        bs = self.block_size
        full = seq.num_computed // bs
        done = seq.num_hashed_blocks
        prev = self.blocks[seq.block_table[done - 1]].hash if done else None
        for i in range(done, full):
            tokens = seq.token_ids[i * bs : (i + 1) * bs]
            prev = block_hash(prev, tokens, seq.adapter)
            block = self.blocks[seq.block_table[i]]
            block.hash, block.token_ids = prev, tuple(tokens)
            self._by_hash.setdefault(prev, block.id)
        seq.num_hashed_blocks = max(done, full)

    def free(self, seq: Sequence) -> None:
        """Release a sequence's blocks. Tail blocks first, so that prefixes are evicted last;
        blocks without a hash are useless to others and go to the front."""
        for block_id in reversed(seq.block_table):
            block = self.blocks[block_id]
            block.ref_count -= 1
            if block.ref_count == 0:
                self._free[block_id] = None
                if block.hash is None:
                    self._free.move_to_end(block_id, last=False)
        seq.block_table = []
        seq.num_computed = seq.num_hashed_blocks = 0
