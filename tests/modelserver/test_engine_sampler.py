import math

import pytest
import torch

from modelserver.engine.sampler import Sampler
from modelserver.engine.sequence import SamplingParams, Sequence

PROBS = [0.7, 0.2, 0.1, 0.0]
LOGITS = torch.tensor([math.log(p) if p else -30.0 for p in PROBS])


@pytest.fixture
def seq(tokenizer):
    def make(**params) -> Sequence:
        return Sequence("r", [0], SamplingParams(max_tokens=4, **params), tokenizer)

    return make


def draw(sampler: Sampler, seqs: list[Sequence], logits: torch.Tensor, n: int) -> list[list[int]]:
    return [sampler(logits.clone(), seqs) for _ in range(n)]


def frequencies(tokens: list[int]) -> list[float]:
    return [tokens.count(t) / len(tokens) for t in range(len(PROBS))]


def test_greedy_rows_take_the_argmax_next_to_sampled_rows(seq):
    logits = torch.randn(3, 50)
    seqs = [seq(temperature=0), seq(temperature=1.5), seq(temperature=0)]
    for tokens in draw(Sampler(50), seqs, logits, 20):
        assert tokens[0] == int(logits[0].argmax()) and tokens[2] == int(logits[2].argmax())


def test_sampling_follows_the_model_distribution(seq):
    tokens = [t[0] for t in draw(Sampler(4), [seq(temperature=1.0)], LOGITS[None], 3000)]
    for got, want in zip(frequencies(tokens), PROBS, strict=True):
        assert got == pytest.approx(want, abs=0.03)


def test_low_temperature_sharpens_the_distribution(seq):
    tokens = [t[0] for t in draw(Sampler(4), [seq(temperature=0.3)], LOGITS[None], 1000)]
    assert frequencies(tokens)[0] > 0.95


def test_top_k_and_top_p_cut_the_tail(seq):
    sampler = Sampler(4)
    top_k = {t[0] for t in draw(sampler, [seq(top_k=2)], LOGITS[None], 400)}
    assert top_k == {0, 1}
    # Mass ranked above token 1 is 0.7 <= 0.8 (kept), above token 2 is 0.9 (cut).
    top_p = {t[0] for t in draw(sampler, [seq(top_p=0.8)], LOGITS[None], 400)}
    assert top_p == {0, 1}
    assert {t[0] for t in draw(sampler, [seq(top_p=0.01)], LOGITS[None], 50)} == {0}


def test_a_seed_gives_the_same_tokens_whatever_else_is_in_the_batch(seq):
    torch.manual_seed(0)
    logits = torch.randn(1, 40)
    sampler = Sampler(40)
    alone = seq(temperature=1.0, seed=1234)
    solo = [sampler(logits.clone(), [alone])[0] for _ in range(30)]
    batched_seq = seq(temperature=1.0, seed=1234)
    batch = torch.cat([torch.randn(2, 40), logits, torch.randn(1, 40)])
    others = [seq(temperature=1.0), seq(temperature=0.7, seed=5), batched_seq, seq(temperature=0)]
    in_batch = [sampler(batch.clone(), others)[2] for _ in range(30)]
    assert solo == in_batch
    assert len(set(solo)) > 5  # it did sample


def test_different_seeds_give_different_tokens(seq):
    logits = torch.zeros(1, 1000)
    sampler = Sampler(1000)
    a, b = seq(seed=1), seq(seed=2)
    assert [sampler(logits.clone(), [a])[0] for _ in range(5)] != [
        sampler(logits.clone(), [b])[0] for _ in range(5)
    ]


def test_ids_past_the_tokenizer_vocab_are_never_sampled(seq):
    logits = torch.zeros(1, 8)
    logits[0, 6:] = 50.0  # padding rows of the embedding may have any logits
    assert {t[0] for t in draw(Sampler(6), [seq(temperature=1.0)], logits, 100)} <= set(range(6))
    assert Sampler(6)(logits.clone(), [seq(temperature=0)]) != [6]


def test_logit_bias_and_banned_tokens_apply_before_sampling(seq):
    sampler = Sampler(4)
    assert sampler(LOGITS[None].clone(), [seq(temperature=0, logit_bias=((2, 5.0),))]) == [2]
    assert sampler(LOGITS[None].clone(), [seq(temperature=0, banned_token_ids=(0,))]) == [1]
