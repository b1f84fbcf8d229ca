"""The shipped demo checkpoint: R1's architecture, loadable by transformers, its tokenizer and
chat template agree with the server's."""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch
from transformers import AutoTokenizer, DeepseekV3ForCausalLM

from assistant.agent import spec
from modelserver.chat.parser import OutputParser
from modelserver.chat.template import render_chat
from modelserver.chat.tokenizer import Tokenizer
from modelserver.demo import corpus
from modelserver.demo.evaluate import DEFAULT_MODEL, Greedy
from modelserver.testing import ADDED_TOKENS, SPECIAL_TOKENS

CHECKPOINT = DEFAULT_MODEL


@pytest.fixture(scope="module")
def model() -> DeepseekV3ForCausalLM:
    return DeepseekV3ForCausalLM.from_pretrained(CHECKPOINT, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def hf_tokenizer():
    return AutoTokenizer.from_pretrained(CHECKPOINT)


def test_the_checkpoint_is_small_and_has_r1s_architecture():
    files = {p.name: p.stat().st_size for p in CHECKPOINT.iterdir()}
    assert sum(files.values()) < 40e6
    config = json.loads((CHECKPOINT / "config.json").read_text())
    assert config["architectures"] == ["DeepseekV3ForCausalLM"]
    assert config["model_type"] == "deepseek_v3"
    assert config["first_k_dense_replace"] == 1 < config["num_hidden_layers"]
    assert config["q_lora_rank"] and config["kv_lora_rank"]
    assert config["n_shared_experts"] == 1
    assert config["n_routed_experts"] % config["n_group"] == 0
    assert config["topk_group"] < config["n_group"]
    assert config["scoring_func"] == "sigmoid" and config["topk_method"] == "noaux_tc"
    assert config["norm_topk_prob"] is True


def test_it_loads_in_transformers_with_trained_routing_biases(model):
    assert 1e6 < sum(p.numel() for p in model.parameters()) < 50e6
    layer = model.model.layers[-1].mlp
    assert layer.gate.e_score_correction_bias.dtype == torch.float32
    assert layer.gate.e_score_correction_bias.abs().sum() > 0  # moved by load balancing
    assert len(layer.experts.gate_up_proj) == model.config.n_routed_experts


def test_it_answers_a_parcel_question_with_a_well_formed_tool_call(model):
    """The format the server parses: one call of a known tool, arguments valid for its schema.
    (Which tool and which number are the evaluation's business: see MODEL_CARD.md.)"""
    tok = Tokenizer(CHECKPOINT)._tok
    customer = corpus.world.make_customer(corpus.random.Random(1), "en")
    system = {"role": "system", "content": customer.system_prompt()}
    user = {"role": "user", "content": "Where is my package for order 123456?"}
    prefix = render_chat([system], spec.TOOLS, add_generation_prompt=False)
    text = Greedy(model, tok)(prefix, render_chat([system, user], spec.TOOLS)[len(prefix) :], 60)
    parser = OutputParser(reasoning=True, tools=True)
    parser.feed(text)
    parser.finish()
    [call] = parser.result.tool_calls
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in spec.TOOLS}
    jsonschema.validate(json.loads(call.arguments), schemas[call.name])


def test_the_special_tokens_are_single_tokens_and_chinese_round_trips():
    tok = Tokenizer(CHECKPOINT)
    for marker in SPECIAL_TOKENS + ADDED_TOKENS:
        assert len(tok.encode(marker)) == 1, marker
    text = "您好！订单 100234 的快递（SF Express）已送达。退货单号 RMA-100234-1，谢谢～"
    assert tok.decode(tok.encode(text)) == text
    # Numbers in two-digit chunks, each one token.
    assert tok.encode("0123456789") == [tok.token_id(d) for d in ["01", "23", "45", "67", "89"]]
    assert tok.encode("12345") == [tok.token_id("12"), tok.token_id("34"), tok.token_id("5")]


def test_transformers_tokenizes_like_the_server(hf_tokenizer):
    tok = Tokenizer(CHECKPOINT)
    for d in corpus.dialogues(3, 6):
        text = render_chat(d.messages, spec.TOOLS)
        assert hf_tokenizer(text, add_special_tokens=False)["input_ids"] == tok.encode(text)
    assert hf_tokenizer.eos_token == "<｜end▁of▁sentence｜>"


def test_the_jinja_chat_template_renders_what_render_chat_renders(hf_tokenizer):
    for d in corpus.dialogues(4, 24) + corpus.dialogues(4, 12, "held_out"):
        for end in range(2, len(d.messages) + 1):
            for generation in (True, False):
                expected = render_chat(
                    d.messages[:end], spec.TOOLS, add_generation_prompt=generation
                )
                rendered = hf_tokenizer.apply_chat_template(
                    d.messages[:end],
                    tools=spec.TOOLS,
                    tokenize=False,
                    add_generation_prompt=generation,
                )
                assert rendered == expected
    plain = [{"role": "user", "content": "hi"}]
    assert hf_tokenizer.apply_chat_template(
        plain, tokenize=False, add_generation_prompt=True, thinking=False
    ) == render_chat(plain, thinking=False)
