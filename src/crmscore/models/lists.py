"""Action lists from per-customer scores: win-back (churned, high value) and early warning (alive, high value,
rising risk). Plain DataFrames, highest value first, exportable to CSV, Excel or Parquet.

The input is one row per customer with ``customer_id`` and the score columns named below (a ``clv_table``
joined with ``ChurnModel.predict`` output, or a snapshot's per-customer results).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmscore.errors import DataError, MissingColumnsError

__all__ = ["early_warning_list", "export_list", "winback_list"]


def _need(frame: pd.DataFrame, cols: list[str], where: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise MissingColumnsError(where, missing, [str(c) for c in frame.columns])


def _high_value(values: pd.Series, top_share: float) -> pd.Series:
    if not 0 < top_share <= 1:
        raise DataError(f"top_value_share must be in (0, 1], got {top_share}")
    threshold = values.quantile(1 - top_share)
    return values >= threshold


def winback_list(scores: pd.DataFrame, *, value_col: str = "monetary", p_alive_col: str = "p_alive",
                 max_p_alive: float = 0.3, top_value_share: float = 0.2, limit: int | None = None) -> pd.DataFrame:
    """Customers who are probably gone (P(alive) <= ``max_p_alive``) and were worth the most (top
    ``top_value_share`` by ``value_col``, e.g. past ``monetary`` or ``clv``), highest value first.

    >>> scores = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "monetary": [900.0, 50.0, 800.0, 700.0],
    ...                        "p_alive": [0.1, 0.05, 0.9, 0.2]})
    >>> winback_list(scores, top_value_share=0.75)["customer_id"].tolist()
    ['a', 'd']
    """
    _need(scores, ["customer_id", value_col, p_alive_col], "winback_list")
    high = _high_value(scores[value_col], top_value_share)
    out = scores[high & (scores[p_alive_col] <= max_p_alive)]
    out = out.sort_values([value_col, "customer_id"], ascending=[False, True], ignore_index=True)
    return out.head(limit) if limit else out


def early_warning_list(scores: pd.DataFrame, *, value_col: str = "clv", risk_col: str = "churn_risk",
                       previous_risk_col: str | None = "previous_churn_risk", p_alive_col: str | None = "p_alive",
                       min_p_alive: float = 0.5, min_risk: float = 0.5, min_rise: float = 0.1,
                       top_value_share: float = 0.2, limit: int | None = None) -> pd.DataFrame:
    """Valuable customers still alive whose churn risk is high or rising, highest value first.

    Kept: top ``top_value_share`` by ``value_col``; P(alive) >= ``min_p_alive`` (when that column is given);
    and either risk >= ``min_risk`` or risk up by at least ``min_rise`` since the previous snapshot
    (``previous_risk_col``, when present). A ``risk_change`` column is added when the previous risk is known.

    >>> scores = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [500.0, 400.0, 10.0],
    ...     "churn_risk": [0.35, 0.2, 0.9], "previous_churn_risk": [0.1, 0.2, 0.3], "p_alive": [0.9, 0.9, 0.9]})
    >>> early_warning_list(scores, top_value_share=0.7)[["customer_id", "risk_change"]]
      customer_id  risk_change
    0           a         0.25
    """
    cols = ["customer_id", value_col, risk_col]
    _need(scores, cols, "early_warning_list")
    keep = _high_value(scores[value_col], top_value_share)
    if p_alive_col and p_alive_col in scores.columns:
        keep &= scores[p_alive_col] >= min_p_alive
    warn = scores[risk_col] >= min_risk
    out = scores.copy()
    if previous_risk_col and previous_risk_col in scores.columns:
        out["risk_change"] = np.round(scores[risk_col] - scores[previous_risk_col], 12)
        warn |= out["risk_change"] >= min_rise
    out = out[keep & warn].sort_values([value_col, "customer_id"], ascending=[False, True], ignore_index=True)
    return out.head(limit) if limit else out


def export_list(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a list as CSV (UTF-8 with BOM, so Excel shows Chinese), ``.xlsx`` or ``.parquet`` by suffix."""
    target = Path(path)
    suffix = target.suffix.lower()
    writers: dict[str, Any] = {
        ".csv": lambda: frame.to_csv(target, index=False, encoding="utf-8-sig"),
        ".xlsx": lambda: frame.to_excel(target, index=False),
        ".parquet": lambda: frame.to_parquet(target, index=False),
    }
    if suffix not in writers:
        raise DataError(f"cannot export a list as {suffix or 'a file without suffix'}",
                        "use a .csv, .xlsx or .parquet file name")
    writers[suffix]()
    return target
