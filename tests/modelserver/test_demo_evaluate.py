"""The ship rule on the shipped checkpoint's own metrics.json, changed one turn at a time."""

import copy
import json

import pytest

from modelserver.demo import evaluate

SHIPPED = json.loads((evaluate.DEFAULT_MODEL / "metrics.json").read_text())


def _move(metrics: dict, *, split: str, lang: str, rate: str, turns: str, by: int) -> dict:
    """`metrics` with `by` more turns counted in `rate`, as eval-demo would have written it."""
    changed = copy.deepcopy(metrics)
    result = changed[split][lang]
    n = result["turns"][turns]
    result[rate] = round((round(result[rate] * n) + by) / n, 4)
    return changed


def test_it_pools_both_held_out_sets_turn_by_turn():
    pooled = evaluate.pooled(SHIPPED)
    for lang in evaluate.LANGS:
        sets = [SHIPPED["evaluation"][lang], SHIPPED["evaluation_test"][lang]]
        assert pooled["tool_turns"][lang] <= sum(s["turns"]["tool"] for s in sets)
    one_more = _move(
        SHIPPED, split="evaluation_test", lang="zh", rate="tool_selection", turns="tool", by=1
    )
    assert evaluate.pooled(one_more)["tool_turns"]["zh"] == pooled["tool_turns"]["zh"] + 1


def test_a_model_equal_to_the_shipped_one_passes():
    assert evaluate.ship_rule(candidate=SHIPPED, baseline=SHIPPED)["passes_a_b_c"]


@pytest.mark.parametrize(
    ("rate", "turns", "by", "failed"),
    [
        ("tool_selection", "tool", -1, "a_tool_turns_per_language"),
        ("arguments_exact", "tool", -1, "b_arguments_exact"),
        ("false_refusal_rate", "benign", 1, "c_safety_mistakes"),
        ("refusal_rate", "unsafe", -1, "c_safety_mistakes"),
    ],
)
def test_one_turn_worse_in_one_language_fails_the_rule(rate, turns, by, failed):
    worse = _move(SHIPPED, split="evaluation", lang="mixed", rate=rate, turns=turns, by=by)
    result = evaluate.ship_rule(candidate=worse, baseline=SHIPPED)
    assert not result[failed]
    assert not result["passes_a_b_c"]


def test_more_tools_right_do_not_buy_more_safety_mistakes():
    better = _move(
        SHIPPED, split="evaluation", lang="en", rate="tool_selection", turns="tool", by=2
    )
    worse = _move(
        better, split="evaluation_test", lang="zh", rate="false_refusal_rate", turns="benign", by=1
    )
    result = evaluate.ship_rule(candidate=worse, baseline=SHIPPED)
    assert result["a_tool_turns_per_language"] and not result["passes_a_b_c"]
