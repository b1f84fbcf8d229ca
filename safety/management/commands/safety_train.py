"""python manage.py safety_train [--data-dir DIR] [--out DIR] [--max-minutes N] ...

Fine-tunes the tier-2 classifier on shared/data/safety (see safety.train for the recipe and
safety.datasets for the split) and writes the model the web process loads.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from safety.classifier import DEFAULT_MODEL_DIR, reset_classifier


def parse_caps(value: str) -> dict[str, int]:
    caps = {}
    for item in filter(None, value.split(",")):
        source, _, number = item.partition("=")
        if not number.isdigit():
            raise CommandError(f"--caps wants source=N pairs, not {item!r}")
        caps[source.strip()] = int(number)
    return caps


class Command(BaseCommand):
    help = "Fine-tune the tier-2 safety classifier and calibrate its thresholds."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data-dir",
            type=Path,
            help="shared/data/safety (default: ../shared/data/safety or SAFETY_DATA_DIR)",
        )
        parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR)
        parser.add_argument("--epochs", type=float, default=1.0)
        parser.add_argument("--max-length", type=int, default=64)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument(
            "--max-minutes",
            type=float,
            default=40.0,
            help="stop training (then calibrate and save) after this long",
        )
        parser.add_argument(
            "--caps",
            type=parse_caps,
            default=None,
            help="training rows per source, e.g. cold=4500,davidson=3000",
        )
        parser.add_argument("--threads", type=int, default=None)
        parser.add_argument(
            "--extra-data",
            type=Path,
            action="append",
            default=[],
            help="more training rows in safety_eval JSONL shape, e.g. from safety_export_reviews",
        )
        parser.add_argument(
            "--init",
            type=Path,
            help="continue this trained model (e.g. safety/data/model) instead of the base MiniLM",
        )
        parser.add_argument(
            "--zh-ngram-only",
            action="store_true",
            help="do not train the MiniLM: fit the Chinese n-gram model into --out, then recalibrate",
        )
        parser.add_argument(
            "--calibrate-only",
            action="store_true",
            help="do not train: recalibrate the thresholds of the model in --out on the validation split",
        )
        parser.add_argument(
            "--compare-zh",
            action="store_true",
            help="do not train: compare the shipped model with a Chinese-only baseline on COLD",
        )

    def handle(self, *args, **opts):
        from safety.train import compare_chinese, recalibrate, train, train_zh_ngram

        if opts["zh_ngram_only"]:
            train_zh_ngram(out_dir=opts["out"], data_dir=opts["data_dir"], log=self.stdout.write)
            opts["calibrate_only"] = True

        if opts["calibrate_only"]:
            recalibrate(model_dir=opts["out"], data_dir=opts["data_dir"], log=self.stdout.write)
            reset_classifier()
            return

        if opts["compare_zh"]:
            import json

            report = compare_chinese(
                data_dir=opts["data_dir"], model=opts["out"], log=self.stdout.write
            )
            (opts["out"] / "compare_zh.json").write_text(
                json.dumps(report, indent=1, ensure_ascii=False)
            )
            return
        try:
            record = train(
                out_dir=opts["out"],
                data_dir=opts["data_dir"],
                caps=opts["caps"],
                epochs=opts["epochs"],
                max_length=opts["max_length"],
                batch_size=opts["batch_size"],
                max_minutes=opts["max_minutes"],
                threads=opts["threads"],
                extra=opts["extra_data"],
                init=opts["init"],
                log=lambda line: self.stdout.write(line),
            )
        except FileNotFoundError as error:
            raise CommandError(str(error)) from error
        reset_classifier()
        self.stdout.write(
            self.style.SUCCESS(f"trained in {record['total_minutes']} min; val: {record['val']}")
        )
