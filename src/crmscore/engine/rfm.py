"""RFM scoring with the scikit-learn contract: quantile edges fitted on a reference period, applied to any.

``RFM(n_bins=5).fit(features)`` learns ``bin_edges_``: for recency (``recency_days``), frequency
(``purchase_days``) and monetary (``monetary``, net, DECIMAL with cents) the ``i / n_bins`` quantiles
(``i = 1 .. n_bins - 1``) over the customers who purchased, by the ``inverted_cdf`` definition, so every edge
is an observed value (money edges are exact cents). ``transform`` applies the same edges to any snapshot, so
scores of later periods are comparable.

Ties are deterministic on every engine: a value is compared with the edges using ``<=``, so equal values
always get equal scores (``f_score = 1 + #{edges < value}``, ``r_score = n_bins - #{edges < recency}``, so
lower recency gives a higher score). With many equal values (most customers bought once) some scores stay
unused; that is the price of never splitting ties arbitrarily. Customers who never purchased (no sale up to
``as_of``) get NULL scores, NULL code and the segment ``no_purchase``.

>>> import pandas as pd
>>> from decimal import Decimal
>>> df = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [1, 5, 10, 30, 90, None],
...                    "purchase_days": [9, 4, 2, 1, 1, 0],
...                    "monetary": [Decimal(x) for x in ("900.00", "120.50", "80.00", "80.00", "9.99", "0")]})
>>> rfm = RFM(n_bins=5).fit(df)
>>> rfm.bin_edges_["monetary"]
[Decimal('9.99'), Decimal('80.00'), Decimal('80.00'), Decimal('120.50')]
>>> rfm.transform(df)[["customer_id", "r_score", "f_score", "m_score", "rfm_code", "rfm_segment"]]
  customer_id  r_score  f_score  m_score rfm_code     rfm_segment
0           a        5        5        5      555       champions
1           b        4        4        4      444       champions
2           c        3        3        2      332  need_attention
3           d        2        1        2      212     hibernating
4           e        1        1        1      111            lost
5           f     <NA>     <NA>     <NA>     None     no_purchase
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmscore.engine.frames import flavour_of, to_frame, to_ibis
from crmscore.engine.segments import Segment, segment_expr, validate_segments
from crmscore.errors import ConfigError, ConfigIssue, MissingColumnsError, ModelError, NotFittedError

__all__ = ["RFM"]

_MONEY = "decimal(18, 2)"


class RFM:
    """Recency, frequency and monetary scores 1..``n_bins`` with fitted quantile edges.

    Hyperparameters: ``n_bins`` (2-10), the feature column names, and the ``segments`` rules (default
    :data:`crmscore.engine.segments.SEGMENTS`). Learned: ``bin_edges_`` (dict recency/frequency/monetary ->
    ascending edges) and ``n_fitted_`` (purchasers in the reference period).
    """

    def __init__(self, n_bins: int = 5, *, recency: str = "recency_days", frequency: str = "purchase_days",
                 monetary: str = "monetary", segments: Sequence[Segment] | None = None) -> None:
        self.n_bins = n_bins
        self.recency = recency
        self.frequency = frequency
        self.monetary = monetary
        self.segments = segments

    # -- estimator API ----------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if not isinstance(self.n_bins, int) or not 2 <= self.n_bins <= 10:
            raise ConfigError("RFM", [ConfigIssue("n_bins", f"{self.n_bins!r} is not an integer in 2-10")])
        if self.segments is not None:
            validate_segments(self.segments)

    def _columns(self, table: ir.Table) -> None:
        need = [self.recency, self.frequency, self.monetary]
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise MissingColumnsError("RFM input", missing, list(table.columns))

    def fit(self, features: Any) -> RFM:
        """Learn the quantile edges from the purchasers of ``features`` (Ibis table or DataFrame)."""
        self._check_params()
        t = to_ibis(features)
        self._columns(t)
        buyers = t.filter(t[self.frequency] > 0).select(
            r=t[self.recency].cast("int64"), f=t[self.frequency].cast("int64"),
            m=t[self.monetary].cast(_MONEY))
        data = buyers.to_pyarrow()
        if data.num_rows == 0:
            raise ModelError("RFM.fit: no customer with a purchase in the reference data",
                             "fit on a period with orders (purchase_days > 0)")
        q = [i / self.n_bins for i in range(1, self.n_bins)]

        def edges(col: pa.ChunkedArray) -> list[float]:
            values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            return [float(v) for v in np.quantile(values, q, method="inverted_cdf")]

        self.bin_edges_: dict[str, list[Any]] = {
            "recency": [int(v) for v in edges(data["r"])],
            "frequency": [int(v) for v in edges(data["f"])],
            "monetary": [Decimal(f"{v:.2f}") for v in edges(data["m"])],
        }
        self.n_fitted_ = data.num_rows
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "bin_edges_"):
            raise NotFittedError(self)

    def score_exprs(self, t: ir.Table) -> dict[str, ir.Value]:
        """Ibis expressions for r_score, f_score, m_score, rfm_code and rfm_segment over table ``t``."""
        self._check_fitted()
        self._columns(t)
        n = self.n_bins
        bought = t[self.frequency].coalesce(0) > 0
        rec, freq, mon = t[self.recency], t[self.frequency], t[self.monetary].cast(_MONEY)

        def above(value: ir.Value, edges: list[Any], typ: str) -> ir.IntegerValue:
            total: ir.IntegerValue = ibis.literal(0, "int64")  # type: ignore[assignment]
            for e in edges:
                total = total + ibis.ifelse(value > ibis.literal(e, typ), 1, 0)  # type: ignore[assignment]
            return total

        null = ibis.null("int64")
        r = ibis.ifelse(bought, n - above(rec, self.bin_edges_["recency"], "int64"), null)
        f = ibis.ifelse(bought, 1 + above(freq, self.bin_edges_["frequency"], "int64"), null)
        m = ibis.ifelse(bought, 1 + above(mon, self.bin_edges_["monetary"], _MONEY), null)
        code = r.cast("string") + f.cast("string") + m.cast("string")
        seg = segment_expr(r, f, m, n, self.segments)  # type: ignore[arg-type]
        return {"r_score": r, "f_score": f, "m_score": m, "rfm_code": code, "rfm_segment": seg}

    def score_table(self, t: ir.Table) -> ir.Table:
        """``t`` with r_score, f_score, m_score, rfm_code and rfm_segment appended (same values as
        :meth:`score_exprs`): the scores first, then code and segment from the score columns, so the engine
        evaluates each score once per row."""
        scores = self.score_exprs(t)
        t = t.mutate(r_score=scores["r_score"], f_score=scores["f_score"], m_score=scores["m_score"])
        r, f, m = t.r_score, t.f_score, t.m_score
        return t.mutate(rfm_code=r.cast("string") + f.cast("string") + m.cast("string"),
                        rfm_segment=segment_expr(r, f, m, self.n_bins, self.segments))

    def transform(self, features: Any) -> Any:
        """``features`` with r_score, f_score, m_score, rfm_code and rfm_segment added (same flavour)."""
        return to_frame(self.score_table(to_ibis(features)), flavour_of(features))

    def fit_transform(self, features: Any) -> Any:
        return self.fit(features).transform(features)

    def get_params(self) -> dict[str, Any]:
        return {"n_bins": self.n_bins, "recency": self.recency, "frequency": self.frequency,
                "monetary": self.monetary, "segments": self.segments}

    def to_dict(self) -> dict[str, Any]:
        """Parameters and fitted edges as JSON-safe data (store it with a snapshot)."""
        self._check_fitted()
        return {"params": {k: v for k, v in self.get_params().items() if k != "segments"},
                "bin_edges": {"recency": self.bin_edges_["recency"], "frequency": self.bin_edges_["frequency"],
                              "monetary": [str(v) for v in self.bin_edges_["monetary"]]},
                "n_fitted": self.n_fitted_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RFM:
        """Rebuild a fitted RFM from :meth:`to_dict` output.

        >>> r = RFM.from_dict({"params": {"n_bins": 3}, "bin_edges": {"recency": [5, 9], "frequency": [1, 2],
        ...                    "monetary": ["10.00", "20.00"]}, "n_fitted": 7})
        >>> r.bin_edges_["monetary"], r.n_fitted_
        ([Decimal('10.00'), Decimal('20.00')], 7)
        """
        obj = cls(**data.get("params", {}))
        edges = data["bin_edges"]
        obj.bin_edges_ = {"recency": [int(v) for v in edges["recency"]],
                          "frequency": [int(v) for v in edges["frequency"]],
                          "monetary": [Decimal(str(v)) for v in edges["monetary"]]}
        obj.n_fitted_ = int(data.get("n_fitted", 0))
        return obj

    def __repr__(self) -> str:
        return f"RFM(n_bins={self.n_bins})"
