"""`python -m modelserver <command>`: each command lives in its own module.

A command module exposes `add_arguments(parser)` and `main(args) -> int | None`;
it is imported only when its command runs, so `serve` never pays for `quantize`'s imports.
"""

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "quantize": ("modelserver.quant.cli", "write a W4A16 checkpoint the server loads directly"),
    "bench-quant": (
        "modelserver.bench_quant",
        "perplexity bf16 vs RTN vs calibrated, load time, RSS",
    ),
    "serve": ("modelserver.server.cli", "run the OpenAI-compatible HTTP server"),
    "bench": ("modelserver.bench", "throughput and latency vs transformers generate"),
    "demo-corpus": ("modelserver.demo.corpus", "write the demo model's training corpus"),
    "train-demo": ("modelserver.demo.train", "train the bundled demo model (CPU: about an hour)"),
    "merge-demo": (
        "modelserver.demo.merge",
        "interpolate a demo checkpoint with the one it was trained on from",
    ),
    "eval-demo": (
        "modelserver.demo.evaluate",
        "tool accuracy, groundedness, refusals, FIM, perplexity",
    ),
    "finetune-bench": (
        "modelserver.finetune.bench",
        "DP fine-tuning at several ε: speed, memory, utility, canary exposure",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m modelserver")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints usage and exits
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    command_parser = argparse.ArgumentParser(prog=f"python -m modelserver {name}")
    module.add_arguments(command_parser)
    return module.main(command_parser.parse_args(argv[1:])) or 0


if __name__ == "__main__":
    sys.exit(main())
