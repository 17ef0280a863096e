"""Adapters between DataFrames (pandas, Polars, Arrow) and Ibis tables.

Library functions accept any of them: frames are wrapped with :func:`ibis.memtable` (executed by the default
DuckDB backend) and results come back in the flavour of the input.

>>> import pandas as pd
>>> t = to_ibis(pd.DataFrame({"customer_id": ["a"], "x": [1]}))
>>> flavour_of(pd.DataFrame()), type(to_frame(t, "polars")).__name__
('pandas', 'DataFrame')
"""

from __future__ import annotations

from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from crmscore.errors import EngineError

__all__ = ["Flavour", "flavour_of", "to_frame", "to_ibis"]

Flavour = Literal["pandas", "polars", "arrow", "ibis"]


def flavour_of(obj: Any) -> Flavour:
    """The kind of table ``obj`` is: 'pandas', 'polars', 'arrow' or 'ibis'.

    >>> import pyarrow as pa
    >>> flavour_of(pa.table({"a": [1]}))
    'arrow'
    """
    if isinstance(obj, ir.Table):
        return "ibis"
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        return "pandas"
    if module == "polars":
        return "polars"
    if module == "pyarrow":
        return "arrow"
    raise EngineError(f"cannot use a {type(obj).__name__} as a table",
                      "pass an Ibis table, a pandas or Polars DataFrame, or an Arrow table")


def to_ibis(obj: Any) -> ir.Table:
    """An Ibis table for an Ibis table or a pandas / Polars / Arrow frame.

    >>> import polars as pl
    >>> to_ibis(pl.DataFrame({"a": [1, 2]})).count().execute()
    2
    """
    kind = flavour_of(obj)
    if kind == "ibis":
        return obj  # type: ignore[no-any-return]
    if kind == "pandas":
        # Through Arrow: object columns of Decimal (with None) become DECIMAL, not an error.
        obj = pa.Table.from_pandas(obj, preserve_index=False)
    return ibis.memtable(obj)


def to_frame(table: ir.Table, flavour: Flavour = "pandas") -> Any:
    """Execute ``table`` and return it as a pandas / Polars / Arrow frame (``ibis`` returns it unchanged).

    >>> to_frame(ibis.memtable({"a": [1]}), "arrow").num_rows
    1
    """
    if flavour == "ibis":
        return table
    if flavour == "pandas":
        # Nullable integers stay integers (a score of NULL must not turn 5 into 5.0).
        ints = {t: pd.Int64Dtype() for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64())}
        return table.to_pyarrow().to_pandas(types_mapper=ints.get)
    if flavour == "polars":
        return table.to_polars()
    if flavour == "arrow":
        return table.to_pyarrow()
    raise EngineError(f"unknown frame flavour {flavour!r}", "use pandas, polars, arrow or ibis")
