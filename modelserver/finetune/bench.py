"""`python -m modelserver finetune-bench --json`: what differential privacy costs and buys.

On the demo model: the same LoRA fine-tuning on the same customers at ε = 1, 3, 8 and without
privacy (∞). For each: steps/s and peak memory of training, utility on held-out customers
(target perplexity, tool selection and argument accuracy, greedy), and the exposure of canaries
planted in the training customers' dialogues (`audit.py`). The training customers talk in the
held-out phrasings the demo model never saw, which is what a shop's own customers bring.

Each configuration runs in its own process, so peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from assistant.agent import spec
from modelserver.demo import corpus, world
from modelserver.finetune import audit
from modelserver.finetune.data import Unit

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "demo" / "checkpoint"


def customers(seed: str, count: int, dialogues: int) -> list[Unit]:
    """Demo-world customers talking in held-out phrasings; their system prompts name nobody."""
    rng = random.Random(seed)
    units = []
    for i in range(count):
        c = world.make_customer(rng, rng.choice(["en", "zh"]))
        system = spec.system_prompt(
            shop_name=c.shop_name,
            window_days=c.window_days,
            non_returnable=c.non_returnable,
            customer_name="the customer",
        )
        ds = [corpus.dialogue(rng, c, "held_out") for _ in range(rng.randint(1, dialogues))]
        units.append(Unit(f"{seed}-{i}", system, [d.messages[1:] for d in ds]))
    return units


def _run(job: dict) -> dict:
    """One configuration, in a fresh process."""
    import torch

    from modelserver.finetune.trainer import FinetuneConfig, evaluate_units, train_adapter

    torch.set_num_threads(job["threads"])
    work = Path(job["work"])
    private = isinstance(job["epsilon"], float) and math.isfinite(job["epsilon"])
    out = {
        "config": "base" if job["epsilon"] == "base" else f"ε={job['epsilon']:g}",
        "epsilon_target": job["epsilon"] if private else None,
    }
    adapter = None
    if job["epsilon"] != "base":
        config = FinetuneConfig(
            epsilon=job["epsilon"] if private else None,
            epochs=job["epochs"],
            lr=job["lr"],
            rank=job["rank"],
            alpha=2.0 * job["rank"],
            batch_units=job["batch"],
            max_tokens=job["max_tokens"],
            checkpoint_every=10**9,
        )
        adapter = work / "adapter"
        t = time.time()
        result = train_adapter(
            model_dir=Path(job["model"]),
            units=[Unit(**u) for u in job["train"]],
            out_dir=adapter,
            state_dir=work / "state",
            config=config,
        )
        seconds = time.time() - t
        out.update(
            epsilon_spent=result.epsilon,
            delta=result.delta,
            noise_multiplier=result.noise_multiplier,
            steps=result.steps,
            steps_per_second=round(result.steps / seconds, 4),
            train_seconds=round(seconds, 1),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        )
    out["utility"] = evaluate_units(Path(job["model"]), [Unit(**u) for u in job["eval"]], adapter)
    canaries = [audit.Canary(**c) for c in job["canaries"]]
    out["canaries"] = audit.exposure(
        Path(job["model"]),
        canaries,
        adapter,
        candidates=job["candidates"],
        rng=random.Random("candidates"),
    )
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--epsilons", default="1,3,8,inf")
    parser.add_argument("--customers", type=int, default=160)
    parser.add_argument("--dialogues", type=int, default=2, help="at most, per customer")
    parser.add_argument("--eval-customers", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="expected customers per step")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--canaries", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=4, help="dialogues carrying a canary")
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", type=Path, help="PNG of utility and exposure against ε")


def main(args: argparse.Namespace) -> int:
    train = customers("finetune-bench-train", args.customers, args.dialogues)
    held = customers("finetune-bench-eval", args.eval_customers, 1)
    canaries = audit.plant(train, count=args.canaries, repeats=args.repeats, rng=random.Random(1))
    common = {
        "model": str(args.model),
        "train": [u.__dict__ for u in train],
        "eval": [u.__dict__ for u in held],
        "canaries": [c.__dict__ for c in canaries],
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "rank": args.rank,
        "max_tokens": args.max_tokens,
        "candidates": args.candidates,
        "threads": args.threads,
    }
    results = []
    ctx = multiprocessing.get_context("spawn")
    for epsilon in ["base", *(float(e) for e in args.epsilons.split(","))]:
        with tempfile.TemporaryDirectory() as work, ctx.Pool(1) as pool:
            row = pool.apply(_run, ({**common, "epsilon": epsilon, "work": work},))
        print(json.dumps(row), file=sys.stderr, flush=True)
        results.append(row)
    report = {
        "model": str(args.model),
        "train_customers": len(train),
        "eval_customers": len(held),
        "privacy_unit": "customer",
        "canaries": {"count": args.canaries, "repeats": args.repeats, "space": audit.SPACE},
        "recipe": {k: common[k] for k in ("epochs", "batch", "lr", "rank", "max_tokens")},
        "results": results,
    }
    if args.plot:
        plot(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in results:
            u, c = r["utility"], r["canaries"]
            print(
                f"{r['config']}: spent {r.get('epsilon_spent')}, "
                f"{r.get('steps_per_second', '-')} steps/s, {r.get('peak_rss_mb', '-')} MB, "
                f"ppl {u['perplexity']}, tools {u['tool_selection']}, args {u['arguments_exact']}, "
                f"exposure {c['mean_exposure_extrapolated']} bits"
            )
    return 0


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["results"]
    labels = [r["config"].removeprefix("ε=") for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].bar(labels, [r["utility"]["perplexity"] for r in rows])
    axes[0].set_title("held-out perplexity (lower is better)")
    axes[1].bar(labels, [r["utility"]["arguments_exact"] or 0 for r in rows])
    axes[1].set_title("tool arguments exact (held-out)")
    axes[2].bar(labels, [r["canaries"]["mean_exposure_extrapolated"] for r in rows])
    axes[2].axhline(1, color="grey", lw=0.8, ls="--")
    axes[2].set_title("canary exposure, bits (1 = chance)")
    for ax in axes:
        ax.set_xlabel("ε (inf: no privacy; base: no fine-tuning)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
