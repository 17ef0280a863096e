"""Churn early warning: a supervised risk model trained by backtesting, with calibrated probabilities and reasons.

Label. At an origin t, every customer with at least one sale on or before t is a row; the label is 1 ("churned")
when the customer makes no sale in (t, t + h] (h = ``horizon_days``, default ``Settings.churn_horizon_days`` =
90). A sale is a completed order with amount > 0 (:mod:`crmscore.schema`).

Features. By default the engine's per-customer feature table as of t (:func:`crmscore.engine.features.
compute_features`: recency, purchase days and spend in windows, trend, inter-purchase gaps, engagement,
payment, satisfaction ... whatever tables are present), numeric columns only. ``features="simple"`` uses a
small orders-only set (:func:`simple_features`), and any callable ``(tables, as_of) -> DataFrame`` with
``customer_id`` plus numeric columns plugs in (the integration seam).

Training (rolling origins). ``fit(tables, as_of)`` builds origins t_k = as_of − h − k·step (k = 0..n−1, step = h
by default), whose labels are all known by ``as_of``. A gradient-boosted tree model (XGBoost, histogram
method, leaf-wise trees) is trained on every origin but the latest. The latest origin (later than all training
data, so it sees the drift a forecast will see) stops the boosting when its log-loss stops improving (10 rounds
without gain) and calibrates the scores with isotonic regression.

Reasons. Each customer's log-odds are split over the features along the customer's decision paths in every tree
(tree-path attribution, XGBoost's ``approx_contribs``: each split credits its feature with the change in the
node value). A feature's contribution is the drop in predicted risk when its share of the log-odds is taken
away. The three features with the largest positive contribution are the customer's reasons, reported with
value, typical value (the median over the training rows), direction ("higher"/"lower" than typical) and labels
in English and Chinese from the metric catalog. This costs about one prediction over the customers, where
re-scoring with each feature replaced in turn cost one prediction per feature.

Fallback. With too little history (fewer than two origins with customers, too few training rows, or a single
class), the model falls back to 1 − P(alive) from a BG/NBD model fitted on the history up to ``as_of``; ``mode_``
is ``"p_alive"``, ``notice_`` says why, and a warning is logged (the pipeline prints it).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from crmscore.errors import ConvergenceError, DataError, NotFittedError, UnknownName

__all__ = [
    "FEATURE_SETS",
    "ChurnModel",
    "backtest_frames",
    "churn_labels",
    "engine_features",
    "feature_label",
    "numeric_features",
    "numeric_table",
    "sales_frame",
    "simple_features",
]

log = logging.getLogger(__name__)

FeatureFn = Callable[[Mapping[str, Any], dt.date], pd.DataFrame]

# Below this many rows, or when the machine is already busy, the booster runs single-threaded: OpenMP threads
# on a small problem cost more than they save, and on an oversubscribed machine they spin and wait (measured
# here: 100 rounds on 212k rows took 10 s on one thread and 42 s on two at load average 7.6).
_PARALLEL_ROWS = 200_000
# Rows explained per call (x 8 bytes x (features + 1) of memory: ~100 MB for 50 features).
_EXPLAIN_BATCH_ROWS = 250_000


def _threads(n_rows: int) -> int:
    cores = os.cpu_count() or 1
    idle = os.getloadavg()[0] < cores - 0.5 if hasattr(os, "getloadavg") else True
    return cores if n_rows >= _PARALLEL_ROWS and idle else 1


def _as_day(value: Any) -> dt.date:
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise DataError(f"not a date: {value!r}", "use YYYY-MM-DD")
    return ts.date()


def _tables(tables: Mapping[str, Any] | Any) -> Mapping[str, Any]:
    """A tables mapping; a bare orders frame is accepted as ``{"orders": frame}``."""
    if isinstance(tables, Mapping):
        if "orders" not in tables:
            raise DataError("the churn model needs an 'orders' table", "pass tables={'orders': ..., ...}")
        return tables
    return {"orders": tables}


def sales_frame(tables: Mapping[str, Any] | Any) -> pd.DataFrame:
    """Sales (completed orders with amount > 0) as pandas: customer_id, day (datetime64[D]), amount (float).

    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_date": pd.to_datetime(["2024-01-01",
    ...     "2024-01-02", "2024-01-03"]), "amount": [10.0, -4.0, 5.0], "status": ["completed"] * 3})
    >>> sales_frame(orders)["amount"].tolist()
    [10.0, 5.0]
    """
    from crmscore.engine.frames import to_frame, to_ibis

    orders = _tables(tables)["orders"]
    if not isinstance(orders, pd.DataFrame):
        orders = to_ibis(orders)
    missing = [c for c in ("customer_id", "order_date", "amount") if c not in orders.columns]
    if missing:
        from crmscore.errors import MissingColumnsError

        raise MissingColumnsError("orders", missing, [str(c) for c in orders.columns])
    if isinstance(orders, pd.DataFrame):
        frame = orders
    else:  # only the columns read, money as float in the database (not one Python Decimal per order)
        columns = {"customer_id": orders.customer_id, "order_date": orders.order_date,
                   "amount": orders.amount.cast("float64")}
        frame = to_frame(orders.select(**columns, **({"status": orders.status} if "status" in orders.columns
                                                     else {})))
    amount = pd.to_numeric(frame["amount"], errors="coerce").astype(np.float64)
    status = frame["status"].fillna("completed") if "status" in frame.columns else "completed"
    keep = (status == "completed") & (amount > 0) & frame["customer_id"].notna()
    return pd.DataFrame({
        "customer_id": frame.loc[keep, "customer_id"].astype(str).to_numpy(),
        "day": pd.to_datetime(frame.loc[keep, "order_date"]).dt.floor("D").to_numpy(),
        "amount": amount[keep].to_numpy(),
    })


# id of a sales frame -> (its length, its customers' first sale day sorted by customer id)
_FIRST_SALE: dict[int, tuple[int, pd.Series]] = {}


def _buyers(sales: pd.DataFrame, day: pd.Timestamp) -> np.ndarray:
    """The ids of the customers with a sale on or before ``day``, sorted: those whose first sale is by then.
    The first sales are found once per sales frame (a backfill asks for every date and origin; sales frames are
    not changed in place)."""
    rows, first = _FIRST_SALE.get(id(sales), (-1, None))
    if first is None or rows != len(sales):
        first = sales.groupby("customer_id", sort=True)["day"].min()
        _FIRST_SALE[id(sales)] = (len(sales), first)
        weakref.finalize(sales, _FIRST_SALE.pop, id(sales), None)
    return np.asarray(first.index.to_numpy()[first.to_numpy() <= day], dtype=object)


def churn_labels(sales: pd.DataFrame, origin: Any, horizon_days: int) -> pd.DataFrame:
    """customer_id and ``churned`` (1 = no sale in (origin, origin + h]) for customers with a sale by origin.

    >>> sales = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "day": pd.to_datetime(
    ...     ["2024-01-01", "2024-02-15", "2024-01-05", "2024-03-01"]), "amount": [1.0, 1.0, 1.0, 1.0]})
    >>> churn_labels(sales, "2024-01-31", 30).to_dict("list")
    {'customer_id': ['a', 'b'], 'churned': [0, 1]}
    """
    t = pd.Timestamp(_as_day(origin))
    end = t + pd.Timedelta(days=horizon_days)
    future = sales.loc[(sales["day"] > t) & (sales["day"] <= end), "customer_id"].unique()
    ids = pd.Series(_buyers(sales, t), dtype=object)
    # a hash lookup: np.isin on object arrays sorts them, 25 s at 100k customers
    return pd.DataFrame({"customer_id": ids.to_numpy(), "churned": (~ids.isin(future)).to_numpy(np.int64)})


def simple_features(tables: Mapping[str, Any] | Any, as_of: Any) -> pd.DataFrame:
    """A small orders-only feature set as of a day: recency, frequency, spend, tenure and a 90-day trend.

    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_date": pd.to_datetime(["2024-01-01",
    ...     "2024-03-01", "2024-02-01"]), "amount": [10.0, 20.0, 5.0], "status": ["completed"] * 3})
    >>> simple_features(orders, "2024-03-31")[["customer_id", "recency_days", "purchase_days", "monetary"]]
      customer_id  recency_days  purchase_days  monetary
    0           a            30              2      30.0
    1           b            59              1       5.0
    """
    sales = sales_frame(tables)
    t = pd.Timestamp(_as_day(as_of))
    hist = sales[sales["day"] <= t]
    days = hist.groupby(["customer_id", "day"], as_index=False)["amount"].sum()
    age = (t - days["day"]).dt.days
    days = days.assign(age=age, in90=age < 90, in90_180=(age >= 90) & (age < 180), in365=age < 365)
    g = days.groupby("customer_id")
    out = pd.DataFrame({
        "recency_days": g["age"].min(),
        "tenure_days": g["age"].max(),
        "purchase_days": g.size(),
        "purchase_days_90d": g["in90"].sum(),
        "purchase_days_365d": g["in365"].sum(),
        "monetary": g["amount"].sum(),
        "monetary_90d": days["amount"].where(days["in90"], 0.0).groupby(days["customer_id"]).sum(),
        "avg_order_value": g["amount"].mean(),
    })
    prev = g["in90_180"].sum()
    out["trend_90d"] = out["purchase_days_90d"] - prev
    out = out.reset_index()
    for col in ("recency_days", "tenure_days", "purchase_days", "purchase_days_90d", "purchase_days_365d"):
        out[col] = out[col].astype(np.int64)
    out["trend_90d"] = out["trend_90d"].astype(np.int64)
    return out


def engine_features(tables: Mapping[str, Any] | Any, as_of: Any) -> pd.DataFrame:
    """The engine's feature table as of a day, numeric columns only (money decimals become floats)."""
    from crmscore.engine.features import compute_features

    return numeric_table(compute_features(_tables(tables), as_of=_as_day(as_of)))


def numeric_table(table: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """:func:`numeric_features` of an Ibis table (only ``columns`` when given), with the casts to float done by
    the database: money decimals would otherwise cross to pandas as one Python ``Decimal`` per value.
    """
    from crmscore.engine.frames import to_frame

    schema = table.schema()
    names = [c for c in (columns if columns is not None else schema.names) if c in schema and c != "customer_id"]
    numeric = {c: table[c].cast("float64") for c in names if schema[c].is_numeric() or schema[c].is_boolean()}
    return numeric_features(to_frame(table.select(customer_id=table["customer_id"].cast("string"), **numeric)))


def numeric_features(frame: pd.DataFrame) -> pd.DataFrame:
    """``customer_id`` plus the numeric columns of a feature frame as float64 (decimals too); columns that
    are empty everywhere are dropped.

    >>> import decimal
    >>> numeric_features(pd.DataFrame({"customer_id": [1], "monetary": [decimal.Decimal("2.5")],
    ...                                "segment": ["x"], "blank": [None]})).dtypes.to_dict()
    {'customer_id': dtype('O'), 'monetary': dtype('float64')}
    """
    keep: dict[str, Any] = {"customer_id": frame["customer_id"].astype(str)}
    for col in frame.columns:
        if col == "customer_id":
            continue
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            keep[col] = pd.to_numeric(series, errors="coerce").astype(np.float64)
        elif series.dtype == object:
            sample = series.dropna()
            if len(sample) and all(isinstance(v, int | float) or type(v).__name__ == "Decimal"
                                   for v in sample.iloc[:50]):
                keep[col] = pd.to_numeric(series, errors="coerce").astype(np.float64)
    out = pd.DataFrame(keep)
    informative = [c for c in out.columns if c == "customer_id" or out[c].notna().any()]
    return out[informative]


FEATURE_SETS: dict[str, FeatureFn] = {"engine": engine_features, "simple": simple_features}


def _feature_fn(features: str | FeatureFn) -> FeatureFn:
    if callable(features):
        return features
    if features not in FEATURE_SETS:
        raise UnknownName("feature set", str(features), FEATURE_SETS)
    return FEATURE_SETS[features]


def backtest_frames(tables: Mapping[str, Any] | Any, origins: list[Any], horizon_days: int,
                    features: str | FeatureFn = "engine", *, sales: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (origin, customer with a sale by the origin): ``origin``, ``customer_id``, the features
    as of the origin and ``churned`` (no sale in (origin, origin + h]). ``sales``: :func:`sales_frame` of
    ``tables`` when the caller has it already.
    """
    fn = _feature_fn(features)
    tables = _tables(tables)
    sales = sales_frame(tables) if sales is None else sales
    parts = []
    for origin in origins:
        labels = churn_labels(sales, origin, horizon_days)
        if labels.empty:
            continue
        feats = fn(tables, _as_day(origin))
        feats = feats.assign(customer_id=feats["customer_id"].astype(str))
        frame = labels.merge(feats, on="customer_id", how="left")
        frame.insert(0, "origin", pd.Timestamp(_as_day(origin)))
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=["origin", "customer_id", "churned"])
    return pd.concat(parts, ignore_index=True)


def feature_label(name: str, lang: str = "en") -> str:
    """A feature's label from the metric catalog (the name itself when the catalog does not know it).

    >>> feature_label("recency_days"), feature_label("recency_days", "zh")
    ('Recency (days)', '最近购买天数')
    """
    try:
        from crmscore.engine.catalog import get

        metric = get(name)
    except (ImportError, UnknownName):
        return name
    return metric.label_zh if lang == "zh" else metric.label_en


class ChurnModel:
    """Supervised churn risk with calibrated probabilities and per-customer reasons (see the module docstring).

    >>> from crmscore.datasets import cdnow_orders
    >>> model = ChurnModel(features="simple").fit(cdnow_orders(), as_of="1998-03-31")
    >>> model.mode_, len(model.origins_)
    ('supervised', 4)
    >>> risk = model.predict(cdnow_orders(), as_of="1998-03-31")
    >>> bool(risk["churn_risk"].between(0, 1).all()), list(risk.columns[:3])
    (True, ['customer_id', 'churn_risk', 'reason_1'])
    """

    def __init__(self, *, horizon_days: int = 90, n_origins: int = 4, step_days: int | None = None,
                 features: str | FeatureFn = "engine", min_train_rows: int = 200, max_iter: int = 300,
                 learning_rate: float = 0.1, max_leaves: int = 31, min_child_weight: float = 5.0,
                 l2_regularization: float = 1.0, max_train_rows: int = 250_000, random_state: int = 0) -> None:
        self.horizon_days = horizon_days
        self.n_origins = n_origins
        self.step_days = step_days
        self.features = features
        self.min_train_rows = min_train_rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaves = max_leaves
        self.min_child_weight = min_child_weight
        self.l2_regularization = l2_regularization
        self.max_train_rows = max_train_rows
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------------------------------
    def origins(self, as_of: Any) -> list[dt.date]:
        """The training origins for ``as_of``, oldest first (the last one calibrates)."""
        day = _as_day(as_of)
        step = self.step_days or self.horizon_days
        return sorted(day - dt.timedelta(days=self.horizon_days + k * step) for k in range(self.n_origins))

    def fit(self, tables: Mapping[str, Any] | Any, as_of: Any, *, sales: pd.DataFrame | None = None,
            origins: list[dt.date] | None = None) -> ChurnModel:
        """Train on rolling origins whose labels are known by ``as_of``; returns self.

        ``sales``: :func:`sales_frame` of ``tables`` when the caller has it already. ``origins``: other
        training origins than :meth:`origins` (each at least ``horizon_days`` before ``as_of``; a backfill
        uses month ends, whose features it has computed already).
        """
        if self.horizon_days < 1 or self.n_origins < 2:
            raise DataError("ChurnModel needs horizon_days >= 1 and n_origins >= 2")
        tables = _tables(tables)
        if origins is None:
            origins = self.origins(as_of)
        elif max(origins) > _as_day(as_of) - dt.timedelta(days=self.horizon_days):
            raise DataError(f"training origin {max(origins)} is less than {self.horizon_days} days before "
                            f"{_as_day(as_of)}: its labels are not known yet")
        origins = sorted(origins)
        frames = backtest_frames(tables, list(origins), self.horizon_days, self.features, sales=sales)
        used = sorted(frames["origin"].unique()) if len(frames) else []
        self.as_of_ = _as_day(as_of)
        self.origins_ = [pd.Timestamp(o).date() for o in used]
        reason = self._too_short(frames, used)
        if reason:
            return self._fallback(tables, reason)
        last = used[-1]
        train, calib = frames[frames["origin"] < last], frames[frames["origin"] == last]
        # Beyond a few hundred thousand rows more rows barely change the model but cost linearly: sample.
        if len(train) > self.max_train_rows:
            train = train.sample(n=self.max_train_rows, random_state=self.random_state)
        if len(calib) > self.max_train_rows:
            calib = calib.sample(n=self.max_train_rows, random_state=self.random_state)
        self.feature_names_ = [c for c in frames.columns if c not in ("origin", "customer_id", "churned")]
        x_train = train[self.feature_names_].to_numpy(dtype=np.float64)
        x_calib = calib[self.feature_names_].to_numpy(dtype=np.float64)
        y_train, y_calib = train["churned"].to_numpy(), calib["churned"].to_numpy()
        # boosting stops when the log-loss on the later (calibration) origin stops improving:
        # rolling-origin validation, which sees the drift between origins that a random split would hide
        import xgboost  # here, not at import: xgboost and scikit-learn take most of a second to load
        from sklearn.isotonic import IsotonicRegression

        threads = _threads(len(train))
        self.booster_ = xgboost.train(
            self._params(threads), xgboost.QuantileDMatrix(x_train, y_train, nthread=threads),
            num_boost_round=self.max_iter, early_stopping_rounds=10, verbose_eval=False,
            # a plain matrix: evaluating each round on a quantised one (what XGBClassifier builds) cost as
            # much as the boosting itself; the trees are the same
            evals=[(xgboost.DMatrix(x_calib, y_calib, nthread=threads), "calibration")])
        self.n_rounds_ = int(self.booster_.best_iteration) + 1
        raw = self._raw_risk(calib[self.feature_names_].to_numpy(dtype=np.float64))
        self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
            raw, calib["churned"].to_numpy())
        self.medians_ = np.nanmedian(x_train, axis=0)
        self.medians_ = np.where(np.isnan(self.medians_), 0.0, self.medians_)
        self.base_rate_ = float(train["churned"].mean())
        self.n_train_, self.n_calibration_ = len(train), len(calib)
        self.mode_ = "supervised"
        self.notice_: str | None = None
        return self

    def _params(self, threads: int) -> dict[str, Any]:
        return {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
                "grow_policy": "lossguide", "max_leaves": self.max_leaves, "max_depth": 0,
                "learning_rate": self.learning_rate, "min_child_weight": self.min_child_weight,
                "reg_lambda": self.l2_regularization, "nthread": threads, "seed": self.random_state}

    def _too_short(self, frames: pd.DataFrame, used: list[Any]) -> str | None:
        if len(used) < 2:
            return (f"history too short for a supervised churn model: {len(used)} usable origin(s) of "
                    f"{self.n_origins} (need 2 or more, each {self.horizon_days} days before the scoring date)")
        train = frames[frames["origin"] < used[-1]]
        if len(train) < self.min_train_rows:
            return f"history too short: {len(train)} training rows (need {self.min_train_rows})"
        if train["churned"].nunique() < 2 or frames.loc[frames["origin"] == used[-1], "churned"].nunique() < 2:
            return "every training customer has the same churn label; a classifier cannot be trained"
        return None

    def _fallback(self, tables: Mapping[str, Any], reason: str) -> ChurnModel:
        self.mode_ = "p_alive"
        self.notice_ = f"{reason}; churn risk falls back to 1 - P(alive) from a BG/NBD model"
        log.warning(self.notice_)
        self.feature_names_ = []
        return self

    def _check(self) -> None:
        if not hasattr(self, "mode_"):
            raise NotFittedError(self)

    # -- scoring -------------------------------------------------------------------------------------------
    def _risk(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.calibrator_.predict(self._raw_risk(x)), dtype=np.float64)

    def _raw_risk(self, x: np.ndarray) -> np.ndarray:
        self.booster_.set_param("nthread", str(_threads(len(x))))
        return np.asarray(self.booster_.inplace_predict(x, iteration_range=(0, self.n_rounds_)), dtype=np.float64)

    def _path_contributions(self, x: np.ndarray) -> np.ndarray:
        """(customers × (features + 1)) log-odds attributions along the decision paths, the bias last; each
        row sums to the customer's log-odds (XGBoost ``approx_contribs``)."""
        import xgboost

        threads = _threads(len(x))
        parts = [self.booster_.predict(xgboost.DMatrix(x[i:i + _EXPLAIN_BATCH_ROWS], nthread=threads),
                                 pred_contribs=True, approx_contribs=True, iteration_range=(0, self.n_rounds_))
                 for i in range(0, len(x), _EXPLAIN_BATCH_ROWS)]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, x.shape[1] + 1))

    def feature_frame(self, tables: Mapping[str, Any] | Any, as_of: Any, *,
                      sales: pd.DataFrame | None = None) -> pd.DataFrame:
        """Features as of ``as_of`` for customers with a sale by then, in the model's column order."""
        self._check()
        tables = _tables(tables)
        sales = sales_frame(tables) if sales is None else sales
        day = pd.Timestamp(_as_day(as_of))
        ids = _buyers(sales, day)
        feats = _feature_fn(self.features)(tables, _as_day(as_of))
        feats = feats.assign(customer_id=feats["customer_id"].astype(str))
        if feats["customer_id"].is_unique:  # a hash lookup per id: a fifth of a merge's cost
            frame = feats.set_index("customer_id").reindex(pd.Index(ids, name="customer_id")).reset_index()
        else:
            frame = pd.DataFrame({"customer_id": ids}).merge(feats, on="customer_id", how="left")
        for col in self.feature_names_:
            if col not in frame.columns:
                frame[col] = np.nan
        return frame[["customer_id", *self.feature_names_]]

    def predict(self, tables: Mapping[str, Any] | Any, as_of: Any, *, n_reasons: int = 3,
                sales: pd.DataFrame | None = None, joined: tuple[str, str] | None = None) -> pd.DataFrame:
        """Per customer with a sale by ``as_of``: ``churn_risk`` (calibrated probability of no sale in the next
        h days) and ``reason_1..n`` (English) / ``reason_1_zh..`` (Chinese) texts. ``sales``: :func:`sales_frame`
        of ``tables`` when the caller has it already. ``joined``: (English, Chinese) separators; then the
        columns are ``reasons`` / ``reasons_zh``, each customer's non-empty texts joined.
        """
        self._check()
        tables = _tables(tables)
        if self.mode_ == "p_alive":
            return self._predict_p_alive(tables, as_of, n_reasons, sales, joined)
        frame = self.feature_frame(tables, as_of, sales=sales)
        x = frame[self.feature_names_].to_numpy(dtype=np.float64)
        margin, reasons = self._reasons(x, n_reasons)
        # the attributions sum to the log-odds: one pass over the trees gives the risk and its reasons
        risk = np.asarray(self.calibrator_.predict(_sigmoid(margin)), dtype=np.float64)
        out = pd.DataFrame({"customer_id": frame["customer_id"], "churn_risk": risk})
        texts = [self._texts(reason) for reason in reasons]
        if joined is not None:
            for lang, (column, sep) in enumerate(zip(("reasons", "reasons_zh"), joined, strict=True)):
                out[column] = _joined_texts([text[lang] for text in texts], sep, len(out))
            return out
        for lang, suffix in enumerate(("", "_zh")):
            for rank in range(1, n_reasons + 1):
                text = texts[rank - 1][lang].fill_null("") if rank <= len(texts) else pa.array([""] * len(out))
                out[f"reason_{rank}{suffix}"] = text.to_numpy(zero_copy_only=False)
        return out

    def _predict_p_alive(self, tables: Mapping[str, Any], as_of: Any, n_reasons: int,
                         sales: pd.DataFrame | None, joined: tuple[str, str] | None = None) -> pd.DataFrame:
        from crmscore.models.betageo import BetaGeo
        from crmscore.models.summary import summary_from_transactions

        sales = sales_frame(tables) if sales is None else sales
        day = _as_day(as_of)
        sales = sales[sales["day"] <= pd.Timestamp(day)]
        summary = summary_from_transactions(sales, "customer_id", "day", observation_period_end=day, freq="D")
        try:
            risk = 1.0 - BetaGeo().fit(summary).p_alive(summary)
        except ConvergenceError as exc:
            self.notice_ = f"{self.notice_}; BG/NBD did not converge either ({exc.message}): risk left empty"
            log.warning(self.notice_)
            risk = np.full(len(summary), np.nan)
        out = pd.DataFrame({"customer_id": summary["customer_id"].astype(str), "churn_risk": risk})
        if joined is not None:
            out["reasons"], out["reasons_zh"] = _FALLBACK_REASON
            return out
        for rank in range(1, n_reasons + 1):
            out[f"reason_{rank}"] = _FALLBACK_REASON[0] if rank == 1 else ""
        for rank in range(1, n_reasons + 1):
            out[f"reason_{rank}_zh"] = _FALLBACK_REASON[1] if rank == 1 else ""
        return out

    def _reasons(self, x: np.ndarray, n_reasons: int) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
        """Each customer's log-odds, and per rank (the first ``n_reasons`` features by falling impact) each
        customer's ``feature`` index, ``value``, ``impact`` and ``keep`` (impact > 0, beyond rounding, at this rank
        and every higher one)."""
        contrib = self._path_contributions(x)
        margin = contrib.sum(axis=1)
        shares = contrib[:, :-1]
        k = min(n_reasons, shares.shape[1])
        if k == 0:
            return margin, []
        # impact_j = sigmoid(m) - sigmoid(m - c_j) rises with c_j: the largest shares are the largest impacts
        top = np.argpartition(-shares, k - 1, axis=1)[:, :k] if k < shares.shape[1] else np.tile(
            np.arange(k), (len(shares), 1))
        top_shares = np.take_along_axis(shares, top, axis=1)
        order = np.argsort(-top_shares, axis=1, kind="stable")
        top, top_shares = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_shares, order, axis=1)
        impact = _sigmoid(margin)[:, None] - _sigmoid(margin[:, None] - top_shares)
        rows = np.arange(len(x))
        # kept: impact > 0 beyond rounding, and every higher rank kept (so the kept ranks come first)
        keep = np.logical_and.accumulate(impact > 1e-6, axis=1)
        return margin, [{"feature": top[:, r], "value": x[rows, top[:, r]], "impact": impact[:, r],
                         "keep": keep[:, r]} for r in range(k)]

    def _texts(self, reason: dict[str, np.ndarray]) -> tuple[pa.Array, pa.Array]:
        """The English and Chinese reason texts of one rank (Arrow strings, null where not kept).

        Assembled by Arrow from parts, without a Python string per text: a feature's label and typical value,
        each distinct value and each whole percent are formatted once (formatting every text in full costs
        about a second per 100k customers, and building them in Python a fifth of that).
        """
        import pyarrow.compute as pc

        n_features = len(self.feature_names_)
        feature, keep, value = reason["feature"], reason["keep"], reason["value"]
        direction = _direction(value, self.medians_[feature])
        distinct, where = np.unique(value, return_inverse=True)
        shown = pc.take(pa.array([f"{v:.4g}" if not np.isnan(v) else "" for v in distinct], pa.string()),
                        pa.array(where.ravel()))
        # "{:.0%}" formats impact * 100 rounded half to even, as np.round does
        percent = pa.array(np.clip(np.round(reason["impact"] * 100.0), 0, 100).astype(np.int64))
        part = pa.array(feature * len(_DIRECTIONS) + direction, mask=~keep)  # (feature, direction); null: not kept
        texts = []
        # (language, words for lower / higher, text before a value, between value and percent, the same for a
        # typical value, before the percent of a missing value, after the percent)
        for lang, words, head, middle, usual, gone, tail in (
                ("en", ("lower", "higher"), "{lab} ", " ({d} than typical {t:.4g}): +", " (typical): +",
                 "{lab} missing: +", " risk"),
                ("zh", ("低于", "高于"), "{lab} ", " ({d}典型值 {t:.4g}): 风险 +", " (典型值): 风险 +",
                 "{lab} 缺失: 风险 +", "")):
            labels = [feature_label(f, lang) for f in self.feature_names_]
            # per (feature, direction): the text before the value and the text between value and percent
            before = [text for lab in labels for text in [head.format(lab=lab)] * 2 + [gone.format(lab=lab),
                                                                                      head.format(lab=lab)]]
            between = [text for f in range(n_features) for text in (
                middle.format(d=words[0], t=self.medians_[f]), middle.format(d=words[1], t=self.medians_[f]), "",
                usual)]
            ends = pa.array([f"{p}%{tail}" for p in range(101)], pa.string())
            texts.append(pc.binary_join_element_wise(
                pc.take(pa.array(before, pa.string()), part), shown, pc.take(pa.array(between, pa.string()), part),
                pc.take(ends, percent), ""))
        return texts[0], texts[1]

    def explain(self, frame: pd.DataFrame, *, n_reasons: int = 3) -> pd.DataFrame:
        """Top reasons per customer by tree-path attribution (see the module docstring), long format.

        Columns: customer_id, rank, feature, value, typical (the training median), direction
        ('higher'/'lower'/'missing'/'typical': equal to the median), impact (the drop in raw risk when the
        feature's share of the log-odds is taken away), label_en, label_zh, text_en, text_zh.
        """
        self._check()
        if self.mode_ != "supervised":
            raise DataError("reasons need the supervised model", self.notice_)
        x = frame[self.feature_names_].to_numpy(dtype=np.float64)
        ids = frame["customer_id"].to_numpy()
        names = np.asarray(self.feature_names_, dtype=object)
        parts = []
        for rank, reason in enumerate(self._reasons(x, n_reasons)[1], start=1):
            keep = reason["keep"]
            feature, value = reason["feature"][keep], reason["value"][keep]
            typical = self.medians_[feature]
            text_en, text_zh = (text.to_numpy(zero_copy_only=False) for text in self._texts(reason))
            parts.append(pd.DataFrame({
                "customer_id": ids[keep], "rank": rank, "feature": names[feature], "value": value,
                "typical": typical,
                "direction": np.asarray(_DIRECTIONS, dtype=object)[_direction(value, typical)],
                "impact": reason["impact"][keep], "text_en": text_en[keep], "text_zh": text_zh[keep]}))
        columns = ["customer_id", "rank", "feature", "value", "typical", "direction", "impact"]
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*columns, "text_en",
                                                                                     "text_zh"])
        out.insert(len(columns), "label_en", out["feature"].map({f: feature_label(f, "en") for f in names}))
        out.insert(len(columns) + 1, "label_zh", out["feature"].map({f: feature_label(f, "zh") for f in names}))
        return out.sort_values(["customer_id", "rank"], ignore_index=True)


_FALLBACK_REASON = ("fallback: 1 - P(alive) (BG/NBD)", "回退: 1 - 存活概率 (BG/NBD)")
_DIRECTIONS = ("lower", "higher", "missing", "typical")  # of a reason's value against the training median


def _joined_texts(ranks: list[pa.Array], sep: str, n: int) -> pd.api.extensions.ExtensionArray:
    """Each customer's kept texts (ranks 1..n, the kept ones first: see ``_reasons``) joined by ``sep``."""
    import pyarrow.compute as pc

    if not ranks:
        return pd.arrays.ArrowExtensionArray(pa.array([""] * n, pa.string()))
    # the first k ranks joined, for k = n..1 (null when rank k is not kept); the longest non-null wins
    prefixes = [ranks[0]]
    for text in ranks[1:]:
        prefixes.append(pc.binary_join_element_wise(prefixes[-1], text, sep))
    return pd.arrays.ArrowExtensionArray(pc.coalesce(*reversed(prefixes), ""))


def _direction(value: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """Index into :data:`_DIRECTIONS` per value (a value equal to the median is neither higher nor lower)."""
    return np.select([np.isnan(value), value == typical, value > typical], [2, 3, 1], default=0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))  # = 1 / (1 + e^-z), without overflow warnings
