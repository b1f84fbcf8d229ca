"""DP-SGD on a tiny random R1-architecture checkpoint: exact per-sample (per-customer)
gradients, an accountant that never goes over the budget, and resumption with the same
accounting."""

import dataclasses
import json

import pytest
import torch
from opacus import GradSampleModule
from safetensors.torch import load_file

from modelserver.engine.lora import TARGETABLE
from modelserver.finetune import lora
from modelserver.finetune.data import prefix_text, unit_row
from modelserver.finetune.trainer import (
    FinetuneConfig,
    evaluate_units,
    load_model,
    train_adapter,
    unit_losses,
)

from .conftest import SYSTEM, make_units

CONFIG = FinetuneConfig(
    epsilon=3.0, epochs=2, batch_units=3, max_tokens=900, rank=4, alpha=8, checkpoint_every=2
)


def test_adapters_only_wrap_layers_whose_rows_are_one_samples_tokens(tiny_model):
    model, _ = load_model(tiny_model)
    wrapped = lora.add_lora(model, rank=4, alpha=8)
    assert wrapped
    for name in wrapped:
        assert TARGETABLE.match(name.removeprefix("model."))
        assert "kv_b_proj" not in name and ".experts." not in name
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)


def test_a_customers_dialogues_share_a_row_without_seeing_each_other(tiny_model):
    model, tok = load_model(tiny_model)
    [unit] = make_units(1, dialogues=1, seed=2)
    [other] = make_units(1, dialogues=1, seed=3)
    prefix = tok.encode(prefix_text(SYSTEM)).ids
    both = unit_row(tok, SYSTEM, unit.dialogues + other.dialogues, 10**9)
    alone = [unit_row(tok, SYSTEM, d, 10**9) for d in (unit.dialogues, other.dialogues)]
    targets = [sum(label != -100 for label in r.labels) for r in (both, *alone)]
    with torch.no_grad():
        together = float(unit_losses(model, [both], 2, [prefix])[0]) * targets[0]
        apart = sum(
            float(unit_losses(model, [r], 2, [prefix])[0]) * n
            for r, n in zip(alone, targets[1:], strict=True)
        )
    assert targets[0] == sum(targets[1:])
    assert together == pytest.approx(apart, rel=1e-4)


def test_per_sample_gradients_equal_a_per_sample_loop(tiny_model):
    torch.manual_seed(0)
    model, tok = load_model(tiny_model)
    lora.add_lora(model, rank=4, alpha=8)
    with torch.no_grad():  # B starts at zero; give it values so every path carries gradient
        for m in lora.lora_modules(model).values():
            m.lora_B.weight.normal_(std=0.05)
    model.train()
    units = make_units(3, dialogues=2, seed=1)
    rows = [unit_row(tok, u.system, u.dialogues, 1500) for u in units]
    prefix = tok.encode(prefix_text(SYSTEM)).ids
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}

    expected = []
    for row in rows:
        model.zero_grad()
        unit_losses(model, [row], 2, [prefix]).mean().backward()
        expected.append({n: p.grad.clone() for n, p in params.items()})

    gsm = GradSampleModule(model, loss_reduction="mean")
    model.zero_grad()
    # Rows of different lengths in one padded batch, routed through the same experts.
    unit_losses(gsm._module, rows, 2, [prefix] * len(rows)).mean().backward()
    for name, p in params.items():
        assert p.grad_sample.shape[0] == len(rows)
        for i in range(len(rows)):
            torch.testing.assert_close(
                p.grad_sample[i], expected[i][name], rtol=1e-4, atol=1e-6, msg=name
            )


def test_the_accountant_never_reports_more_than_the_budget(tiny_model, tmp_path):
    seen = []
    result = train_adapter(
        model_dir=tiny_model,
        units=make_units(12),
        out_dir=tmp_path / "adapter",
        state_dir=tmp_path / "state",
        config=CONFIG,
        on_progress=seen.append,
    )
    assert result.status == "completed"
    assert result.steps == result.total_steps == len(seen) == 2 * 4  # 12 units, 3 per step
    epsilons = [p.epsilon for p in seen]
    assert epsilons == sorted(epsilons)
    assert max(epsilons) <= CONFIG.epsilon
    assert result.epsilon == pytest.approx(CONFIG.epsilon, rel=0.05)  # calibrated to spend it
    assert result.delta == pytest.approx(1e-5)
    assert result.noise_multiplier > 0.5
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    weights = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    assert config["r"] == 4 and len(weights) == 2 * len(config["target_modules"])
    assert any(float(w.abs().sum()) > 0 for k, w in weights.items() if "lora_B" in k)


def test_a_stopped_run_resumes_with_the_same_accounting(tiny_model, tmp_path):
    units = make_units(12)
    whole = train_adapter(
        model_dir=tiny_model,
        units=units,
        out_dir=tmp_path / "whole",
        state_dir=tmp_path / "whole-state",
        config=CONFIG,
    )
    steps = []
    first = train_adapter(
        model_dir=tiny_model,
        units=units,
        out_dir=tmp_path / "split",
        state_dir=tmp_path / "split-state",
        config=CONFIG,
        on_progress=steps.append,
        should_stop=lambda: len(steps) >= 5,
    )
    assert first.status == "cancelled" and first.steps == 5
    resumed = train_adapter(
        model_dir=tiny_model,
        units=units,
        out_dir=tmp_path / "split",
        state_dir=tmp_path / "split-state",
        config=CONFIG,
        on_progress=steps.append,
    )
    assert resumed.status == "completed"
    assert resumed.steps == whole.steps
    assert [p.step for p in steps] == list(range(1, whole.steps + 1))
    assert resumed.epsilon == pytest.approx(whole.epsilon, rel=1e-6)
    assert resumed.noise_multiplier == whole.noise_multiplier


def test_a_step_that_would_overspend_the_budget_is_not_taken(tiny_model, tmp_path):
    units = make_units(12)
    train_adapter(
        model_dir=tiny_model,
        units=units,
        out_dir=tmp_path / "a",
        state_dir=tmp_path / "state",
        config=CONFIG,
    )
    # The same budget over more epochs would have needed more noise: continuing the finished
    # run's accounting for extra epochs must stop at once rather than overspend.
    longer = dataclasses.replace(CONFIG, epochs=3)
    state = torch.load(tmp_path / "state" / "state.pt", weights_only=False)
    state["accountant"] = state["accountant"] * 2  # as if it had already run twice as long
    torch.save(state, tmp_path / "state" / "state.pt")
    result = train_adapter(
        model_dir=tiny_model,
        units=units,
        out_dir=tmp_path / "a",
        state_dir=tmp_path / "state",
        config=longer,
    )
    assert result.status == "budget_exhausted"
    assert result.steps == CONFIG.epochs * 4


def test_evaluation_scores_the_base_model_and_an_adapter(tiny_model, tmp_path):
    units = make_units(4)
    train_adapter(
        model_dir=tiny_model,
        units=units,
        out_dir=tmp_path / "adapter",
        state_dir=tmp_path / "state",
        config=dataclasses.replace(CONFIG, epochs=1),
    )
    before = evaluate_units(tiny_model, units[:1])
    after = evaluate_units(tiny_model, units[:1], tmp_path / "adapter")
    assert before["tool_turns"] == after["tool_turns"] >= 1
    assert before["perplexity"] > 1 and after["perplexity"] > 1
    assert before["perplexity"] != after["perplexity"]
