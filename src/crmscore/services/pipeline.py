"""One scoring run: features → classes → models → scorecard → one immutable snapshot.

:func:`run_scoring` is what ``crmscore score``, the server's scoring jobs, the scheduler and the demo call.
Each stage is timed; the snapshot records the as-of date, the scorecard version and hash, the model
parameters, an input fingerprint, who ran it and the timings. The snapshot is written in one warehouse
transaction (see :mod:`crmscore.services.snapshots`), and the run is recorded in the app database's ``jobs``
table, so a run that fails or is killed leaves only a failed-run record.

Reproducible: the same as-of date, inputs and versions give identical results (RFM edges come from the
reference snapshot, model fits are deterministic).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmscore.engine import CLASS_COLUMNS, RFM, FeatureConfig, build_customer_table
from crmscore.engine.features import first_sales
from crmscore.errors import CrmscoreError, ModelError
from crmscore.schema import TABLES
from crmscore.services.jobs import recorded_job
from crmscore.services.scheduler import apply_retention
from crmscore.services.snapshots import (
    PointsView,
    SnapshotInfo,
    ensure_registry,
    list_snapshots,
    write_snapshot,
)
from crmscore.settings import Settings
from crmscore.store.warehouse import Warehouse
from crmscore.workspace import Workspace

__all__ = ["STAGES", "Backfill", "ChurnReuse", "RunOptions", "backfill_workers", "churn_origins", "input_fingerprint",
           "model_columns", "run_backfill", "run_scoring", "score_tables"]

STAGES = ("features", "models", "scorecard", "write")
ProgressFn = Callable[[str, float], None]

# Minimum repeat buyers for fitting the purchase models; below that P(alive)/CLV stay empty, with a notice.
_MIN_REPEAT_BUYERS = 20


@dataclass
class RunOptions:
    as_of: dt.date | None = None
    scorecard: str | None = None  # NAME or NAME@VERSION; default: the workspace's default scorecard
    created_by: str | None = None
    clv_horizon_months: int = 12
    clv_margin: float | None = None  # None: each customer's own gross-margin ratio, else this fraction
    discount_rate_monthly: float = 0.01
    refit_rfm: bool = False


@dataclass
class _Run:
    timings: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    # cached tables read by the run's SQL: Ibis drops a cached table when its expression is garbage-collected
    keep_alive: list[Any] = field(default_factory=list)
    rows: int = 0  # customers scored

    @contextmanager
    def stage(self, name: str, progress: ProgressFn | None, index: int) -> Iterator[None]:
        if progress:
            progress(name, index / len(STAGES))
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


def canonical_tables(wh: Warehouse) -> dict[str, ir.Table]:
    return {name: wh.table(name) for name in TABLES}


def data_as_of(wh: Warehouse) -> dt.date:
    """The default as-of date: the day of the latest order (the data's own 'today')."""
    latest = wh.table("orders").order_date.max().execute()
    if latest is None or pd.isna(latest):
        return dt.date.today()
    return pd.Timestamp(latest).date()


def input_fingerprint(wh: Warehouse) -> str:
    """A hash of every canonical table's row count, money total and latest date: changes when inputs do."""
    parts: dict[str, Any] = {}
    for name, spec in TABLES.items():
        t = wh.table(name)
        aggs: dict[str, Any] = {"n": t.count()}
        for col in spec.columns:
            if col.type == "decimal":
                aggs[f"sum_{col.name}"] = t[col.name].sum()
            elif col.type in ("date", "timestamp"):
                aggs[f"max_{col.name}"] = t[col.name].max()
        row = t.aggregate(**aggs).to_pyarrow().to_pylist()[0]
        parts[name] = {k: str(v) for k, v in row.items()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _reference_rfm(wh: Warehouse, n_bins: int, refit: bool) -> RFM | None:
    """RFM with the edges fitted on the reference (earliest) snapshot, so that snapshots compare."""
    if refit:
        return None
    for info in list_snapshots(wh):
        stored = info.params.get("rfm")
        if stored and stored.get("params", {}).get("n_bins") == n_bins:
            return RFM.from_dict(stored)
    return None


def model_columns(orders: ir.Table, as_of: dt.date, options: RunOptions, run: _Run) -> pd.DataFrame:
    """Per customer p_alive, expected purchases, expected spend and CLV from BG/NBD + Gamma-Gamma."""
    from crmscore.models import DAYS_PER_MONTH, BetaGeo, GammaGamma, clv_table, summary_from_orders

    summary = summary_from_orders(orders, observation_period_end=as_of, freq="W").to_pandas()
    empty = pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    repeaters = int((summary["frequency"] > 0).sum()) if len(summary) else 0
    if repeaters < _MIN_REPEAT_BUYERS:
        run.notices.append(f"only {repeaters} repeat buyers by {as_of}: P(alive) and CLV need at least "
                           f"{_MIN_REPEAT_BUYERS}; left empty")
        return empty
    try:
        bg = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
        rep = summary[summary["frequency"] > 0]
        gg = GammaGamma().fit(rep["frequency"], rep["monetary_value"])
    except ModelError as exc:
        run.notices.append(f"purchase models not fitted: {exc.message}")
        return empty
    run.params["betageo"] = {k: round(float(v), 6) for k, v in bg.params_.items()}
    run.params["gammagamma"] = {k: round(float(v), 6) for k, v in gg.params_.items()}
    margin = 1.0 if options.clv_margin is None else options.clv_margin
    horizon = f"expected_purchases_{options.clv_horizon_months}m"
    try:
        out = clv_table(bg, gg, summary, horizon_months=options.clv_horizon_months, margin=margin,
                        discount_rate=options.discount_rate_monthly, time_unit="W")
        out = out.rename(columns={"expected_purchases": horizon})
    except CrmscoreError as exc:  # e.g. Gamma-Gamma q <= 1: spend too heavy-tailed for a finite mean
        run.notices.append(f"CLV left empty: {exc.message}")
        x, t_x, age = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
        weeks = options.clv_horizon_months * DAYS_PER_MONTH / 7.0
        out = pd.DataFrame({"customer_id": summary["customer_id"], "p_alive": bg.p_alive(x, t_x, age),
                            horizon: bg.expected_purchases(weeks, x, t_x, age)})
    for col in out.columns:
        if col != "customer_id":
            out[col] = np.round(out[col].astype(float), 6)
    return out


def _months_between(earlier: dt.date, later: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def _month_end_on_or_before(day: dt.date) -> dt.date:
    following = day + dt.timedelta(days=1)
    return day if following.month != day.month else day.replace(day=1) - dt.timedelta(days=1)


def churn_origins(as_of: dt.date, horizon_days: int) -> list[dt.date]:
    """The training origins of a scoring run's churn model: the month end on or before each of the model's own
    origins (:meth:`ChurnModel.origins`), so that a backfill's fits read the features of its (month-end)
    dates, and a single run fits the model a backfill fits for the same date."""
    from crmscore.models.churn import ChurnModel

    return sorted({_month_end_on_or_before(o) for o in ChurnModel(horizon_days=horizon_days).origins(as_of)})


@dataclass
class ChurnReuse:
    """The churn models of a backfill: fitted for the first date and for the first date at least
    ``refit_months`` months (``Settings.churn_refit_months``) after the previous fit, and used for the dates in
    between. A date whose scheduled fit fell back (too little history: 1 - P(alive)) fits its own.

    The training origins of these fits are month ends (the month end on or before each of the model's own
    origins), so that a fit reads the features the backfill computed for its dates (``frames``) instead of
    computing them again. Deterministic: the same dates give the same fits, however many are scored at once.
    The orders' sales frame is read once (``sales``).
    """

    refit_months: int
    horizon_days: int
    sales: Future[pd.DataFrame] = field(default_factory=Future)
    anchors: dict[dt.date, dt.date] = field(default_factory=dict)  # as-of date -> the date its model is fitted for
    fits: dict[dt.date, Future[Any]] = field(default_factory=dict)  # models by the date they are fitted for
    frames: dict[dt.date, Future[pd.DataFrame]] = field(default_factory=dict)  # numeric features by date

    def schedule(self, days: list[dt.date]) -> list[dt.date]:
        """Assign ``days`` (sorted) to fits; returns the dates to fit for."""
        anchor: dt.date | None = None
        refits = []
        for day in days:
            if anchor is None or _months_between(anchor, day) >= self.refit_months:
                anchor = day
                refits.append(day)
            self.anchors[day] = anchor
        return refits

    def model(self) -> Any:
        from crmscore.models.churn import ChurnModel

        return ChurnModel(horizon_days=self.horizon_days)

    def origins(self, day: dt.date) -> list[dt.date]:
        return churn_origins(day, self.horizon_days)

    def model_for(self, as_of: dt.date) -> tuple[Any, dt.date] | None:
        """The scheduled model for ``as_of`` and the date it was fitted for (waits for a fit in progress), or
        None when the date fits its own (not scheduled, or the scheduled fit of an earlier date fell back)."""
        anchor = self.anchors.get(as_of)
        if anchor is None or anchor not in self.fits:
            return None
        model = self.fits[anchor].result()
        return (model, anchor) if model.mode_ == "supervised" or anchor == as_of else None


@dataclass(frozen=True)
class _Template:
    """One compiled scoring plan: SQL run in order for every date whose input table has the same schema."""

    # the SELECT of each scorecard's wide table, in order: written straight into the snapshot as its points
    steps: tuple[str, ...]
    customers_sql: Callable[[list[str]], str]  # the customers, read from the stored wide tables (their names)
    points: PointsView  # sql: the points view over the stored wide tables' names


def _points_part(k: int) -> str:
    return f"_crmscore_points_part_{k}"


def _to_sql(expr: ir.Table) -> str:
    """DuckDB SQL of ``expr`` with each projection kept as Ibis built it.

    Ibis merges nested projections where that does not make them more complex, and judging that re-walks the
    expression each time: on a scorecard it took 1 s of a 3 s compile, and the merged SQL ran slower (0.50 ->
    0.40 s per snapshot to store the points at 100k). The option is global: another thread compiling meanwhile
    gets the same query, unmerged.
    """
    with _UNMERGED:  # one at a time, so that each restores the setting it found
        fuse = ibis.options.sql.fuse_selects
        ibis.options.sql.fuse_selects = False
        try:
            return str(ibis.to_sql(expr, dialect="duckdb"))
        finally:
            ibis.options.sql.fuse_selects = fuse


_UNMERGED = threading.Lock()


def _view_sql(sql: str, parts: int) -> Callable[[list[str]], str]:
    """``sql`` as a function of the names of the tables its placeholders (:func:`_points_part`) stand for."""
    def for_tables(names: list[str]) -> str:
        out = sql
        for k in range(parts):
            quoted = f'"{_points_part(k)}"'
            if quoted not in out:
                raise AssertionError(f"{quoted} not in the compiled SQL")
            out = out.replace(quoted, f'"{names[k]}"')
        return out
    return for_tables


_RUN_FEATURES = "_crmscore_run_features"  # a view over the run's cached feature table
_RUN_MODELS = "_crmscore_run_models"  # the run's model columns
_RUN_CUSTOMERS = "_crmscore_run_customers"  # the run's features and classes, from compiled SQL
_RUN_FIRST_SALES = "_crmscore_run_first_sales"  # each (customer, product) pair's first sale (one per connection)
_DATE_LITERAL = re.compile(r"MAKE_(DATE|TIMESTAMP)\((\d+), (\d+), (\d+)")


def _shift_dates(sql: str, days: int) -> str:
    """``sql`` with every date (and the date of every timestamp) literal moved by ``days``."""
    def shift(m: re.Match[str]) -> str:
        day = dt.date(int(m[2]), int(m[3]), int(m[4])) + dt.timedelta(days=days)
        return f"MAKE_{m[1]}({day.year}, {day.month}, {day.day}"
    return _DATE_LITERAL.sub(shift, sql)


@dataclass
class _DatedSQL:
    """The customer-table SQL compiled for one date. Every date in it is relative to the as-of date (the engine
    has no absolute dates), so another date's SQL is this one with the dates moved; the second date compiled
    checks that (``verified``), else every date compiles its own."""

    day: dt.date
    sql: str
    schema: Any  # the table's column types (a NULL column's type is not in the SQL)
    verified: bool | None = None

    def for_day(self, day: dt.date) -> str:
        return _shift_dates(self.sql, (day - self.day).days)


@dataclass
class Backfill:
    """What the dates of one backfill share: the churn models (:class:`ChurnReuse`) and, on DuckDB, the
    scorecards compiled once to SQL over named inputs (compiling the scorecard expressions costs more than
    running them at 100k customers). Thread-safe: worker threads score dates on their own connections
    (:meth:`Warehouse.cursor`), where the template's temporary tables are their own.
    """

    churn: ChurnReuse
    rfm: Future[RFM] = field(default_factory=Future)  # the RFM edges of every date (a reference's, or the first's)
    rfm_from: dt.date | None = None  # the date whose own fit gives them (when the workspace has no reference)
    templates: dict[Any, _Template] = field(default_factory=dict)
    customer_sql: dict[str, _DatedSQL] = field(default_factory=dict)
    fingerprint: str | None = None  # the inputs do not change during a backfill: hashed once
    cards: list[Card] | None = None  # the scorecards, resolved once: every date uses the same versions
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    prepared: set[int] = field(default_factory=set)  # the connections (id of their Warehouse) with first sales

    def first_sales(self, wh: Warehouse, tables: dict[str, ir.Table]) -> ir.Table:
        """:func:`crmscore.engine.features.first_sales` in a temporary table on ``wh``'s connection, made once
        per connection: every date counts its products from it instead of reading every order line again."""
        with self.lock:
            made = id(wh) in self.prepared
        if not made:
            wh.execute(f"CREATE OR REPLACE TEMP TABLE {_RUN_FIRST_SALES} AS "
                       + ibis.to_sql(first_sales(tables), dialect="duckdb"))
            with self.lock:
                self.prepared.add(id(wh))
        return wh.table(_RUN_FIRST_SALES)

    def customers(self, wh: Warehouse, key: str, day: dt.date, build: Callable[[dt.date], ir.Table]) -> ir.Table:
        """The features and classes of ``day`` (``build(day)``) in a temporary table, from SQL compiled once
        per ``key`` (the feature settings and RFM edges): building and compiling the expression costs more than
        running it at 100k customers."""
        sql: str | None = None  # this date's own compile, when there is one
        with self.lock:
            entry = self.customer_sql.get(key)
            if entry is None:
                expr = build(day)
                sql = _to_sql(expr)
                entry = self.customer_sql[key] = _DatedSQL(day, sql, expr.schema())
            elif entry.verified is None:
                sql = _to_sql(build(day))
                entry.verified = entry.for_day(day) == sql
        if sql is None:
            sql = entry.for_day(day) if entry.verified else _to_sql(build(day))
        wh.execute(f"DROP TABLE IF EXISTS {_RUN_CUSTOMERS}")
        wh.con.create_table(_RUN_CUSTOMERS, schema=entry.schema, temp=True)
        wh.execute(f"INSERT INTO {_RUN_CUSTOMERS} {sql}")
        return wh.table(_RUN_CUSTOMERS)

    def scored(self, wh: Warehouse, features: ir.Table, models: pd.DataFrame | None,
               cards: list[Card]) -> tuple[Callable[[list[str]], str], PointsView]:
        """(customers, points) of one date, for :func:`write_snapshot`: ``features`` (a cached table) joined to
        ``models`` and scored.

        The wide feature table is read in place (a view), not copied: at 80 columns every copy costs more than
        the scoring itself. The caller keeps ``features`` alive until the snapshot is written.
        """
        wh.execute(f"CREATE OR REPLACE TEMP VIEW {_RUN_FEATURES} AS SELECT * FROM {features.get_name()}")
        if models is not None:
            wh.execute(f"DROP TABLE IF EXISTS {_RUN_MODELS}")
            wh.con.create_table(_RUN_MODELS, ibis.memtable(models), temp=True)
        schemas = (features.schema(), wh.table(_RUN_MODELS).schema() if models is not None else None)
        key = tuple(tuple(s.items()) if s is not None else None for s in schemas)
        with self.lock:
            template = self.templates.get(key)
            if template is None:
                template = self.templates[key] = _compile_template(*schemas, cards)
        # the wide tables are computed once, into the snapshot (see write_snapshot)
        return template.customers_sql, replace(template.points, parts=template.steps)

    def release(self, wh: Warehouse) -> None:
        """Drop the template's temporary tables and view on ``wh``."""
        for name in (_RUN_MODELS, _RUN_CUSTOMERS, _RUN_FIRST_SALES):
            wh.execute(f"DROP TABLE IF EXISTS {name}")
        wh.execute(f"DROP VIEW IF EXISTS {_RUN_FEATURES}")


def _compile_template(features: Any, models: Any, cards: list[Card]) -> _Template:
    steps: list[str] = []

    def materialise(expr: ir.Table) -> ir.Table:
        name = _points_part(len(steps))
        steps.append(_to_sql(expr))
        return ibis.table(expr.schema(), name=name)

    source = ibis.table(features, name=_RUN_FEATURES)
    if models is not None:  # the same join as a single run's (score_tables)
        source = source.left_join(ibis.table(models, name=_RUN_MODELS), "customer_id").drop("customer_id_right")
    scores, points = _score_with_cards(source, cards, cache=materialise)
    customers = source.left_join(scores, "customer_id").drop("customer_id_right")
    if len(points.parts) != len(steps):
        raise AssertionError("a scorecard's wide table was not materialised exactly once")
    # the view stays merged: it is read far more often than compiled (unmerged, 20% slower to read)
    view = _view_sql(ibis.to_sql(points.render(list(points.parts)), dialect="duckdb"), len(steps))
    return _Template(tuple(steps), _view_sql(_to_sql(customers), len(steps)),
                     replace(points, sql=view))


def churn_columns(tables: dict[str, ir.Table], as_of: dt.date, horizon_days: int, run: _Run,
                  features: ir.Table | None = None, reuse: ChurnReuse | None = None) -> pd.DataFrame:
    """Per customer churn_risk and its top reasons (en + zh) from the backtested churn model.

    ``features``: the run's own feature table as of ``as_of`` (reused for scoring instead of recomputed).
    ``reuse``: a backfill's model cache (see :class:`ChurnReuse`); without it the model is fitted as of
    ``as_of``.
    """
    from crmscore.models.churn import ChurnModel, engine_features, numeric_table, sales_frame

    own = reuse.frames.get(as_of) if reuse is not None else None  # the backfill's frame of this date

    def feature_fn(tables: Any, day: dt.date) -> pd.DataFrame:
        if own is not None and day == as_of:
            return own.result()
        if features is not None and day == as_of:
            # a fitted model reads only its own columns
            return numeric_table(features, getattr(model, "feature_names_", None))
        return engine_features(tables, day)

    try:
        found = reuse.model_for(as_of) if reuse is not None else None
        model, fitted_as_of = found if found is not None else (None, as_of)
        sales = reuse.sales.result() if reuse is not None else sales_frame(tables)
        if model is None:
            model = ChurnModel(horizon_days=horizon_days, features=feature_fn).fit(
                tables, as_of, sales=sales, origins=churn_origins(as_of, horizon_days))
        # a copy reads this run's features (a shared model may be scoring another date on another thread)
        model = copy.copy(model)
        model.features = feature_fn
        risk = model.predict(tables, as_of, sales=sales, joined=("; ", "；"))
    except CrmscoreError as exc:
        run.notices.append(f"churn risk left empty: {exc.message}")
        return pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    if getattr(model, "notice_", None):
        run.notices.append(str(model.notice_))
    run.params["churn"] = {"mode": model.mode_, "horizon_days": horizon_days, "fitted_as_of": str(fitted_as_of),
                           "origins": [str(o) for o in getattr(model, "origins_", [])]}
    out = pd.DataFrame({"customer_id": risk["customer_id"].astype(str),
                        "churn_risk": np.round(risk["churn_risk"].astype(float), 6)})
    out["churn_reasons"] = risk["reasons"]
    out["churn_reasons_zh"] = risk["reasons_zh"]
    return out


Card = tuple[Any, int | None, str | None]  # (spec, published version or None, content hash)


def score_tables(wh: Warehouse, as_of: dt.date, options: RunOptions | None = None,
                 progress: ProgressFn | None = None, cards: list[Card] | None = None,
                 settings: Settings | None = None,
                 backfill: Backfill | None = None) -> tuple[ir.Table | Callable[[list[str]], str],
                                                         PointsView | None, _Run]:
    """Compute (customers, points) as warehouse expressions for one as-of date, without writing anything.

    ``cards``: the scorecards of this run, the default first. Each customer is scored by the first of the
    others whose ``applies_to`` covers it, else by the default. ``backfill``: see :class:`Backfill` (then the
    points are SELECTs and the customers a function of the tables they are stored in: see write_snapshot).
    """
    options = options or RunOptions()
    settings = settings or Settings()
    run = _Run()
    tables = canonical_tables(wh)
    with run.stage("features", progress, 0):
        n_bins = settings.rfm_bins
        if backfill is not None and (backfill.rfm_from is not None or backfill.rfm.done()):
            rfm = None if backfill.rfm_from == as_of else backfill.rfm.result()  # (waits for the first date's)
        else:
            rfm = _reference_rfm(wh, n_bins, options.refit_rfm)
        feature_config = FeatureConfig(service_cost_per_ticket=settings.service_cost_per_ticket)
        if backfill is not None and wh.dialect == "duckdb" and rfm is not None:
            firsts = backfill.first_sales(wh, tables)

            def build(day: dt.date, rfm: RFM = rfm) -> ir.Table:
                return build_customer_table(tables, day, rfm=rfm, n_bins=n_bins, features=feature_config,
                                            first_sales=firsts)[0]
            key = json.dumps([rfm.to_dict(), n_bins, str(feature_config)], sort_keys=True, default=str)
            customers, fitted = backfill.customers(wh, key, as_of, build), rfm
        else:
            customers, fitted = build_customer_table(tables, as_of, rfm=rfm, n_bins=n_bins, features=feature_config)
            if hasattr(fitted, "bin_edges_"):
                customers = customers.cache()
        if not hasattr(fitted, "bin_edges_"):
            raise CrmscoreError("no orders to score", "import orders first: crmscore import orders FILE")
        run.params["rfm"] = fitted.to_dict()
        run.rows = int(customers.count().execute())
        if backfill is not None and backfill.rfm_from == as_of:
            backfill.rfm.set_result(fitted)
        frame = backfill.churn.frames.get(as_of) if backfill is not None else None
        if frame is not None:  # a later churn fit's origin: its numeric features
            from crmscore.models.churn import numeric_table

            frame.set_result(numeric_table(customers.drop(*[c for c in CLASS_COLUMNS if c in customers.columns])))
    # a backfill on DuckDB scores from compiled SQL (see Backfill), which joins the model columns itself
    templated = bool(cards) and backfill is not None and wh.dialect == "duckdb"
    with run.stage("models", progress, 1):
        models = model_columns(tables["orders"], as_of, options, run)
        churn = churn_columns(tables, as_of, settings.churn_horizon_days, run, features=customers,
                              reuse=backfill.churn if backfill is not None else None)
        if len(churn.columns) > 1:
            models = churn if len(models.columns) <= 1 else models.merge(churn, on="customer_id", how="outer")
        if len(models.columns) > 1 and not templated:
            model_table = ibis.memtable(models)
            customers = customers.left_join(model_table, "customer_id").drop("customer_id_right")
            customers = customers.cache()
    points = None
    with run.stage("scorecard", progress, 2):
        if templated and backfill is not None and cards:
            run.keep_alive.append(customers)
            customers, points = backfill.scored(wh, customers, models if len(models.columns) > 1 else None, cards)
        elif cards:
            scores, points = _score_with_cards(customers, cards)
            customers = customers.left_join(scores, "customer_id").drop("customer_id_right")
        if cards:
            run.params["scorecards"] = [{"name": spec.name, "version": version, "hash": digest}
                                        for spec, version, digest in cards]
    return customers, points, run


def _score_with_cards(customers: ir.Table, cards: list[Card],
                      cache: bool | Callable[[ir.Table], ir.Table] = True) -> tuple[ir.Table, PointsView]:
    """Scores and points of every customer, each by its applicable scorecard (see :func:`score_tables`)."""
    from crmscore.scorecards.compile import applies, score

    default = cards[0][0]
    assigned: Any = ibis.literal(default.name)
    for spec, _version, _digest in reversed(cards[1:]):
        assigned = ibis.ifelse(applies(customers, spec), spec.name, assigned)
    routed = customers.mutate(_scorecard=assigned)
    results = []
    for spec, version, _digest in cards:
        subset = routed.filter(routed._scorecard == spec.name).drop("_scorecard")
        results.append(score(subset, spec, version=version, cache=cache))
    def render(tables: list[ir.Table]) -> ir.Table:
        long = [r.points_from(t) for r, t in zip(results, tables, strict=True)]
        return long[0] if len(long) == 1 else ibis.union(*long)

    points = PointsView(parts=tuple(r.wide for r in results), render=render)
    if len(results) == 1:
        return results[0].customers, points
    columns: dict[str, Any] = {}
    for result in results:
        for name, dtype in result.customers.schema().items():
            columns.setdefault(name, dtype)
    aligned = [r.customers.select(*[r.customers[c] if c in r.customers.columns else ibis.null(t).name(c)
                                    for c, t in columns.items()]) for r in results]
    return ibis.union(*aligned), points


def run_scoring(ws: Workspace, as_of: dt.date | str | None = None, scorecard: str | None = None,
                created_by: str | None = None, progress: ProgressFn | None = None,
                options: RunOptions | None = None, record_job: bool = True,
                backfill: Backfill | None = None) -> SnapshotInfo:
    """Score the workspace for ``as_of`` (default: the latest order date) and write one snapshot.

    The run is recorded in the ``jobs`` table unless ``record_job`` is False (the server's job queue records
    its jobs itself). Afterwards the retention policy (``snapshot_retention``) is applied.
    """
    options = options or RunOptions()
    if as_of is not None:
        options.as_of = as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of))
    options.scorecard = scorecard or options.scorecard
    options.created_by = created_by or options.created_by
    info = _score_date(ws, ws.warehouse, options, progress, record_job, backfill)
    apply_retention(ws.warehouse, ws.settings.snapshot_retention)
    return info


def _score_date(ws: Workspace, wh: Warehouse, options: RunOptions, progress: ProgressFn | None,
                record_job: bool, backfill: Backfill | None) -> SnapshotInfo:
    day = options.as_of or data_as_of(wh)
    params = {"as_of": day.isoformat(), "scorecard": options.scorecard}
    caches_before = wh.cache_names()
    try:
        return _run(ws, wh, day, options, params, progress, record_job, backfill)
    finally:
        wh.release_caches(keep=caches_before)  # this run's temporary tables, not other threads'


def _run(ws: Workspace, wh: Warehouse, day: dt.date, options: RunOptions, params: dict[str, Any],
         progress: ProgressFn | None, record_job: bool, backfill: Backfill | None) -> SnapshotInfo:
    recorder = recorded_job(ws, "score", params, created_by=options.created_by) if record_job else nullcontext()
    with recorder as job:
        if backfill is not None:
            with backfill.lock:
                backfill.cards = backfill.cards or _scorecards_for_run(ws, options.scorecard)
            cards = backfill.cards
        else:
            cards = _scorecards_for_run(ws, options.scorecard)
        spec, version, card_hash = cards[0]

        def report(stage: str, fraction: float) -> None:
            if job is not None:
                job.progress(fraction, stage)
            if progress:
                progress(stage, fraction)

        customers, points, run = score_tables(wh, day, options, report, cards, ws.settings, backfill)
        report("write", 3 / len(STAGES))
        start = time.perf_counter()
        fingerprint = (backfill.fingerprint if backfill is not None else None) or input_fingerprint(wh)
        if backfill is not None:
            backfill.fingerprint = fingerprint
        run.params.update({"clv_horizon_months": options.clv_horizon_months,
                           "discount_rate_monthly": options.discount_rate_monthly, "notices": run.notices})
        meta = {"created_by": options.created_by, "scorecard": spec.name if spec is not None else None,
                "scorecard_version": version, "scorecard_hash": card_hash, "input_fingerprint": fingerprint,
                "params": run.params, "timings": run.timings}
        info = write_snapshot(wh, as_of=day, customers=customers, points=points, meta=meta,
                              clustered=wh.clusters(run.rows))
        info.timings["write"] = round(time.perf_counter() - start, 3)
        report("done", 1.0)
    return info


BackfillProgress = Callable[[int, dt.date, str, float], None]


def backfill_workers(ws: Workspace, n_dates: int, wanted: int | None = None) -> int:
    """How many dates a backfill scores at once: ``wanted``, else ``Settings.backfill_workers`` (0: one per CPU
    core, at most 4); always 1 on a warehouse other than DuckDB (one connection)."""
    if ws.warehouse.dialect != "duckdb":
        return 1
    wanted = wanted or ws.settings.backfill_workers or min(os.cpu_count() or 1, 4)
    return max(1, min(wanted, n_dates))


def run_backfill(ws: Workspace, dates: list[dt.date], scorecard: str | None = None, created_by: str | None = None,
                 progress: BackfillProgress | None = None, workers: int | None = None) -> list[SnapshotInfo]:
    """One snapshot per as-of date (returned oldest first), sharing the work the dates have in common.

    Each snapshot is a complete scoring run with its own job record. The dates are scored ``workers`` at a time
    (default :func:`backfill_workers`), each on its own warehouse connection. Every date uses the RFM edges of
    the workspace's reference snapshot, or else the first date's. The churn models follow :class:`ChurnReuse`:
    fitted for the first date and every ``churn_refit_months`` months after, while earlier dates are scored,
    from the features the backfill computes anyway; each snapshot records its model's ``fitted_as_of`` and
    origins. Scores equal a single run's (the scorecards and the customer table are compiled once, see
    :class:`Backfill`). A failure stops the backfill: the dates not started are skipped, the snapshots already
    written are kept, and the earliest date's error is raised. The retention policy is applied at the end.
    """
    from crmscore.models.churn import engine_features, sales_frame

    days = sorted(set(dates))
    if not days:
        return []
    wh = ws.warehouse
    settings = ws.settings
    churn = ChurnReuse(refit_months=settings.churn_refit_months, horizon_days=settings.churn_horizon_days)
    backfill = Backfill(churn)
    reference = _reference_rfm(wh, settings.rfm_bins, False)
    if reference is not None:
        backfill.rfm.set_result(reference)
    else:
        backfill.rfm_from = days[0]
    infos: dict[dt.date, SnapshotInfo] = {}

    def score(day: dt.date, on: Warehouse) -> None:
        def report(stage: str, fraction: float) -> None:
            if progress:
                progress(days.index(day), day, stage, fraction)
        options = RunOptions(as_of=day, scorecard=scorecard, created_by=created_by)
        infos[day] = _score_date(ws, on, options, report, True, backfill)

    def unblock(day: dt.date, exc: BaseException) -> None:
        """A date that failed or was skipped: whoever waits for its RFM edges or features gets the error."""
        waiting = [churn.frames.get(day)] + ([backfill.rfm] if backfill.rfm_from == day else [])
        for future in waiting:
            if future is not None and not future.done():
                future.set_exception(exc)

    # sales, frame and fit hand their result to a future; their errors get there through failed() below
    def read_sales(day: dt.date, on: Warehouse) -> None:
        churn.sales.set_result(sales_frame(canonical_tables(on)))

    def frame(day: dt.date, on: Warehouse) -> None:
        caches_before = on.cache_names()
        try:
            churn.frames[day].set_result(engine_features(canonical_tables(on), day))
        finally:
            on.release_caches(keep=caches_before)

    def fit(day: dt.date, on: Warehouse) -> None:
        def features(tables: Any, origin: dt.date) -> pd.DataFrame:
            return churn.frames[origin].result()

        caches_before = on.cache_names()
        try:
            model = churn.model()
            model.features = features
            churn.fits[day].set_result(model.fit(canonical_tables(on), day, sales=churn.sales.result(),
                                                 origins=churn.origins(day)))
        finally:
            on.release_caches(keep=caches_before)
            later = {o for r in refits if r > day for o in churn.origins(r)}
            for origin in set(churn.origins(day)) - later:  # features no later fit reads
                churn.frames.pop(origin, None)

    def failed(future: Future[Any]) -> Callable[[dt.date, BaseException], None]:
        """For a task that failed or did not run: whoever waits for its result gets the error (the dates using a
        fit report it; a CrmscoreError there becomes a notice)."""
        def resolve(day: dt.date, exc: BaseException) -> None:
            if not future.done():
                future.set_exception(exc)
        return resolve

    # The tasks, in the order they start: each fit (and the features of its origins that no date computes)
    # once the last date whose features it reads has started, so that it runs while other dates are scored.
    refits = churn.schedule(days)
    day_set = set(days)
    for refit in refits:
        for origin in churn.origins(refit):
            churn.frames.setdefault(origin, Future())
    tasks: dict[int, list[tuple[Callable[[dt.date, Warehouse], Any], dt.date]]] = {}
    computed: set[dt.date] = set()  # origins before the range, computed once for every fit reading them
    for refit in refits:
        churn.fits[refit] = Future()
        inputs = [o for o in churn.origins(refit) if o in day_set]
        # after the date following the last of its input dates, but before its own date
        after = days.index(max(inputs)) + 1 if inputs else -1
        at = min(after, days.index(refit) - 1)
        own = [o for o in churn.origins(refit) if o not in day_set and o not in computed]
        computed.update(own)
        tasks.setdefault(at, []).extend([*[(frame, o) for o in own], (fit, refit)])
    ensure_registry(wh)
    pool = _Workers(wh, backfill_workers(ws, len(days), workers))

    def submit(task: Callable[[dt.date, Warehouse], Any], day: dt.date) -> None:
        result = churn.fits[day] if task is fit else churn.frames[day]
        pool.submit(task, day, on_fail=failed(result))

    try:
        pool.submit(read_sales, days[0], on_fail=failed(churn.sales))
        for task, day in tasks.get(-1, []):
            submit(task, day)
        for i, day in enumerate(days):
            pool.submit(score, day, stops=True, on_fail=unblock)
            for task, other in tasks.get(i, []):
                submit(task, other)
        pool.wait()
    finally:
        pool.close()
        backfill.release(wh)
        apply_retention(wh, ws.settings.snapshot_retention)
    return [infos[day] for day in days]


class _Skipped(Exception):
    """A backfill task not run because an earlier one failed."""


class _Workers:
    """Runs a backfill's tasks in order of submission, ``workers`` at a time, each thread on its own warehouse
    connection (with one worker: at once, on the caller's connection).

    A failed ``stops=True`` task (a date) skips the tasks not yet started; :meth:`wait` raises the earliest
    such failure by date once the running ones have finished. Other tasks (fits) hand their error to whoever
    reads their future (a date: a CrmscoreError there becomes a notice).
    """

    def __init__(self, wh: Warehouse, workers: int) -> None:
        self.wh = wh
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crmscore-backfill") \
            if workers > 1 else None
        self.stop = threading.Event()
        self.errors: dict[dt.date, BaseException] = {}
        self.futures: list[Future[Any]] = []
        self.local = threading.local()
        self.opened: list[Warehouse] = []
        self.lock = threading.Lock()
        # Each date's queries are small (100k customers are one row group): parallel dates use the cores better
        # than parallel threads inside each query, whose idle threads spin (measured at 100k: 10% less CPU).
        self.threads: Any = None
        self.started = 0
        self.sealed = False  # every task submitted
        if self.pool is not None:
            self.threads = wh.execute("SELECT current_setting('threads')").fetchone()[0]
            wh.execute(f"SET threads = {max(1, (os.cpu_count() or 1) // workers)}")

    def _connection(self) -> Warehouse:
        if self.pool is None:
            return self.wh
        conn = getattr(self.local, "wh", None)
        if conn is None:
            conn = self.local.wh = self.wh.cursor()
            with self.lock:
                self.opened.append(conn)
        return conn

    def _run(self, task: Callable[[dt.date, Warehouse], Any], day: dt.date, stops: bool,
             on_fail: Callable[[dt.date, BaseException], None] | None) -> Any:
        with self.lock:
            self.started += 1
        try:
            if self.stop.is_set():
                raise _Skipped()
            connection = self._connection()
            result = task(day, connection)
            with self.lock:
                idle = self.sealed and self.started == len(self.futures) and self.threads is not None
            if idle:  # this worker has nothing left to start: the tasks still running may use its core
                connection.execute(f"SET threads = {os.cpu_count() or 1}")
            return result
        except BaseException as exc:
            if stops:
                self.stop.set()
                self.errors[day] = exc
            if on_fail is not None:
                on_fail(day, exc)
            raise

    def submit(self, task: Callable[[dt.date, Warehouse], Any], day: dt.date, stops: bool = False,
               on_fail: Callable[[dt.date, BaseException], None] | None = None) -> Future[Any]:
        if self.pool is not None:
            future = self.pool.submit(self._run, task, day, stops, on_fail)
        else:
            future = Future()
            try:
                future.set_result(self._run(task, day, stops, on_fail))
            except BaseException as exc:
                future.set_exception(exc)
        self.futures.append(future)
        return future

    def wait(self) -> None:
        self.sealed = True
        try:
            for future in self.futures:
                future.exception()  # waits; errors are collected by _run
        except BaseException:  # e.g. Ctrl-C: let the running tasks finish, start no other
            self.stop.set()
            raise
        failed = [self.errors[day] for day in sorted(self.errors) if not isinstance(self.errors[day], _Skipped)]
        if failed:
            raise failed[0]

    def close(self) -> None:
        self.stop.set()  # after a failure in the caller: start nothing more
        if self.pool is not None:
            # not cancelled: a queued task skips itself and hands its error to whoever waits for its result
            self.pool.shutdown(wait=True)
        for conn in self.opened:
            conn.close()
        if self.threads is not None:
            self.wh.execute(f"SET threads = {int(self.threads)}")


def _scorecards_for_run(ws: Workspace, ref: str | None) -> list[Card]:
    """The scorecards of a run, the default first.

    With ``ref`` (``NAME[@VERSION]``) only that one, for every customer. Without: the default (the published
    default, else ``b2b-default``) plus every other built-in or published scorecard that has ``applies_to``
    conditions (so B2C customers get ``b2c-retail`` while B2B customers get ``b2b-default``).
    """
    from crmscore.scorecards.templates import TEMPLATES
    from crmscore.scorecards.versions import list_versions, resolve

    if ref is not None:
        return [resolve(ws, ref)]
    default = resolve(ws, None)
    names = sorted(set(TEMPLATES) | {v.name for v in list_versions(ws)})
    others = [resolve(ws, name) for name in names if name != default[0].name]
    return [default, *[card for card in others if card[0].applies_to.conditions()]]
