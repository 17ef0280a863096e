"""The engine's entry points: features, classes, and both in one call.

- :func:`compute_features` (``crmscore.engine.features``): tables -> one row per customer with every metric;
- :func:`classify`: features -> the same rows with r/f/m scores, RFM code and segment, ABC class, purchase
  class, value tier and lifecycle stage;
- :func:`build_customer_table`: both, fitting the RFM edges on this snapshot unless a fitted RFM is given;
- :func:`customer_table`: the library face: pandas / Polars / Arrow frames in, a frame of the same kind out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir

from crmscore.engine.abc import ABCConfig, abc_expr, abc_table
from crmscore.engine.classes import PurchaseClassRules, ValueTierRules, purchase_class_expr, value_tier_expr
from crmscore.engine.features import FeatureConfig, compute_features
from crmscore.engine.frames import flavour_of, to_frame, to_ibis
from crmscore.engine.lifecycle import LifecycleRules, lifecycle_expr
from crmscore.engine.rfm import RFM

__all__ = ["CLASS_COLUMNS", "ClassConfig", "build_customer_table", "class_inputs", "classify", "customer_table"]

_ABC_IN_PLACE_MAX_COLUMNS = 24

CLASS_COLUMNS: tuple[str, ...] = ("r_score", "f_score", "m_score", "rfm_code", "rfm_segment", "abc_class",
                                  "purchase_class", "value_tier", "lifecycle_stage")


@dataclass(frozen=True)
class ClassConfig:
    """Every classification rule in one place (all data, all with defaults)."""

    abc: ABCConfig = field(default_factory=ABCConfig)
    purchase: PurchaseClassRules = field(default_factory=PurchaseClassRules)
    value_tiers: ValueTierRules = field(default_factory=ValueTierRules)
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)


def classify(features: ir.Table, rfm: RFM, config: ClassConfig | None = None) -> ir.Table:
    """``features`` with the class columns (:data:`CLASS_COLUMNS`) appended; ``rfm`` must be fitted.

    >>> import datetime as dt, ibis
    >>> orders = ibis.memtable({"order_id": ["1", "2", "3"], "customer_id": ["a", "a", "b"],
    ...     "order_date": [dt.datetime(2024, 1, 5), dt.datetime(2024, 2, 5), dt.datetime(2023, 6, 1)],
    ...     "amount": [100.0, 50.0, 20.0], "status": ["completed"] * 3})
    >>> f = compute_features({"orders": orders}, "2024-03-01")
    >>> out = classify(f, RFM(n_bins=2).fit(f)).order_by("customer_id")
    >>> to_frame(out.select("customer_id", *CLASS_COLUMNS)).values.tolist()
    [['a', 2, 2, 2, '222', 'champions', 'A', 'low_frequency', 'high', 'repeat'], ['b', 1, 1, 1, '111', 'lost', 'B', 'one_time', 'low', 'at_risk']]
    """
    cfg = config or ClassConfig()
    t = rfm.score_table(features)
    # The ABC cumulative sum sorts every row it carries: a narrow table (e.g. ``only=``) is sorted in place,
    # a wide one through a (customer_id, value) copy whose class is joined back (cheaper than either other way).
    if len(t.columns) <= _ABC_IN_PLACE_MAX_COLUMNS:
        t = t.mutate(abc_class=abc_expr(t, cfg.abc))
    else:
        abc = abc_table(t, cfg.abc)
        t = t.left_join(abc, t.customer_id == abc.customer_id).select(*[t[c] for c in t.columns], abc.abc_class)
    return t.mutate(purchase_class=purchase_class_expr(t, cfg.purchase),
                    value_tier=value_tier_expr(t, cfg.value_tiers, rfm.n_bins),
                    lifecycle_stage=lifecycle_expr(t, cfg.lifecycle))


def class_inputs(rfm: RFM | None = None, config: ClassConfig | None = None) -> tuple[str, ...]:
    """The feature metrics :func:`classify` reads (RFM columns, the ABC value, purchase class and lifecycle
    inputs).

    >>> class_inputs()
    ('interpurchase_mean_days', 'last_gap_days', 'monetary', 'purchase_days', 'purchase_days_365d', 'recency_days', 'tenure_days')
    """
    model = rfm or RFM()
    cfg = config or ClassConfig()
    return tuple(sorted({model.recency, model.frequency, model.monetary, cfg.abc.value, "purchase_days",
                         "purchase_days_365d", "recency_days", "tenure_days", "interpurchase_mean_days",
                         "last_gap_days"}))


def build_customer_table(tables: Mapping[str, Any], as_of: dt.date | str, *, rfm: RFM | None = None,
                         n_bins: int = 5, features: FeatureConfig | None = None,
                         classes: ClassConfig | None = None, cache: bool = True,
                         only: Collection[str] | None = None,
                         first_sales: ir.Table | None = None) -> tuple[ir.Table, RFM]:
    """Features and classes for ``as_of``; returns the table and the (fitted) RFM.

    Without ``rfm`` (or with an unfitted one) the edges are fitted on this snapshot; the features are then
    cached (``Table.cache``) so that fitting and scoring read them once. Pass the RFM of a reference snapshot
    to score later snapshots on the same edges. ``only`` (feature metric names) keeps just those features
    next to the classes (plus the :func:`class_inputs`), computed from just the data they need; by default
    every feature is kept. ``first_sales``: see :func:`compute_features`.

    >>> import datetime as dt, ibis
    >>> orders = ibis.memtable({"order_id": ["1", "2"], "customer_id": ["a", "b"],
    ...     "order_date": [dt.datetime(2024, 1, 5), dt.datetime(2024, 2, 5)],
    ...     "amount": [10.0, 20.0], "status": ["completed"] * 2})
    >>> table, fitted = build_customer_table({"orders": orders}, "2024-03-01", n_bins=2)
    >>> fitted.bin_edges_["monetary"]
    [Decimal('10.00')]
    """
    model = rfm if rfm is not None else RFM(n_bins=n_bins)
    keep = None if only is None else {*only, *class_inputs(model, classes)}
    feats = compute_features(tables, as_of, features, only=keep, first_sales=first_sales)
    if not hasattr(model, "bin_edges_"):
        if cache:
            feats = feats.cache()
        model.fit(feats)
    return classify(feats, model, classes), model


def customer_table(tables: Mapping[str, Any], as_of: dt.date | str, *, rfm: RFM | None = None,
                   n_bins: int = 5, features: FeatureConfig | None = None,
                   classes: ClassConfig | None = None) -> Any:
    """Library face of :func:`build_customer_table`: DataFrames in, a DataFrame of the same kind out
    (the kind of the ``orders`` frame, else of the first one), sorted by ``customer_id``.

    >>> import pandas as pd
    >>> orders = pd.DataFrame({"order_id": ["1", "2", "3"], "customer_id": ["a", "b", "b"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-05", "2024-02-20"]),
    ...     "amount": [10.0, 20.0, 5.5], "status": ["completed"] * 3})
    >>> customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "region": ["East", "West", "East"]})
    >>> df = customer_table({"orders": orders, "customers": customers}, "2024-03-01", n_bins=2)
    >>> df[["customer_id", "monetary", "rfm_segment", "lifecycle_stage", "region"]]
      customer_id monetary  rfm_segment lifecycle_stage region
    0           a    10.00         lost             new   East
    1           b    25.50    champions          repeat   West
    2           c     0.00  no_purchase        prospect   East
    """
    first = tables.get("orders") if tables.get("orders") is not None else next(iter(tables.values()))
    flavour = flavour_of(first)
    ibis_tables = {name: to_ibis(t) for name, t in tables.items() if t is not None}
    table, _ = build_customer_table(ibis_tables, as_of, rfm=rfm, n_bins=n_bins, features=features,
                                    classes=classes, cache=False)
    return to_frame(table.order_by("customer_id"), "pandas" if flavour == "ibis" else flavour)
