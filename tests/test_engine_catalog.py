"""The metric catalog: registry behaviour, every feature metric is produced, docs/metrics.md is in sync."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import pytest

from crmscore.engine import METRICS, Metric, compute_features, get, register
from crmscore.engine.catalog import MetricRegistry, render_markdown
from crmscore.engine.pipeline import CLASS_COLUMNS
from crmscore.errors import ConfigError, UnknownName

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_metrics_md_lists_every_metric() -> None:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert text == render_markdown(), "regenerate: python -m crmscore.engine.catalog > docs/metrics.md"
    for metric in METRICS:
        assert f"| `{metric.name}` |" in text


def test_every_feature_metric_is_a_column_in_catalog_order() -> None:
    orders = ibis.memtable({"order_id": ["1"], "customer_id": ["a"], "order_date": [dt.datetime(2024, 1, 1)],
                            "amount": [1.0], "status": ["completed"]})
    cols = compute_features({"orders": orders}, "2024-02-01").columns
    assert cols[0] == "customer_id"
    assert list(cols[1:]) == METRICS.names(stage="features")
    assert set(CLASS_COLUMNS) == set(METRICS.names(stage="classes"))


def test_names_are_unique_snake_case_with_labels() -> None:
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    for m in METRICS:
        assert m.issues() == [], m.name
        assert m.label_en and m.label_zh and m.description
        if m.window not in (None, "all") and m.name != "dso":  # DSO keeps its conventional name
            assert m.name.endswith("_" + m.window), m.name


def test_unknown_name_has_a_hint() -> None:
    with pytest.raises(UnknownName, match="did you mean 'monetary_365d'"):
        get("monetary_356d")


def test_register_external_and_custom_metrics() -> None:
    reg = MetricRegistry()
    for m in METRICS:
        reg.register(m)
    reg.register(Metric("credit_rating", "Credit rating", "信用评级", "Joined later.", "score", "financial", stage="external"))
    reg.register(Metric("big_spender", "Big spender", "大客户", "monetary > 100", "score", "purchase",
                        source="orders", dtype="int64",
                        builder=lambda c: ibis.ifelse(c.m("monetary") > 100, 1, 0)))
    orders = ibis.memtable({"order_id": ["1", "2"], "customer_id": ["a", "b"],
                            "order_date": [dt.datetime(2024, 1, 1)] * 2, "amount": [500.0, 5.0],
                            "status": ["completed"] * 2})
    f = compute_features({"orders": orders}, "2024-02-01", metrics=reg).order_by("customer_id").to_pandas()
    assert f.big_spender.tolist() == [1, 0]
    assert "credit_rating" not in f.columns  # external: joined in later, not computed here
    with pytest.raises(ConfigError, match="already registered"):
        reg.register(Metric("credit_rating", "Credit rating", "信用评级", "x", "score", "financial", stage="external"))
    with pytest.raises(ConfigError, match="builder"):
        register(Metric("no_builder", "x", "x", "x", "count", "purchase"))
    assert "no_builder" not in METRICS
