"""Churn model evaluation on a held-out origin: the supervised model side by side with two baselines.

``evaluate_churn(tables, as_of)`` scores customers at the test origin t = as_of − h, whose labels (no sale
in (t, as_of]) are known, using only data up to t:

- ``supervised``: :class:`~crmscore.models.churn.ChurnModel` fitted as of t (its own training and calibration
  origins all lie before t − h, so no label leaks);
- ``1 - P(alive)``: BG/NBD fitted on the purchase history up to t (days as the time unit);
- ``recency rule``: days since the last purchase, higher = riskier. Being a score, not a probability, its Brier
  score is computed after isotonic calibration on the model's calibration origin.

Metrics (scikit-learn): ROC-AUC, PR-AUC (average precision), lift in the top 10 % by risk (churn rate there
divided by the base rate), Brier score, and a calibration table by risk decile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crmscore.errors import ConvergenceError, DataError
from crmscore.models.betageo import BetaGeo
from crmscore.models.churn import ChurnModel, FeatureFn, _as_day, _tables, churn_labels, sales_frame
from crmscore.models.summary import summary_from_transactions

__all__ = ["ChurnEvaluation", "calibration_table", "evaluate_churn", "lift_at", "score_report"]


def lift_at(y: Any, score: Any, share: float = 0.1) -> float:
    """Churn rate among the ``share`` highest scores divided by the overall churn rate.

    >>> lift_at([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], [0.9, 0.1, 0.2, 0.1, 0.3, 0.1, 0.1, 0.2, 0.1, 0.1], 0.1)
    5.0
    """
    y_arr, s_arr = np.asarray(y, dtype=np.float64), np.asarray(score, dtype=np.float64)
    n_top = max(1, round(share * len(y_arr)))
    order = np.lexsort((np.arange(len(s_arr)), -s_arr))  # ties: first come first
    base = y_arr.mean()
    return float(y_arr[order[:n_top]].mean() / base) if base > 0 else float("nan")


def calibration_table(y: Any, prob: Any, bins: int = 10) -> pd.DataFrame:
    """Customers binned by predicted probability (equal-count bins): count, mean predicted, observed rate.

    >>> calibration_table([0, 1, 1, 1], [0.1, 0.6, 0.8, 0.9], bins=2)
       bin  customers  predicted  observed
    0    1          2       0.35       0.5
    1    2          2       0.85       1.0
    """
    y_arr, p_arr = np.asarray(y, dtype=np.float64), np.asarray(prob, dtype=np.float64)
    order = np.lexsort((np.arange(len(p_arr)), p_arr))
    groups = np.array_split(order, bins)
    rows = [{"bin": i + 1, "customers": len(g), "predicted": float(p_arr[g].mean()), "observed": float(y_arr[g].mean())}
            for i, g in enumerate(groups) if len(g)]
    return pd.DataFrame(rows)


def score_report(y: Any, score: Any, prob: Any | None = None) -> dict[str, float]:
    """ROC-AUC, PR-AUC and lift at 10 % of a risk score; Brier score of ``prob`` (default: the score)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y_arr = np.asarray(y)
    if len(np.unique(y_arr)) < 2:
        raise DataError("the evaluation origin has a single class; metrics are undefined",
                        "evaluate on a longer history or another as_of")
    p = np.asarray(score if prob is None else prob, dtype=np.float64)
    return {
        "roc_auc": float(roc_auc_score(y_arr, score)),
        "pr_auc": float(average_precision_score(y_arr, score)),
        "lift_top10": lift_at(y_arr, score, 0.1),
        "brier": float(brier_score_loss(y_arr, np.clip(p, 0.0, 1.0))),
    }


@dataclass
class ChurnEvaluation:
    """The outcome of :func:`evaluate_churn`: one metrics row per method, calibration tables, notices."""

    test_origin: str
    horizon_days: int
    customers: int
    churn_rate: float
    table: pd.DataFrame
    calibration: dict[str, pd.DataFrame] = field(default_factory=dict)
    notice: str | None = None

    def to_markdown(self) -> str:
        """The metrics table as Markdown (for docs and reports)."""
        lines = ["| method | ROC-AUC | PR-AUC | lift@10% | Brier |", "|---|---|---|---|---|"]
        for _, row in self.table.iterrows():
            lines.append(f"| {row['method']} | {row['roc_auc']:.3f} | {row['pr_auc']:.3f} | "
                         f"{row['lift_top10']:.2f} | {row['brier']:.3f} |")
        return "\n".join(lines)


def evaluate_churn(tables: Mapping[str, Any] | Any, as_of: Any, *, horizon_days: int = 90, n_origins: int = 4,
                   features: str | FeatureFn = "engine", bins: int = 10, **model_params: Any) -> ChurnEvaluation:
    """Evaluate the churn model and the two baselines at the test origin ``as_of − horizon_days``."""
    tables = _tables(tables)
    test = _as_day(as_of) - pd.Timedelta(days=horizon_days)
    sales = sales_frame(tables)
    labels = churn_labels(sales, test, horizon_days)
    if labels.empty:
        raise DataError(f"no customer has a sale by the test origin {test}", "evaluate on a longer history")
    model = ChurnModel(horizon_days=horizon_days, n_origins=n_origins, features=features, **model_params)
    model.fit(tables, test)
    scored = labels.merge(model.predict(tables, test)[["customer_id", "churn_risk"]], on="customer_id", how="left")

    history = sales[sales["day"] <= pd.Timestamp(test)]
    summary = summary_from_transactions(history, "customer_id", "day", observation_period_end=test, freq="D")
    try:
        dead = 1.0 - BetaGeo().fit(summary).p_alive(summary)
    except ConvergenceError:
        dead = np.full(len(summary), np.nan)
    recency = summary["T"] - summary["recency"]  # days since the last purchase
    baselines = pd.DataFrame({"customer_id": summary["customer_id"].astype(str), "dead": dead, "recency": recency})
    scored = scored.merge(baselines, on="customer_id", how="left")
    y = scored["churned"].to_numpy()

    # isotonic calibration of the recency rule on the model's calibration origin (a probability for Brier)
    calib_origin = (model.origins_ or [None])[-1]
    recency_prob = _calibrated_recency(sales, calib_origin, horizon_days, scored["recency"].to_numpy())

    rows, calibration = [], {}
    name = "supervised (XGBoost)" if model.mode_ == "supervised" else "fallback 1 - P(alive)"
    risk = scored["churn_risk"].to_numpy(dtype=np.float64)
    rows.append({"method": name, **score_report(y, risk)})
    calibration[name] = calibration_table(y, risk, bins)
    if np.isfinite(scored["dead"]).all():
        rows.append({"method": "1 - P(alive) (BG/NBD)", **score_report(y, scored["dead"].to_numpy())})
        calibration["1 - P(alive) (BG/NBD)"] = calibration_table(y, scored["dead"].to_numpy(), bins)
    rows.append({"method": "recency rule (days since last purchase)",
                 **score_report(y, scored["recency"].to_numpy(), recency_prob)})
    calibration["recency rule (days since last purchase)"] = calibration_table(y, recency_prob, bins)
    return ChurnEvaluation(test_origin=str(test), horizon_days=horizon_days, customers=len(scored),
                           churn_rate=float(y.mean()), table=pd.DataFrame(rows), calibration=calibration,
                           notice=model.notice_)


def _calibrated_recency(sales: pd.DataFrame, origin: Any, horizon_days: int, recency: np.ndarray) -> np.ndarray:
    from sklearn.isotonic import IsotonicRegression

    if origin is None:
        return np.clip(recency / max(float(np.nanmax(recency)), 1.0), 0.0, 1.0)
    t = pd.Timestamp(origin)
    labels = churn_labels(sales, origin, horizon_days)
    last = sales[sales["day"] <= t].groupby("customer_id")["day"].max()
    days = (t - labels["customer_id"].map(last)).dt.days.to_numpy(dtype=np.float64)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(days, labels["churned"].to_numpy())
    return np.asarray(iso.predict(recency), dtype=np.float64)
