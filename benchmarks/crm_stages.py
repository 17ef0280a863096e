"""crmscore's own stages. Each imports what it needs inside its setup; code not written yet is skipped
("not yet available") instead of failing the suite, so stages light up as the features land.

Inputs are the cached Parquet files (read by DuckDB through Ibis inside the timing, like the peers read them);
the import stage reads the 10M-row-class ``orders.csv``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.peers import rfm_checksum
from benchmarks.registry import DataSpec, Timed, Unavailable, stage

__all__: list[str] = []


def _need(module: str, *names: str) -> Any:
    """Import ``module`` (and check it has ``names``), or raise :class:`Unavailable`."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"not yet available: {module} ({exc})") from None
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise Unavailable(f"not yet available: {module}.{', '.join(missing)}")
    return mod


def _ibis_tables(data: DataSpec, names: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    ibis = _need("ibis")
    con = ibis.duckdb.connect()
    return con, {n: con.read_parquet(str(data.parquet(n)), table_name=n) for n in names}


ALL_TABLES = ("customers", "owners", "products", "orders", "order_lines", "interactions", "invoices", "surveys",
              "tickets", "opportunities")


def _features_classes(data: DataSpec, names: tuple[str, ...],
                      only: tuple[str, ...] | None = None) -> Callable[[], dict[str, Any]]:
    pipeline = _need("crmscore.engine.pipeline", "build_customer_table")
    import pyarrow.compute as pc

    def run() -> dict[str, Any]:
        con, tables = _ibis_tables(data, names)
        try:
            table, _ = pipeline.build_customer_table(tables, data.as_of, only=only)
            out = table.to_pyarrow()
        finally:
            con.disconnect()
        buyers = out.filter(pc.greater(out["purchase_days"], 0))
        sums = [pc.sum(buyers[c]).as_py() for c in ("purchase_days", "recency_days", "monetary")]
        return rfm_checksum(buyers.num_rows, *sums) | {"rows": out.num_rows, "columns": out.num_columns}

    return run


@stage("crmscore_features_classes", group="rfm", engine="crmscore",
       title="crmscore features + classes (orders, customers)")
def features_classes(data: DataSpec) -> Timed:
    return Timed(_features_classes(data, ("orders", "customers")))


@stage("crmscore_classes", group="rfm", engine="crmscore",
       title="crmscore classes + the features they read (orders, customers; only=())")
def classes_only(data: DataSpec) -> Timed:
    return Timed(_features_classes(data, ("orders", "customers"), only=()))


@stage("crmscore_features_all", group="features_all", engine="crmscore",
       title="crmscore features + classes (all 10 tables)")
def features_all(data: DataSpec) -> Timed:
    return Timed(_features_classes(data, ALL_TABLES))


@stage("crmscore_scorecard", group="scorecard", engine="crmscore", title="crmscore scorecard (b2b-default)",
       timeout_s=300, max_runs=3)
def scorecard(data: DataSpec) -> Timed:
    compile_ = _need("crmscore.scorecards.compile", "score")
    validate = _need("crmscore.scorecards.validate", "read_scorecard")
    templates = _need("crmscore.scorecards.templates", "template_path")
    pipeline = _need("crmscore.engine.pipeline", "build_customer_table")
    spec = validate.read_scorecard(templates.template_path("b2b-default"))
    con, tables = _ibis_tables(data, ALL_TABLES)
    features, _ = pipeline.build_customer_table(tables, data.as_of)
    feats = con.create_table("bench_features", features.to_pyarrow())  # untimed: scoring starts from features

    def run() -> dict[str, Any]:
        result = compile_.score(feats, spec, cache=True)
        customers = result.customers.to_pyarrow()
        points = result.points.count().execute()
        return {"customers": customers.num_rows, "points_rows": int(points)}

    return Timed(run)


@stage("crmscore_import", group="import", engine="crmscore", title="crmscore import orders CSV (workspace)")
def import_orders(data: DataSpec) -> Timed:
    ingest = _need("crmscore.ingest", "import_file")
    workspace = _need("crmscore.workspace", "Workspace")
    state: dict[str, Any] = {}

    def before() -> None:
        tmp = Path(tempfile.mkdtemp(prefix="crmscore-bench-ws-"))
        ws = workspace.Workspace.init(tmp / "ws")
        # Untimed: the orders reference these customers. Without is_stub: the importer (at the time of writing)
        # fails on a file that carries that column ("Duplicate column name is_stub in INSERT").
        import pyarrow.parquet as pq

        customers = pq.read_table(data.parquet("customers"))
        pq.write_table(customers.drop_columns(["is_stub"]), tmp / "customers.parquet")
        ingest.import_file(ws, "customers", tmp / "customers.parquet")
        state.update(tmp=tmp, ws=ws)

    def run() -> dict[str, Any]:
        report = ingest.import_file(state["ws"], "orders", data.orders_csv)
        doc = report.model_dump() if hasattr(report, "model_dump") else dict(report)
        return {"rows": _find_count(doc, "inserted"), "rejected": _find_count(doc, "rejected")}

    def after() -> None:
        state["ws"].close()
        shutil.rmtree(state["tmp"], ignore_errors=True)

    return Timed(run, before=before, after=after)


def _find_count(doc: Any, key: str) -> int | None:
    """The first integer under ``key`` anywhere in an import report document."""
    if isinstance(doc, dict):
        if isinstance(doc.get(key), int):
            return int(doc[key])
        for value in doc.values():
            found = _find_count(value, key)
            if found is not None:
                return found
    if isinstance(doc, list):
        for value in doc:
            found = _find_count(value, key)
            if found is not None:
                return found
    return None


# --- BTYD models ---------------------------------------------------------------------------------------------

def _summary(data: DataSpec) -> Any:
    summary = _need("crmscore.models.summary", "summary_from_orders")
    con, tables = _ibis_tables(data, ("orders",))
    try:
        return con.execute(summary.summary_from_orders(tables["orders"], observation_period_end=data.as_of))
    finally:
        con.disconnect()


@stage("crmscore_btyd_summary", group="btyd_summary", engine="crmscore", title="crmscore summary_from_orders")
def btyd_summary(data: DataSpec) -> Timed:
    _need("crmscore.models.summary", "summary_from_orders")

    def run() -> dict[str, Any]:
        df = _summary(data)
        return {"customers": len(df), "repeat_days": int(df["frequency"].sum())}

    return Timed(run)


def _params(model: Any) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in dict(model.params_).items()}


@stage("crmscore_bgnbd_fit", group="bgnbd_fit", engine="crmscore", title="crmscore BetaGeo.fit")
def bgnbd_fit(data: DataSpec) -> Timed:
    models = _need("crmscore.models", "BetaGeo")
    df = _summary(data)
    return Timed(lambda: {"params": _params(models.BetaGeo().fit(df))})


@stage("crmscore_paretonbd_fit", group="paretonbd_fit", engine="crmscore", title="crmscore ParetoNBD.fit")
def paretonbd_fit(data: DataSpec) -> Timed:
    models = _need("crmscore.models", "ParetoNBD")
    df = _summary(data)
    return Timed(lambda: {"params": _params(models.ParetoNBD().fit(df))})


def _repeaters(df: Any) -> Any:
    return df[(df["frequency"] > 0) & (df["monetary_value"] > 0)]


@stage("crmscore_gammagamma_fit", group="gammagamma_fit", engine="crmscore", title="crmscore GammaGamma.fit")
def gammagamma_fit(data: DataSpec) -> Timed:
    models = _need("crmscore.models", "GammaGamma")
    rep = _repeaters(_summary(data))
    return Timed(lambda: {"params": _params(models.GammaGamma().fit(rep["frequency"], rep["monetary_value"]))})


@stage("crmscore_predictions", group="predictions", engine="crmscore",
       title="crmscore clv_table (P(alive), purchases, spend, CLV; 12 months)")
def predictions(data: DataSpec) -> Timed:
    models = _need("crmscore.models", "BetaGeo", "GammaGamma", "clv_table")
    df = _summary(data)
    bg = models.BetaGeo().fit(df)
    rep = _repeaters(df)
    gg = models.GammaGamma().fit(rep["frequency"], rep["monetary_value"])

    def run() -> dict[str, Any]:
        out = models.clv_table(bg, gg, df, horizon_months=12, time_unit="D")
        return {"customers": len(out), "clv_total": round(float(out["clv"].sum()), 2)}

    return Timed(run)


def _pandas_tables(data: DataSpec, names: tuple[str, ...]) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {n: pq.read_table(data.parquet(n)).to_pandas() for n in names}


@stage("crmscore_churn_fit", group="churn", engine="crmscore",
       title="crmscore ChurnModel.fit (4 rolling origins, engine features, all tables)", timeout_s=900, max_runs=1)
def churn_fit(data: DataSpec) -> Timed:
    churn = _need("crmscore.models.churn", "ChurnModel")
    _con, tables = _ibis_tables(data, ALL_TABLES)

    def run() -> dict[str, Any]:
        model = churn.ChurnModel().fit(tables, data.as_of)
        return {"mode": model.mode_, "origins": len(model.origins_)}

    return Timed(run)


@stage("crmscore_churn", group="churn", engine="crmscore",
       title="crmscore churn scoring: ChurnModel.predict with 3 reasons (model fitted untimed)", timeout_s=900,
       max_runs=1)
def churn_predict(data: DataSpec) -> Timed:
    churn = _need("crmscore.models.churn", "ChurnModel")
    _con, tables = _ibis_tables(data, ALL_TABLES)
    model = churn.ChurnModel().fit(tables, data.as_of)

    def run() -> dict[str, Any]:
        risk = model.predict(tables, data.as_of)
        return {"customers": len(risk), "mean_risk": round(float(risk["churn_risk"].mean()), 4),
                "mode": model.mode_}

    return Timed(run)


# --- snapshots and the whole pipeline ------------------------------------------------------------------------

def _month_ends(as_of: dt.date, n: int) -> list[dt.date]:
    """The last ``n`` month ends up to ``as_of`` (``as_of`` itself when it is a month end)."""
    day = as_of if (as_of + dt.timedelta(days=1)).day == 1 else as_of.replace(day=1) - dt.timedelta(days=1)
    out = []
    for _ in range(n):
        out.append(day)
        day = day.replace(day=1) - dt.timedelta(days=1)
    return sorted(out)


def _load_all(raw: Any, data: DataSpec) -> None:
    """Every table of the data set into a DuckDB connection (untimed: loaded before scoring)."""
    for name in ALL_TABLES:
        raw.execute(f"INSERT INTO {name} BY NAME SELECT * FROM read_parquet('{data.parquet(name)}')")


def _on_workspace(data: DataSpec, prefix: str, run: Callable[[Any], dict[str, Any]]) -> Timed:
    """``run(workspace)`` timed on a fresh workspace holding the data set, removed afterwards."""
    workspace = _need("crmscore.workspace", "Workspace")
    state: dict[str, Any] = {}

    def before() -> None:
        tmp = Path(tempfile.mkdtemp(prefix=prefix))
        ws = workspace.Workspace.init(tmp / "ws")
        _load_all(ws.warehouse.con.con, data)
        state.update(tmp=tmp, ws=ws)

    def after() -> None:
        state["ws"].close()
        shutil.rmtree(state["tmp"], ignore_errors=True)

    return Timed(lambda: run(state["ws"]), before=before, after=after)


@stage("crmscore_snapshots_24", group="snapshots", engine="crmscore",
       title="24 monthly snapshots: features + classes + write (RFM edges fitted on the first)",
       max_customers=100_000, timeout_s=600, max_runs=1)
def snapshots_24(data: DataSpec) -> Timed:
    pipeline = _need("crmscore.engine.pipeline", "build_customer_table")
    snaps = _need("crmscore.services.snapshots", "write_snapshot")
    warehouse = _need("crmscore.store.warehouse", "Warehouse")
    ends = _month_ends(data.as_of, 24)
    state: dict[str, Any] = {}

    def before() -> None:
        tmp = Path(tempfile.mkdtemp(prefix="crmscore-bench-snap-"))
        wh = warehouse.Warehouse.in_memory()
        _load_all(wh.con.con, data)
        state.update(tmp=tmp, wh=wh)

    def run() -> dict[str, Any]:
        wh = state["wh"]
        tables = {name: wh.table(name) for name in ALL_TABLES}
        rfm = None
        rows = 0
        for as_of in ends:
            table, rfm = pipeline.build_customer_table(tables, as_of, rfm=rfm)
            info = snaps.write_snapshot(wh, as_of=as_of, customers=table)
            rows += int(getattr(info, "customer_count", 0) or 0)
        return {"snapshots": len(ends), "first": ends[0].isoformat(), "last": ends[-1].isoformat(),
                "customer_rows": rows}

    def after() -> None:
        state["wh"].close()
        shutil.rmtree(state["tmp"], ignore_errors=True)

    return Timed(run, before=before, after=after)


@stage("crmscore_backfill_24", group="snapshots", engine="crmscore",
       title="24 monthly snapshots as `crmscore score --from --to` makes them: features, classes, models, churn "
             "(refitted every churn_refit_months), scorecards, snapshot with points; dates scored "
             "backfill_workers at a time (stage_s sums the dates' own timings)",
       max_customers=100_000, timeout_s=1800, max_runs=1)
def backfill_24(data: DataSpec) -> Timed:
    pipeline = _need("crmscore.services.pipeline", "run_backfill", "backfill_workers")
    ends = _month_ends(data.as_of, 24)

    def run(ws: Any) -> dict[str, Any]:
        infos = pipeline.run_backfill(ws, ends)
        stages: dict[str, float] = {}
        for info in infos:
            for name, seconds in info.timings.items():
                stages[name] = round(stages.get(name, 0.0) + seconds, 1)
        fits = sorted({info.params.get("churn", {}).get("fitted_as_of") for info in infos} - {None})
        return {"snapshots": len(infos), "customer_rows": sum(info.customer_count for info in infos),
                "churn_fits": len(fits), "workers": pipeline.backfill_workers(ws, len(ends)), "stage_s": stages}

    return _on_workspace(data, "crmscore-bench-backfill-", run)


@stage("crmscore_pipeline", group="pipeline", engine="crmscore",
       title="crmscore run_scoring: features, classes, models, churn, scorecard, snapshot (data loaded untimed)",
       timeout_s=1800, max_runs=1)
def whole_pipeline(data: DataSpec) -> Timed:
    pipeline = _need("crmscore.services.pipeline", "run_scoring")

    def run(ws: Any) -> dict[str, Any]:
        result = pipeline.run_scoring(ws, data.as_of)
        info = getattr(result, "snapshot", result)
        return {"customers": int(getattr(info, "customer_count", 0) or 0)}

    return _on_workspace(data, "crmscore-bench-pipe-", run)
