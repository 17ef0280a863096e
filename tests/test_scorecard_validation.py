"""Scorecard validation: every broken fixture gives its full expected list of errors; templates are valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crmscore.errors import ConfigError
from crmscore.scorecards import expressions
from crmscore.scorecards.spec import Scorecard
from crmscore.scorecards.templates import TEMPLATES
from crmscore.scorecards.validate import format_path, load_scorecard, read_scorecard, validate_scorecard

FIXTURES = Path(__file__).parent / "fixtures" / "scorecards"
BROKEN = sorted(FIXTURES.glob("*.yaml"))


def test_there_are_broken_fixtures() -> None:
    assert len(BROKEN) >= 7


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_fixture_lists_every_error(path: Path) -> None:
    expected = path.with_suffix(".errors.txt").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as info:
        read_scorecard(path)
    assert [str(issue) for issue in info.value.issues] == expected
    # one error names them all, with the count
    assert info.value.message.startswith(f"{path}: {len(expected)} problem")


def test_many_mistakes_has_the_issue_example_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        read_scorecard(FIXTURES / "many_mistakes.yaml")
    by_path = {i.path: i for i in info.value.issues}
    issue = by_path["dimensions[1].criteria[0].metric"]
    assert issue.message == "unknown metric 'employes'"
    assert issue.suggestion == "did you mean 'employees'?"
    assert info.value.to_dict()["errors"][0]["field"] == "dimensions[0].weight"


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_are_valid_and_bilingual(name: str) -> None:
    card = read_scorecard(name)
    assert card.name == name
    assert card.label_en and card.label_zh
    for dim in card.dimensions:
        assert dim.label_en and dim.label_zh
        for crit in dim.criteria:
            assert crit.label_en and crit.label_zh, crit.name


def test_b2b_default_has_the_seed_dimensions() -> None:
    card = read_scorecard("b2b-default")
    # seed 002: basic information, behaviour, needs, satisfaction, loyalty; seed 000: financial standing
    assert [d.name for d in card.dimensions] == ["basic", "behaviour", "needs", "satisfaction", "loyalty",
                                                 "financial"]
    assert [v.max_grade for v in card.vetoes] == ["C"]
    assert card.applies_to.conditions() == {"type": ["B2B"]} and card.default


def test_content_hash_ignores_formatting_but_not_content() -> None:
    text = TEMPLATES["b2c-retail"].read_text(encoding="utf-8")
    card = load_scorecard(text)
    reformatted = yaml.safe_dump(yaml.safe_load(text), allow_unicode=True, default_flow_style=True)
    assert load_scorecard(reformatted).content_hash == card.content_hash
    changed = load_scorecard(text.replace("weight: 60", "weight: 61"))
    assert changed.content_hash != card.content_hash
    assert len(card.content_hash) == 64


def test_format_path() -> None:
    assert format_path(("dimensions", 2, "criteria", 0, "metric")) == "dimensions[2].criteria[0].metric"
    assert format_path(()) == ""


def test_validate_accepts_an_explicit_catalog() -> None:
    doc = {"name": "x", "dimensions": [{"name": "a", "criteria": [
        {"name": "c", "metric": "spend", "method": {"type": "linear", "floor": 0, "cap": 1}}]}]}
    from crmscore.scorecards.catalog import MetricInfo

    card = validate_scorecard(doc, catalog={"spend": MetricInfo("spend", "Spend", "消费", "money", "higher")})
    assert isinstance(card, Scorecard)
    with pytest.raises(ConfigError) as info:
        validate_scorecard(doc, catalog={"spent": MetricInfo("spent", "Spent", "消费")})
    assert [str(i) for i in info.value.issues] == [
        "dimensions[0].criteria[0].metric: unknown metric 'spend'; did you mean 'spent'?"]


@pytest.mark.parametrize("text", [
    "__import__('os')", "open('x')", "monetary.real", "[1, 2]", "lambda: 1", "x[0]", "(x := 1)",
    "f'{monetary}'", "monetary ** 1000", "{1: 2}", "monetary if True else exec('1')",
])
def test_unsafe_expressions_are_refused(text: str) -> None:
    with pytest.raises(expressions.ExpressionSyntaxError):
        expressions.parse(text)


def test_expression_functions_and_missing_values() -> None:
    import ibis

    t = ibis.memtable({"a": [4.0, None, -1.0], "b": [2.0, 1.0, 0.0]})
    cols = {"a": t.a, "b": t.b}
    out = t.select(
        x=expressions.compile_expression("a / b", cols),
        y=expressions.compile_expression("coalesce(a, 0) + 1", cols),
        z=expressions.compile_expression("sqrt(a) if a >= 0 else -1", cols),
        w=expressions.compile_expression("clip(a, 0, 3)", cols),
    ).to_pyarrow().to_pylist()
    assert out == [{"x": 2.0, "y": 5.0, "z": 2.0, "w": 3.0},
                   {"x": None, "y": 1.0, "z": -1.0, "w": None},
                   {"x": None, "y": 0.0, "z": -1.0, "w": 0.0}]


def test_unicode_digit_keys_are_reported_not_crashed() -> None:
    # '²'.isdigit() is True but int('²') fails: the issue sort key must not take it for an index
    with pytest.raises(ConfigError, match="unknown field '²'"):
        load_scorecard('name: x\n"²": 1\n')
