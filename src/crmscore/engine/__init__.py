"""The analytics engine: pure Ibis, identical on DuckDB, PostgreSQL and PySpark.

Tables in, tables out, an explicit ``as_of``, no clock and no I/O of its own. Entry points:

- ``compute_features(tables, as_of, config=FeatureConfig()) -> ibis.Table``: one row per customer, every
  ``features`` metric of the catalog (:data:`METRICS`), ``customer_id`` first;
- ``classify(features, rfm, config=ClassConfig()) -> ibis.Table``: adds r_score, f_score, m_score, rfm_code,
  rfm_segment, abc_class, purchase_class, value_tier, lifecycle_stage;
- ``build_customer_table(tables, as_of, rfm=None, n_bins=5) -> (ibis.Table, RFM)``: both in one call;
- ``customer_table(frames, as_of, ...)``: the same for pandas / Polars / Arrow frames;
- ``period_kpis(tables, start, end, freq="month", by=None) -> ibis.Table``: active, new, churned customers,
  churn and retention rates, revenue and growth, repeat rate, CSAT, NPS, profit per customer per period.

``tables`` maps canonical table names (:data:`crmscore.schema.TABLES`) to Ibis tables (``Warehouse.table``)
or frames; missing optional tables give NULL metrics.

>>> import datetime as dt, ibis
>>> orders = ibis.memtable({"order_id": ["1", "2"], "customer_id": ["a", "b"],
...     "order_date": [dt.datetime(2024, 1, 5), dt.datetime(2024, 2, 5)], "amount": [10.0, 20.0],
...     "status": ["completed", "completed"]})
>>> table, rfm = build_customer_table({"orders": orders}, dt.date(2024, 3, 1), n_bins=2)
>>> table.columns[0], "rfm_segment" in table.columns
('customer_id', True)
"""

from __future__ import annotations

from crmscore.engine.abc import ABCConfig
from crmscore.engine.catalog import METRICS, Metric, get, register
from crmscore.engine.classes import PurchaseClassRules, ValueTierRules
from crmscore.engine.features import FeatureConfig, compute_features
from crmscore.engine.kpis import period_kpis
from crmscore.engine.lifecycle import LifecycleRules
from crmscore.engine.pipeline import (
    CLASS_COLUMNS,
    ClassConfig,
    build_customer_table,
    classify,
    customer_table,
)
from crmscore.engine.rfm import RFM
from crmscore.engine.segments import SEGMENTS, Segment

__all__ = [
    "CLASS_COLUMNS",
    "METRICS",
    "RFM",
    "SEGMENTS",
    "ABCConfig",
    "ClassConfig",
    "FeatureConfig",
    "LifecycleRules",
    "Metric",
    "PurchaseClassRules",
    "Segment",
    "ValueTierRules",
    "build_customer_table",
    "classify",
    "compute_features",
    "customer_table",
    "get",
    "period_kpis",
    "register",
]
