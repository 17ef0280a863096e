"""Importers: files and DataFrames -> canonical warehouse tables, losing nothing.

The entry points are :func:`import_file` and :func:`import_frame`; the CLI command ``crmscore import`` and the
server call them. See ``docs/importing.md``.
"""

from __future__ import annotations

from crmscore.ingest.mapping import Mapping, auto_mapping, load_mapping, save_mapping
from crmscore.ingest.parsing import parse_amounts, parse_dates, parse_values
from crmscore.ingest.report import ImportReport, Rejection, TableCounts
from crmscore.ingest.service import import_file, import_frame

__all__ = [
    "ImportReport",
    "Mapping",
    "Rejection",
    "TableCounts",
    "auto_mapping",
    "import_file",
    "import_frame",
    "load_mapping",
    "parse_amounts",
    "parse_dates",
    "parse_values",
    "save_mapping",
]
