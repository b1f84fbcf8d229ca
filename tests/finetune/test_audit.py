"""The canary audit measures memorisation: a planted secret is no more likely than any other
to a model that never saw it, and stands out once a model is trained on it without privacy."""

import random

from modelserver.finetune import audit
from modelserver.finetune.trainer import FinetuneConfig, train_adapter

from .conftest import make_units


def test_planting_puts_the_secret_in_the_customers_dialogues():
    units = make_units(5)
    [canary] = audit.plant(units, count=1, repeats=3, rng=random.Random(0))
    owner = next(u for u in units if u.unit == canary.unit)
    replies = [m["content"] for d in owner.dialogues for m in d if m["role"] == "assistant"]
    assert sum(canary.secret in r for r in replies) == 3
    others = [
        m.get("content") or "" for u in units if u is not owner for d in u.dialogues for m in d
    ]
    assert not any(canary.secret in text for text in others)


def test_exposure_is_chance_before_training_and_high_after_memorising(tiny_model, tmp_path):
    units = make_units(4)
    # Several canaries: one random secret can rank high by luck before any training.
    canaries = audit.plant(units, count=4, repeats=4, rng=random.Random(3))
    base = audit.exposure(tiny_model, canaries, None, candidates=200, rng=random.Random(0))
    train_adapter(
        model_dir=tiny_model,
        units=units,
        out_dir=tmp_path / "adapter",
        state_dir=tmp_path / "state",
        config=FinetuneConfig(epsilon=None, epochs=40, batch_units=4, lr=2e-2, max_tokens=1500),
    )
    trained = audit.exposure(
        tiny_model, canaries, tmp_path / "adapter", candidates=200, rng=random.Random(0)
    )
    assert base["mean_exposure_empirical"] < 4  # chance is about 1 bit
    # At least 8 times more likely than chance, on both estimates.
    assert trained["mean_exposure_empirical"] > base["mean_exposure_empirical"] + 3
    assert trained["mean_exposure_extrapolated"] > base["mean_exposure_extrapolated"] + 3
