import pytest

from modelserver.engine.block_manager import BlockManager
from modelserver.engine.sequence import SamplingParams, Sequence

BS = 4


@pytest.fixture
def make_seq(tokenizer):
    counter = iter(range(1000))

    def make(tokens: list[int], adapter: str | None = None) -> Sequence:
        return Sequence(
            f"r{next(counter)}", tokens, SamplingParams(max_tokens=8), tokenizer, adapter=adapter
        )

    return make


def computed(bm: BlockManager, seq: Sequence) -> None:
    """What the engine does after computing all of a sequence's tokens."""
    seq.num_computed = len(seq)
    bm.commit(seq)


def test_a_new_sequence_gets_blocks_for_all_its_tokens(make_seq):
    bm = BlockManager(10, BS)
    seq = make_seq(list(range(9)))
    bm.allocate(seq)
    assert len(seq.block_table) == 3 and len(set(seq.block_table)) == 3
    assert seq.num_computed == 0 and bm.num_free == 7
    assert bm.usage == pytest.approx(0.3)


def test_a_shared_prefix_is_served_from_the_cache_and_ref_counted(make_seq):
    bm = BlockManager(10, BS)
    first = make_seq(list(range(10)))
    bm.allocate(first)
    computed(bm, first)
    second = make_seq([*range(8), 99, 98, 97])
    bm.allocate(second)
    assert second.block_table[:2] == first.block_table[:2]
    assert second.block_table[2] != first.block_table[2]
    assert second.num_computed == second.num_cached_prompt == 8
    assert [bm.blocks[b].ref_count for b in first.block_table] == [2, 2, 1]


def test_the_block_holding_the_last_prompt_token_is_always_computed(make_seq):
    bm = BlockManager(10, BS)
    first = make_seq(list(range(8)))
    bm.allocate(first)
    computed(bm, first)
    same = make_seq(list(range(8)))
    bm.allocate(same)
    # Block 1 holds the last token, whose logits are needed: recomputed in a block of its own.
    assert same.block_table[0] == first.block_table[0]
    assert same.block_table[1] != first.block_table[1]
    assert same.num_computed == 4


def test_freed_blocks_stay_cached_until_reused(make_seq):
    bm = BlockManager(4, BS)
    first = make_seq(list(range(9)))
    bm.allocate(first)
    computed(bm, first)
    blocks = first.block_table
    bm.free(first)
    assert bm.num_free == 4 and bm.usage == 0.0 and first.block_table == []
    again = make_seq([*range(8), 50])
    assert bm.can_allocate(again)
    bm.allocate(again)
    assert again.block_table[:2] == blocks[:2] and again.num_computed == 8


def test_eviction_takes_unhashed_blocks_first_and_keeps_the_head_of_a_prefix_longest(make_seq):
    bm = BlockManager(4, BS)
    seq = make_seq(list(range(10)))  # [0..3] [4..7] hashed once computed, [8, 9] partial
    bm.allocate(seq)
    computed(bm, seq)
    head, tail, partial = seq.block_table
    (unused,) = set(range(4)) - set(seq.block_table)
    bm.free(seq)
    other = make_seq([7] * 9)  # three fresh blocks
    bm.allocate(other)
    assert other.block_table == [partial, unused, tail]
    assert bm._prefix_hits(make_seq([*range(4), 1])) == [head]


def test_an_adapter_never_shares_the_base_models_blocks(make_seq):
    bm = BlockManager(10, BS)
    base = make_seq(list(range(9)))
    bm.allocate(base)
    computed(bm, base)
    tuned = make_seq(list(range(9)), adapter="shop#1")
    bm.allocate(tuned)
    assert not set(tuned.block_table) & set(base.block_table)


def test_a_sequence_that_does_not_fit_cannot_be_allocated(make_seq):
    bm = BlockManager(3, BS)
    assert not bm.can_allocate(make_seq(list(range(13))))
    assert bm.can_allocate(make_seq(list(range(12))))


def test_cached_but_free_blocks_count_against_the_free_list(make_seq):
    bm = BlockManager(3, BS)
    first = make_seq(list(range(9)))
    bm.allocate(first)
    computed(bm, first)
    bm.free(first)
    # 2 cached blocks revived + 2 fresh = 4 > 3 free.
    assert not bm.can_allocate(make_seq([*range(8), 1, 2, 3, 4, 5]))
    assert bm.can_allocate(make_seq([*range(8), 1, 2, 3, 4]))


def test_decode_asks_for_a_block_only_when_the_last_one_is_full(make_seq):
    bm = BlockManager(10, BS)
    seq = make_seq(list(range(4)))
    bm.allocate(seq)
    computed(bm, seq)
    assert not bm.needs_block(seq)
    seq.token_ids.append(5)
    assert bm.needs_block(seq)
    bm.append_block(seq)
    assert len(seq.block_table) == 2 and bm.num_free == 8
