"""`python -m modelserver train-demo --out DIR`: train the demo model on CPU (or a GPU).

The recipe, all in this file: a tokenizer trained on the corpus; a DeepSeek-V3/R1-architecture
config in miniature; AdamW with linear warmup and cosine decay; R1's auxiliary-loss-free load
balancing (after each step every MoE layer's `e_score_correction_bias` moves by ±gamma against
its experts' load); loss only on what the model writes (targets), never on prompts.

Cost: every chat example starts with the same ~1,050-token system prompt and tool list, so a
step takes the conversations of one customer, runs that prefix once (without gradients) and lets
every example attend to its cached latents. Each conversation is one row packed as a tree
(`Row`): its turns are computed once, and each assistant turn's prompt and target branch off it.

State (model, optimiser, step) is saved every `--save-every` steps to `--state`; `--resume`
continues from it; `--init DIR` starts from a checkpoint (its weights and tokenizer) instead of
random weights, with a new optimiser and schedule. At the end DIR gets the Hugging Face
checkpoint (weights in bf16), the tokenizer, `train_log.jsonl`, `metrics.json` (appended to by
eval-demo) and `loss.png`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
from transformers.cache_utils import DynamicCache

from assistant.agent import spec
from modelserver.chat.template import GENERATION_THINKING, render_chat
from modelserver.demo import corpus, world
from modelserver.demo import tokenizer as demo_tokenizer

MAX_POSITIONS = 4096


def model_config(vocab_size: int, size: str = "demo") -> DeepseekV3Config:
    """R1's architecture (MLA with q/kv LoRA, first layer dense, grouped sigmoid routing with
    noaux_tc and a shared expert, YaRN RoPE) at CPU scale; "tiny" is for tests."""
    dims = {
        "demo": dict(hidden_size=192, intermediate_size=384, moe_intermediate_size=96, num_hidden_layers=4,
                     num_attention_heads=8, q_lora_rank=96, kv_lora_rank=48),
        "tiny": dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2,
                     num_attention_heads=2, q_lora_rank=32, kv_lora_rank=16),
    }[size]  # fmt: skip
    return DeepseekV3Config(
        vocab_size=vocab_size,
        **dims,
        first_k_dense_replace=1,
        num_key_value_heads=dims["num_attention_heads"],
        n_shared_experts=1,
        n_routed_experts=8,
        num_experts_per_tok=2,
        n_group=4,
        topk_group=2,
        routed_scaling_factor=2.5,
        norm_topk_prob=True,
        scoring_func="sigmoid",
        topk_method="noaux_tc",
        qk_nope_head_dim=16,
        qk_rope_head_dim=16,
        v_head_dim=32,  # = qk_nope + qk_rope: lets SDPA use its fused CPU kernel
        max_position_embeddings=MAX_POSITIONS,
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": 10000.0,
            "factor": 2.0,
            "original_max_position_embeddings": MAX_POSITIONS // 2,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
        },
        rms_norm_eps=1e-6,
        hidden_act="silu",
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=False,
        initializer_range=0.02,
    )


# --- data ---


@dataclass
class Row:
    """One dialogue packed as a tree: the conversation ("trunk") with, after each point where the
    assistant speaks, a branch holding the generation prompt and what the model writes there.
    A branch sees the trunk before it and itself; the trunk never sees a branch. So every branch
    sees exactly the serving prompt of its turn, and the shared history is computed once."""

    ids: list[int]
    positions: list[int]  # trunk positions continue across branches
    branch: list[int]  # 0: trunk, k > 0: the k-th branch
    labels: list[int]  # the next token where it is a target, else -100
    # The next trunk token for trunk tokens (the customer's words, tool results, earlier replies),
    # else -100: extra language-modelling signal, weighted by `--context-weight`.
    context: list[int] = field(default_factory=list)
    # Which conversation of a row that packs several (fine-tuning packs one customer's): a token
    # sees only its own. Empty: one conversation.
    segment: list[int] = field(default_factory=list)


class LossSums(NamedTuple):
    """Summed cross-entropy and token counts: on targets (what the model writes when serving) and
    on context (the rest of the conversation, empty for FIM)."""

    target: torch.Tensor
    n_target: int
    context: torch.Tensor
    n_context: int


@dataclass
class Batch:
    prefix: list[int]  # shared by every row (the system prompt and tools); may be empty
    rows: list[Row]
    kind: str = "chat"  # chat | fim | drill
    # Return-reason drills (`reason_rows`), after the same prefix: their mean loss is weighted on
    # its own (`--reason-weight`), since among the rows' targets they are a few tokens in 2,000.
    reasons: list[Row] = field(default_factory=list)


def _branch_start(tok) -> list[int]:
    return tok.encode(GENERATION_THINKING).ids


def dialogue_row(tok, messages: list[dict], prefix_text: str) -> Row:
    """`messages` (OpenAI-style, the system prompt first) as a tree after `prefix_text`."""
    row = Row([], [], [], [])
    done, trunk, k = prefix_text, 0, 0
    head = _branch_start(tok)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = render_chat(messages[:i], spec.TOOLS)
        assert prompt.startswith(done) and prompt.endswith(GENERATION_THINKING)
        # Every cut sits next to an added token (a marker), so the pieces tokenize as the whole.
        part = tok.encode(prompt[len(done) : -len(GENERATION_THINKING)]).ids
        row.ids += part
        row.positions += range(trunk, trunk + len(part))
        row.branch += [0] * len(part)
        row.labels += [-100] * len(part)
        trunk += len(part)
        done = prompt[: -len(GENERATION_THINKING)]
        k += 1
        target = tok.encode(corpus.target_text(m)).ids
        ids = head + target
        row.ids += ids
        row.positions += range(trunk, trunk + len(ids))
        row.branch += [k] * len(ids)
        row.labels += [-100] * (len(head) - 1) + target + [-100]
    trunk_at = [i for i, b in enumerate(row.branch) if b == 0]
    row.context = [-100] * len(row.ids)
    for i, j in itertools.pairwise(trunk_at):
        row.context[i] = row.ids[j]
    return row


def chat_batches(tok, dialogues: list[corpus.Dialogue]) -> list[Batch]:
    """One batch per customer: their shared system prompt + tools prefix, one row per dialogue."""
    by_prompt: dict[str, list[corpus.Dialogue]] = {}
    for d in dialogues:
        by_prompt.setdefault(d.messages[0]["content"], []).append(d)
    batches = []
    for group in by_prompt.values():
        prefix_text = render_chat(group[0].messages[:1], spec.TOOLS, add_generation_prompt=False)
        rows = [dialogue_row(tok, d.messages, prefix_text) for d in group]
        batches.append(Batch(tok.encode(prefix_text).ids, rows))
    return batches


def fim_batches(tok, pairs: list[tuple[str, str]], per_batch: int) -> list[Batch]:
    rows = []
    for prompt, target in pairs:
        p, t = tok.encode(prompt).ids, tok.encode(target).ids
        n = len(p) + len(t)
        labels = [-100] * (len(p) - 1) + t + [-100]
        rows.append(Row(p + t, list(range(n)), [0] * n, labels, [-100] * n))
    return [Batch([], rows[i : i + per_batch], "fim") for i in range(0, len(rows), per_batch)]


def _sub_batches(rows: list[Row], max_tokens: int) -> list[list[Row]]:
    """Rows sorted by length and cut so that each padded sub-batch holds <= max_tokens."""
    out: list[list[Row]] = []
    for row in sorted(rows, key=lambda r: len(r.ids)):
        if out and len(row.ids) * (len(out[-1]) + 1) <= max_tokens:
            out[-1].append(row)
        else:
            out.append([row])
    return out


# --- loss ---


def _cache_from(
    prefix_kv: list[tuple[torch.Tensor, torch.Tensor]], batch: int, config
) -> DynamicCache:
    """A cache holding the prefix for every row: one prefix shared (batch 1, expanded), or one
    per row."""
    cache = DynamicCache(config=config)
    for layer, (k, v) in enumerate(prefix_kv):
        cache.update(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1), layer)
    return cache


def _tree_mask(
    branch: torch.Tensor, segment: torch.Tensor, prefix: torch.Tensor, prefix_width: int
) -> torch.Tensor:
    """(rows, 1, width, prefix_width + width) bool: the row's prefix (its first `prefix[row]`
    cached positions), then earlier trunk tokens and earlier tokens of one's own branch, within
    one's own segment; padding (branch -1) sees the prefix and itself only."""
    rows, width = branch.shape
    causal = torch.ones(width, width, dtype=torch.bool, device=branch.device).tril()
    same = (branch[:, None, :] == 0) | (branch[:, None, :] == branch[:, :, None])
    local = causal & same & (branch[:, None, :] >= 0)
    local &= segment[:, None, :] == segment[:, :, None]
    local |= torch.eye(width, dtype=torch.bool, device=branch.device)
    seen = torch.arange(prefix_width, device=branch.device)[None, None, :] < prefix[:, None, None]
    return torch.cat([seen.expand(rows, width, prefix_width), local], dim=2)[:, None]


@torch.no_grad()
def prefix_latents(model: DeepseekV3ForCausalLM, prefix: list[int]) -> list:
    """The cached keys and values of a prefix that rows share, computed once and without
    gradients: it is the same text in every batch (the system prompt and tools), so the few
    parameters only it would train gain little for a third of the step's cost."""
    cache = DynamicCache(config=model.config)
    ids = torch.tensor([prefix], device=model.device)
    model.model(input_ids=ids, past_key_values=cache, use_cache=True)
    return [(layer.keys, layer.values) for layer in cache.layers]


@dataclass
class Forward:
    hidden: torch.Tensor  # [rows, width, hidden]
    labels: torch.Tensor  # [rows, width], -100 where there is no target
    context: torch.Tensor  # [rows, width], -100 where there is no context token


def forward_rows(
    model: DeepseekV3ForCausalLM,
    rows: list[Row],
    pad_id: int,
    prefix_kv: list | None = None,
    meter: LoadMeter | None = None,
    prefix_lengths: list[int] | None = None,
) -> Forward:
    """Rows padded into one batch and run after their prefix: none, one shared by all rows
    (`prefix_kv` of batch 1), or one per row (batch = rows, padded at the end to the longest,
    `prefix_lengths` giving each row's own length)."""
    width_p = prefix_kv[0][0].shape[2] if prefix_kv else 0
    offset = torch.tensor(prefix_lengths or [width_p] * len(rows))
    width = max(len(r.ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    branch = torch.full((len(rows), width), -1)
    segment = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    context = torch.full((len(rows), width), -100)
    for i, r in enumerate(rows):
        n = len(r.ids)
        ids[i, :n], positions[i, :n] = torch.tensor(r.ids), torch.tensor(r.positions)
        branch[i, :n], labels[i, :n] = torch.tensor(r.branch), torch.tensor(r.labels)
        if r.context:
            context[i, :n] = torch.tensor(r.context)
        if r.segment:
            segment[i, :n] = torch.tensor(r.segment)
    device = model.device
    ids, positions, branch, segment, offset = (
        t.to(device) for t in (ids, positions, branch, segment, offset)
    )
    labels, context = labels.to(device), context.to(device)
    if meter:
        meter.mask = (branch >= 0).reshape(-1)
    cache = _cache_from(prefix_kv, len(rows), model.config) if prefix_kv else None
    hidden = model.model(
        input_ids=ids,
        attention_mask=_tree_mask(branch, segment, offset, width_p),
        position_ids=positions + offset[:, None],
        past_key_values=cache,
        use_cache=cache is not None,
    ).last_hidden_state
    return Forward(hidden, labels, context)


def batch_loss(
    model: DeepseekV3ForCausalLM,
    batch: Batch,
    pad_id: int,
    max_tokens: int = 4096,
    meter: LoadMeter | None = None,
) -> LossSums:
    """Summed cross-entropy over the targets and the context tokens of `batch`."""
    prefix_kv = None
    if batch.prefix:
        if meter:
            meter.mask = None
        prefix_kv = prefix_latents(model, batch.prefix)
    total, count, ctx_total, ctx_count = torch.zeros(()), 0, torch.zeros(()), 0
    for group in _sub_batches(batch.rows, max_tokens):
        out = forward_rows(model, group, pad_id, prefix_kv, meter)
        keep = out.labels != -100
        # The vocabulary only where there is a target.
        logits = model.lm_head(out.hidden[keep]).float()
        total = total + F.cross_entropy(logits, out.labels[keep], reduction="sum")
        count += int(keep.sum())
        keep = out.context != -100
        if keep.any():
            logits = model.lm_head(out.hidden[keep]).float()
            ctx_total = ctx_total + F.cross_entropy(logits, out.context[keep], reduction="sum")
            ctx_count += int(keep.sum())
    return LossSums(total, count, ctx_total, ctx_count)


def step_loss(
    model: DeepseekV3ForCausalLM,
    batch: Batch,
    pad_id: int,
    context_weight: float,
    reason_weight: float,
    meter: LoadMeter | None = None,
) -> tuple[torch.Tensor, dict]:
    """The loss to descend on for `batch`, and its parts for the training log."""
    sums = batch_loss(model, batch, pad_id, meter=meter)
    # Per target token, so that the context weight is a share of the step's signal whatever the
    # mix of the batch.
    loss = (sums.target + context_weight * sums.context) / sums.n_target
    figures = {
        "loss": round(sums.target.item() / sums.n_target, 4),
        "context_loss": round(sums.context.item() / max(sums.n_context, 1), 4),
        "tokens": sums.n_target,
    }
    if batch.reasons:
        reason = batch_loss(model, Batch(batch.prefix, batch.reasons), pad_id, meter=meter)
        loss = loss + reason_weight * reason.target / reason.n_target
        figures["reason_loss"] = round(reason.target.item() / reason.n_target, 4)
    return loss, figures


# --- load balancing (DeepSeek-V3 §2.1.2, auxiliary-loss-free) ---


class LoadMeter:
    """Counts, per MoE layer, how many real (non-pad) tokens each routed expert received."""

    def __init__(self, model: DeepseekV3ForCausalLM) -> None:
        self.gates = [layer.mlp.gate for layer in model.model.layers if hasattr(layer.mlp, "gate")]
        self.counts = [torch.zeros(g.num_experts) for g in self.gates]
        self.mask: torch.Tensor | None = None
        for i, gate in enumerate(self.gates):
            gate.register_forward_hook(self._hook(i))

    def _hook(self, i: int):
        def hook(_module, _inputs, output) -> None:
            indices = output[2]  # (tokens, top_k)
            if self.mask is not None and self.mask.numel() == indices.shape[0]:
                indices = indices[self.mask]
            self.counts[i] += torch.bincount(
                indices.reshape(-1), minlength=len(self.counts[i])
            ).float()

        return hook

    def reset(self) -> None:
        for c in self.counts:
            c.zero_()


@torch.no_grad()
def update_bias(meter: LoadMeter, gamma: float) -> float:
    """Raise the bias of under-loaded experts and lower it for over-loaded ones by gamma.
    Returns the mean max/mean load ratio before the update (1.0 is perfect balance)."""
    imbalance = []
    for gate, load in zip(meter.gates, meter.counts, strict=True):
        if load.sum() == 0:
            continue
        gate.e_score_correction_bias += gamma * torch.sign(load.mean() - load)
        imbalance.append(float(load.max() / load.mean()))
    meter.reset()
    return sum(imbalance) / max(len(imbalance), 1)


# --- training ---


def lr_at(step: int, progress: float, peak: float, warmup: int) -> float:
    """Linear warmup over `warmup` steps, then cosine decay to 10% as `progress` goes 0 -> 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def copy_rows(tok, rng: random.Random, count: int, *, as_targets: bool = False) -> list[Row]:
    """Copying drills: some text, a random span (mostly digits), more text, the span again, with
    a loss on the repeat (as context, or as targets in a drill-only batch). Quoting order,
    tracking and RMA numbers is this skill; the dialogues alone teach it slowly (the loss sat on
    a plateau with numbers mis-copied)."""
    plain = range(3, tok.get_vocab_size() - len(demo_tokenizer.ADDED_TOKENS))  # no special tokens
    rows = []
    for _ in range(count):
        if rng.random() < 0.7:  # a number, as the tokenizer splits it
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 18)))
            span = tok.encode(digits).ids
        else:
            span = [rng.choice(plain) for _ in range(rng.randint(2, 8))]
        before = [rng.choice(plain) for _ in range(rng.randint(0, 8))]
        between = [rng.choice(plain) for _ in range(rng.randint(0, 24))]
        ids = before + span + between + span
        start = len(before) + len(span) + len(between)  # the repeat
        context = [-100] * len(ids)
        for i in range(start, len(ids) - 1):
            context[i] = ids[i + 1]
        n = len(ids)
        none = [-100] * n
        rows.append(
            Row(ids, list(range(n)), [0] * n, *((context, none) if as_targets else (none, context)))
        )
    return rows


def reason_rows(tok, rng: random.Random, customer: world.Customer, count: int) -> list[Row]:
    """Return-reason drills: `customer`'s return requests cut at their `return_create` call,
    packed as `dialogue_row` packs them (after the customer's system prompt, the batch's prefix),
    with the loss on the reason alone. In the dialogues the reason is one token of ~2,000 targets
    a step: every checkpoint up to v14 chose it at chance (MODEL_CARD.md, v14). Without the
    system prompt these drills taught it there, but only a third of that carried over to the
    serving context (v16's first 200 steps)."""
    system = [{"role": "system", "content": customer.system_prompt()}]
    prefix_text = render_chat(system, spec.TOOLS, add_generation_prompt=False)
    rows: list[Row] = []
    while len(rows) < count:
        (d,) = corpus.decision_turns(rng, customer, ["return_open"], 1)
        call = d.checks[-1]
        if call["tool"] != "return_create":  # nothing returnable: no reason to choose
            continue
        row = dialogue_row(tok, d.messages, prefix_text)
        target = corpus.target_text(d.messages[-1])
        enc = tok.encode(target)
        reason = call["arguments"]["reason"]
        begin = target.index(f'"reason": "{reason}"') + len('"reason": "')
        # The call is the row's last branch: its k-th token is the target at this index + k.
        first = len(row.ids) - len(enc.ids) - 1
        labels = [-100] * len(row.ids)
        for k, (a, _end) in enumerate(enc.offsets):
            if begin <= a < begin + len(reason):
                labels[first + k] = enc.ids[k]
        rows.append(replace(row, labels=labels, context=[-100] * len(row.ids)))
    return rows


def _copy_schedule(text: str) -> list[tuple[int, int]]:
    try:
        pairs = [tuple(int(x) for x in item.split(":")) for item in text.split(",") if item]
    except ValueError:
        raise argparse.ArgumentTypeError(f"want STEP:ROWS,STEP:ROWS, not {text!r}") from None
    return sorted(pairs)


def copies_at(schedule: list[tuple[int, int]], step: int) -> int:
    """The drills per step that `schedule` ([(from_step, rows)], sorted) sets at `step`."""
    return next((rows for start, rows in reversed(schedule) if step >= start), 0)


DRILL_BATCH = 128


def step_batch(
    tok,
    seed: int,
    step: int,
    fim_every: int,
    fim_batch: int,
    dialogues: int,
    copies: int = 0,
    drill_only: tuple[int, int] = (0, 0),
    tool_drills: int = 0,
    drill_intents: list[str] = corpus.DRILL_INTENTS,
    reasons: int = 0,
) -> Batch:
    """The batch of one step, generated from (seed, step) alone, so a resumed run sees the same
    data: one customer's conversations (plus `tool_drills` conversations of `drill_intents` cut
    after their decision, `reasons` return-reason drills and `copies` copying drills), or after
    every `fim_every` of those a FIM batch; steps in the `drill_only` range [start, end) train
    copying drills alone."""
    if drill_only[0] <= step < drill_only[1]:
        rows = copy_rows(tok, random.Random(f"{seed}-drill-{step}"), DRILL_BATCH, as_targets=True)
        return Batch([], rows, "drill")
    if (step + 1) % (fim_every + 1) == 0:
        return fim_batches(tok, corpus.fim_examples(f"{seed}-{step}", fim_batch), fim_batch)[0]
    rng = random.Random(f"{seed}-chat-{step}")
    group = corpus.customer_dialogues(rng, "train", dialogues)
    group += corpus.decision_turns(rng, group[0].customer, drill_intents, tool_drills)
    batch = chat_batches(tok, group)[0]
    batch.reasons = reason_rows(
        tok, random.Random(f"{seed}-reason-{step}"), group[0].customer, reasons
    )
    batch.rows += copy_rows(tok, random.Random(f"{seed}-copy-{step}"), copies)
    return batch


def tokenizer_texts(seed: int, dialogues: int, fim: int):
    for d in corpus.dialogues(seed + 1, dialogues):
        yield render_chat(d.messages, spec.TOOLS, add_generation_prompt=False)
        for m in d.messages:
            if m["role"] == "assistant":
                yield corpus.target_text(m)
    for prompt, target in corpus.fim_examples(seed + 1, fim):
        yield prompt + target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="checkpoint directory to write")
    parser.add_argument("--state", type=Path, help="training state (default: var/demo-train)")
    parser.add_argument("--steps", type=int, default=3000, help="at most this many steps")
    parser.add_argument(
        "--minutes", type=float, default=0, help="time budget: the schedule ends when it is spent"
    )
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=["demo", "tiny"], default="demo")
    parser.add_argument("--vocab", type=int, default=6000)
    # At 3e-3 induction heads (what copying a number needs) did not form in 1,200 steps.
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--gamma", type=float, default=1e-3, help="bias update speed")
    parser.add_argument(
        "--copy-rows",
        type=_copy_schedule,
        default=[(0, 32)],
        help="copying drills per chat step from a step on, e.g. 2225:16,3000:96",
    )
    parser.add_argument(
        "--drill-only",
        type=lambda text: tuple(int(x) for x in text.split(":")),
        default=(0, 1250),
        help="steps START:END train copying drills alone (128 rows a step); they grow the "
        "induction heads that copying order numbers needs before the dialogues start",
    )
    parser.add_argument(
        "--tool-drills",
        type=int,
        default=0,
        help="conversations per chat step cut after their decision (tool calls or refusal): the "
        "tool, the return reason or the SKU are a few tokens of a dialogue's ~100 targets",
    )
    parser.add_argument(
        "--drill-intents",
        type=corpus.intent_list,
        default=corpus.DRILL_INTENTS,
        help="the main intents of the tool drills, drawn evenly (default: all that call a tool, "
        "and the refusals)",
    )
    parser.add_argument(
        "--reason-drills",
        type=int,
        default=0,
        help="return-reason drills per chat step: the step's customer's return requests cut "
        "at their return_create call, with the loss on the reason alone",
    )
    parser.add_argument(
        "--reason-weight",
        type=float,
        default=1.0,
        help="weight of the reason drills' mean loss, added to the step's loss per target token",
    )
    parser.add_argument(
        "--init",
        type=Path,
        help="start from this checkpoint (weights and tokenizer) instead of random weights",
    )
    parser.add_argument(
        "--context-weight",
        type=float,
        default=0.5,
        help="weight of the loss on the conversation's other tokens, relative to the targets",
    )
    parser.add_argument(
        "--fim-every", type=int, default=10, help="a FIM batch after N chat batches"
    )
    parser.add_argument("--fim-batch", type=int, default=16)
    parser.add_argument("--dialogues-per-step", type=int, default=corpus.GROUP)
    parser.add_argument("--tokenizer-dialogues", type=int, default=4000)
    parser.add_argument("--save-every", type=int, default=25)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="bf16 autocast; off by default: on a CPU without native bf16 (AVX512-BF16/AMX) a "
        "chat step took 15 s with it and 2.5 s in fp32",
    )


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    state_dir = args.state or Path("var/demo-train")
    state_dir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    tok_dir = state_dir / "tokenizer"
    if args.init and not args.resume:
        copy_tokenizer(args.init, tok_dir)
    if (args.resume or args.init) and (tok_dir / "tokenizer.json").exists():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    else:
        texts = tokenizer_texts(
            args.seed, args.tokenizer_dialogues, args.tokenizer_dialogues * 3 // 8
        )
        tok = demo_tokenizer.train_tokenizer(texts, args.vocab)
        demo_tokenizer.save(tok, tok_dir, MAX_POSITIONS)
    print(f"tokenizer ready: {tok.get_vocab_size()} tokens, {time.time() - t0:.0f}s", flush=True)

    torch.manual_seed(args.seed)
    if args.init:  # its own config, not --size: the weights fit only it
        model = DeepseekV3ForCausalLM.from_pretrained(args.init, dtype=torch.float32)
    else:
        model = DeepseekV3ForCausalLM(model_config(tok.get_vocab_size(), args.size))
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
    )
    start, elapsed = 0, 0.0
    state_file = state_dir / "state.pt"
    log_path = state_dir / "train_log.jsonl"
    if args.resume and state_file.exists():
        state = torch.load(state_file, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, elapsed = state["step"], state["elapsed"]
        print(f"resumed at step {start}", flush=True)
        if log_path.exists():  # the steps after the saved state run again: drop their records
            kept = [r for r in log_path.read_text().splitlines() if json.loads(r)["step"] <= start]
            log_path.write_text("".join(r + "\n" for r in kept))
    elif log_path.exists():
        log_path.unlink()
    meter = LoadMeter(model)
    pad_id = tok.token_to_id(demo_tokenizer.PAD)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f}M parameters", flush=True)

    def progress(step: int) -> float:
        by_time = elapsed / (args.minutes * 60) if args.minutes else 0.0
        return max(step / args.steps, by_time)

    model.train()
    step = start
    while progress(step) < 1:
        t = time.time()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, progress(step), args.lr, args.warmup)
        batch = step_batch(
            tok,
            args.seed,
            step,
            args.fim_every,
            args.fim_batch,
            args.dialogues_per_step,
            copies_at(args.copy_rows, step),
            args.drill_only,
            args.tool_drills,
            args.drill_intents,
            args.reason_drills,
        )
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss, figures = step_loss(
                model, batch, pad_id, args.context_weight, args.reason_weight, meter
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        imbalance = update_bias(meter, args.gamma)
        elapsed += time.time() - t
        record = {
            "step": step + 1,
            "progress": round(progress(step + 1), 4),
            **figures,
            "kind": batch.kind,
            "lr": round(opt.param_groups[0]["lr"], 6),
            "grad_norm": round(float(norm), 3),
            "load_max_over_mean": round(imbalance, 3),
            "seconds": round(time.time() - t, 2),
            "elapsed": round(elapsed),
        }
        with log_path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
        step += 1
        if step % args.save_every == 0 or progress(step) >= 1:
            tmp = state_file.with_suffix(".tmp")
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "step": step,
                    "elapsed": elapsed,
                },
                tmp,
            )
            tmp.replace(state_file)  # a crash mid-write keeps the previous state

    save_checkpoint(model, tok_dir, args.out)
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    (args.out / "train_log.jsonl").write_text(log_path.read_text())
    plot_loss(records, args.out / "loss.png")
    write_training_metrics(args, records, n_params, args.out / "metrics.json")
    print(f"saved {args.out} after {elapsed / 60:.1f} min of training", flush=True)
    return 0


def save_checkpoint(model: DeepseekV3ForCausalLM, tok_dir: Path, out: Path) -> None:
    """Weights in bf16 (half the size; the routing bias stays fp32, as in R1) and the tokenizer."""
    model.eval()
    model.to(torch.bfloat16)
    model.generation_config.do_sample = False
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.save_pretrained(out)
    model.to(torch.float32)
    copy_tokenizer(tok_dir, out)


def copy_tokenizer(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (dst / name).write_text((src / name).read_text())


def plot_loss(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for kind in ("drill", "chat", "fim"):
        rows = [r for r in records if r["kind"] == kind]
        if rows:
            ax.plot(
                [r["step"] for r in rows],
                [r["loss"] for r in rows],
                label=f"{kind} targets",
                lw=0.8,
            )
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_yscale("log")
    ax.set_title("Demo model training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_training_metrics(args, records: list[dict], n_params: int, path: Path) -> None:
    chat = [r["loss"] for r in records if r["kind"] == "chat"][-20:]
    fim = [r["loss"] for r in records if r["kind"] == "fim"][-5:]
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics["training"] = {
        "steps": len(records),
        "time_budget_minutes": args.minutes,
        "seed": args.seed,
        "parameters": n_params,
        "final_chat_loss_last20": round(sum(chat) / max(len(chat), 1), 4),
        "final_fim_loss_last5": round(sum(fim) / max(len(fim), 1), 4),
        "training_seconds": records[-1]["elapsed"] if records else 0,
        "hardware": f"{_cpu_name()} ({os.cpu_count()} cores), {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
    }
    path.write_text(json.dumps(metrics, indent=2) + "\n")


def _cpu_name() -> str:
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    ):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()
