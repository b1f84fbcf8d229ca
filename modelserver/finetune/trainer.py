"""Differentially private LoRA fine-tuning (DP-SGD with Opacus) of an R1-architecture model.

The privacy unit is the customer: each unit (all of one customer's dialogues, capped) is one
row and one sample of Poisson sampling, so a customer with many dialogues weighs no more than
one with a single dialogue. Per-sample gradients are exact because only adapters on paths that
keep the batch dimension are trained (`lora.py`); the routed experts stay frozen.

Opacus calibrates the noise to reach the job's ε at δ after all epochs
(`make_private_with_epsilon`); the accountant's ε is reported after every epoch and at the end,
and a step that would take it over the budget is not taken. Training state (adapter, optimiser, the accountant's
history, the step, random states) is saved every `checkpoint_every` steps; `train` resumes from
it, so a killed job continues with the same accounting.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from opacus import PrivacyEngine
from opacus.data_loader import DPDataLoader
from tokenizers import Tokenizer
from torch.utils.data import DataLoader, TensorDataset
from transformers import DeepseekV3ForCausalLM

from modelserver.demo import evaluate, train
from modelserver.demo.tokenizer import PAD
from modelserver.finetune import lora
from modelserver.finetune.data import Unit, prefix_text, tool_checks, unit_row


@dataclass
class FinetuneConfig:
    epsilon: float | None = 3.0  # None: no privacy (the benchmark's reference)
    delta: float | None = None  # None: 1e-5, or 1/(10 N) when N is larger than 10^4
    epochs: int = 3
    lr: float = 2e-3
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = lora.DEFAULT_TARGETS
    max_grad_norm: float = 1.0
    batch_units: int = 16  # expected units per step (Poisson sampling)
    max_tokens: int = 2048  # per unit, after the shared prefix
    checkpoint_every: int = 10
    seed: int = 0
    accountant: str = "prv"

    def resolved_delta(self, n_units: int) -> float:
        return self.delta if self.delta is not None else min(1e-5, 1 / (10 * n_units))


@dataclass
class Progress:
    step: int
    total_steps: int
    epoch: float
    loss: float | None  # None: Poisson sampling drew no unit
    epsilon: float | None  # as of the first step, the last epoch's end, or the end
    seconds: float


@dataclass
class Result:
    status: str  # "completed", "cancelled", "budget_exhausted"
    steps: int
    total_steps: int
    epsilon: float | None
    epsilon_target: float | None
    delta: float | None
    noise_multiplier: float | None
    sample_rate: float
    units: int
    privacy_unit: str
    resumed_at: int | None = None  # the checkpoint's step, when this run continued one
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


class _Stop(Exception):
    pass


def load_model(model_dir: Path) -> tuple[DeepseekV3ForCausalLM, Tokenizer]:
    """The base model in fp32 (adapters train in full precision), on the GPU if there is one."""
    model = DeepseekV3ForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    return model, Tokenizer.from_file(str(model_dir / "tokenizer.json"))


def unit_losses(
    model: DeepseekV3ForCausalLM, rows: list[train.Row], pad_id: int, prefixes: list[list[int]]
) -> torch.Tensor:
    """[rows]: each row's mean cross-entropy over its targets, row i after `prefixes[i]`."""
    latents = {}
    for p in map(tuple, prefixes):
        if p not in latents:
            latents[p] = train.prefix_latents(model, list(p))
    if len(latents) == 1:
        out = train.forward_rows(model, rows, pad_id, next(iter(latents.values())))
    else:
        width = max(len(p) for p in prefixes)

        def padded(t: torch.Tensor) -> torch.Tensor:  # [1, heads, P, d] -> [1, heads, width, d]
            return F.pad(t, (0, 0, 0, width - t.shape[2]))

        kv = [
            tuple(
                torch.cat([padded(latents[tuple(p)][layer][j]) for p in prefixes]) for j in (0, 1)
            )
            for layer in range(len(next(iter(latents.values()))))
        ]
        out = train.forward_rows(model, rows, pad_id, kv, prefix_lengths=[len(p) for p in prefixes])
    keep = out.labels != -100
    logits = model.lm_head(out.hidden[keep]).float()
    token_loss = F.cross_entropy(logits, out.labels[keep], reduction="none")
    owner = keep.nonzero()[:, 0]  # the row of each target token
    sums = torch.zeros(len(rows), device=token_loss.device).index_add(0, owner, token_loss)
    return sums / keep.sum(dim=1).clamp(min=1)


def train_adapter(
    *,
    model_dir: Path,
    units: list[Unit],
    out_dir: Path,
    state_dir: Path,
    config: FinetuneConfig,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Result:
    """Train a LoRA adapter on `units` and write it (PEFT layout) to `out_dir`."""
    torch.manual_seed(config.seed)
    model, tok = load_model(model_dir)
    lora.add_lora(model, rank=config.rank, alpha=config.alpha, targets=config.targets)
    model.train()
    pad_id = tok.token_to_id(PAD)
    prefix_ids = _prefix_ids(tok)
    rows, prefixes = [], []
    for u in units:
        row = unit_row(tok, u.system, u.dialogues, config.max_tokens)
        if row is not None:
            rows.append(row)
            prefixes.append(prefix_ids(u.system))
    if not rows:
        raise ValueError("no unit has a dialogue that fits max_tokens with an assistant turn")
    n = len(rows)
    delta = config.resolved_delta(n) if config.epsilon is not None else None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=min(config.batch_units, n))
    engine = None
    if config.epsilon is not None:
        engine = PrivacyEngine(accountant=config.accountant)
        model, optimizer, loader = engine.make_private_with_epsilon(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            target_epsilon=config.epsilon,
            target_delta=delta,
            epochs=config.epochs,
            max_grad_norm=config.max_grad_norm,
            poisson_sampling=True,
            grad_sample_mode="hooks",
        )
        inner = model._module
    else:
        # The same Poisson sampling without noise or clipping: the non-private reference.
        loader, inner = DPDataLoader.from_data_loader(loader), model
    base_optimizer = optimizer.original_optimizer if engine else optimizer
    sample_rate = 1 / len(loader)
    total_steps = config.epochs * len(loader)
    state_file = state_dir / "state.pt"
    step, history, elapsed, resumed_at = 0, [], 0.0, None
    if state_file.exists():
        state = torch.load(state_file, weights_only=False)
        lora.load_lora_state(inner, state["lora"])
        base_optimizer.load_state_dict(state["optimizer"])
        if engine:
            engine.accountant.history = [tuple(h) for h in state["accountant"]]
        step, history, elapsed = state["step"], state["history"], state["elapsed"]
        resumed_at = step
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])

    def save() -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_file.with_suffix(".tmp")
        torch.save(
            {
                "lora": lora.lora_state(inner),
                "optimizer": base_optimizer.state_dict(),
                "accountant": list(engine.accountant.history) if engine else [],
                "step": step,
                "history": history,
                "elapsed": elapsed + time.time() - t_resume,
                "torch_rng": torch.get_rng_state(),
                "python_rng": random.getstate(),
            },
            tmp,
        )
        tmp.replace(state_file)  # a kill mid-write keeps the previous state

    t_resume = time.time()
    status = "completed"
    # The accountant is exact but slow (seconds a call on a CPU), so it is asked how many steps
    # the budget allows once, then for the ε spent after each epoch and at the end.
    allowed = total_steps
    epsilon = None
    if engine:
        noise = optimizer.noise_multiplier
        allowed = step + _steps_allowed(
            engine, delta, config.epsilon, noise, sample_rate, total_steps - step
        )
        epsilon = engine.get_epsilon(delta) if step else None
    batches = iter(loader)
    try:
        while step < total_steps:
            if should_stop and should_stop():
                status = "cancelled"
                raise _Stop
            if step >= allowed:
                status = "budget_exhausted"
                raise _Stop
            try:
                (index,) = next(batches)
            except StopIteration:
                batches = iter(loader)
                (index,) = next(batches)
            t = time.time()
            chosen = index.tolist()
            loss_value = _step(
                inner,
                optimizer,
                [rows[i] for i in chosen],
                pad_id,
                [prefixes[i] for i in chosen],
                private=engine is not None,
            )
            step += 1
            if engine and (step == 1 or step % len(loader) == 0 or step in (allowed, total_steps)):
                epsilon = engine.get_epsilon(delta)
            record = Progress(
                step,
                total_steps,
                round(step / len(loader), 3),
                loss_value,
                round(epsilon, 4) if epsilon is not None else None,
                round(time.time() - t, 3),
            )
            history.append(asdict(record))
            if on_progress:
                on_progress(record)
            if step % config.checkpoint_every == 0:
                save()
    except _Stop:
        pass
    save()
    lora.save_adapter(inner, out_dir, rank=config.rank, alpha=config.alpha, base=str(model_dir))
    return Result(
        status=status,
        steps=step,
        total_steps=total_steps,
        epsilon=round(engine.get_epsilon(delta), 4) if engine and step else None,
        epsilon_target=config.epsilon,
        delta=delta,
        noise_multiplier=optimizer.noise_multiplier if engine else None,
        sample_rate=sample_rate,
        units=n,
        privacy_unit="customer: one row per customer, whole dialogues up to max_tokens",
        resumed_at=resumed_at,
        history=history,
        seconds=round(elapsed + time.time() - t_resume, 1),
        peak_memory_mb=_peak_rss_mb(),
    )


def _step(
    model,
    optimizer,
    rows: list[train.Row],
    pad_id: int,
    prefixes: list[list[int]],
    private: bool,
) -> float | None:
    optimizer.zero_grad(set_to_none=True)
    if not rows:
        # Poisson sampling drew nobody: a DP step still adds noise (and counts), with no data.
        if private:
            for p in optimizer.params:
                p.grad_sample = torch.zeros(0, *p.shape, device=p.device)
            optimizer.step()
        return None
    loss = unit_losses(model, rows, pad_id, prefixes).mean()
    loss.backward()
    optimizer.step()
    return round(loss.item(), 4)


def _prefix_ids(tok) -> Callable[[str], list[int]]:
    cache: dict[str, list[int]] = {}

    def ids(system: str) -> list[int]:
        if system not in cache:
            cache[system] = tok.encode(prefix_text(system)).ids
        return cache[system]

    return ids


def _steps_allowed(
    engine: PrivacyEngine, delta: float, target: float, noise: float, rate: float, remaining: int
) -> int:
    """How many of the `remaining` steps keep the accountant's ε within `target`. All of them
    when the noise was calibrated for this run; fewer when the history says otherwise (e.g. a
    state resumed under another recipe). ε grows with steps: a binary search."""

    def epsilon(k: int) -> float:
        trial = type(engine.accountant)()
        trial.history = [*engine.accountant.history, *([(noise, rate, k)] if k else [])]
        return trial.get_epsilon(delta) if trial.history else 0.0

    if epsilon(remaining) <= target:
        return remaining
    low, high = 0, remaining  # epsilon(low) <= target < epsilon(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if epsilon(middle) <= target else (low, middle)
    return low


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- evaluation: held-out units, before and after ---


@dataclass
class _EvalDialogue:
    messages: list[dict]
    checks: list[dict]
    lang: str = ""


@torch.no_grad()
def evaluate_units(model_dir: Path, units: list[Unit], adapter_dir: Path | None = None) -> dict:
    """Target perplexity and tool-call accuracy (greedy, with the gold history) on `units`."""
    model, tok = load_model(model_dir)
    if adapter_dir is not None:
        lora.load_adapter(model, adapter_dir)
    model.eval()
    pad_id, prefix_ids = tok.token_to_id(PAD), _prefix_ids(tok)
    total, count = 0.0, 0
    dialogues = []
    for u in units:
        for messages in u.dialogues:
            full = [{"role": "system", "content": u.system}, *messages]
            dialogues.append(_EvalDialogue(full, tool_checks(full)))
            row = unit_row(tok, u.system, [messages], max_tokens=10**9)
            if row is None:
                continue
            n_targets = sum(label != -100 for label in row.labels)
            loss = unit_losses(model, [row], pad_id, [prefix_ids(u.system)])[0]
            total += float(loss) * n_targets
            count += n_targets
    scores = evaluate.evaluate_dialogues(evaluate.Greedy(model, tok), dialogues)
    return {
        "perplexity": round(math.exp(total / max(count, 1)), 4),
        "tool_selection": scores["tool_selection"],
        "arguments_exact": scores["arguments_exact"],
        "tool_turns": scores["turns"]["tool"],
    }
