"""Property-based tests of the parsers and the mapping, and a fuzz test of the whole importer."""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmscore.errors import CrmscoreError
from crmscore.ingest import auto_mapping, import_file, parse_amounts, parse_dates
from crmscore.ingest.mapping import SYNONYMS, normalise_header
from crmscore.schema import KINDS, table_for_kind

amounts = st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2,
                      allow_nan=False, allow_infinity=False)


def _grouped(value: Decimal, thousands: str, decimal_sep: str) -> str:
    whole, frac = f"{abs(value):.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return thousands.join(groups) + decimal_sep + frac


@settings(max_examples=60, deadline=None)
@given(st.lists(amounts, min_size=1, max_size=20), st.sampled_from(["plain", "yen", "euro", "paren", "suffix"]))
def test_amount_formats_round_trip(values: list[Decimal], style: str) -> None:
    texts = []
    for v in values:
        sign = "-" if v < 0 else ""
        if style == "plain":
            texts.append(f"{v:.2f}")
        elif style == "yen":
            texts.append(f"{sign}¥{_grouped(v, ',', '.')}")
        elif style == "euro":
            texts.append(f"{sign}{_grouped(v, '.', ',')} €")
        elif style == "paren":
            texts.append(f"({_grouped(v, ',', '.')})" if v < 0 else _grouped(v, ",", "."))
        else:
            texts.append(f"{_grouped(v, ',', '.')}-" if v < 0 else f"USD {v:.2f}")
    assert parse_amounts(texts) == values


@settings(max_examples=40, deadline=None)
@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2))
def test_wan_multiplies_by_ten_thousand(value: Decimal) -> None:
    assert parse_amounts([f"{value}万"]) == [value * 10000]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)), min_size=1, max_size=10),
       st.sampled_from(["iso", "slash", "zh", "us", "eu", "compact", "excel"]))
def test_date_formats_round_trip(values: list[date], style: str) -> None:
    fmt = {"iso": "{d:%Y-%m-%d}", "slash": "{d.year}/{d.month}/{d.day}", "zh": "{d.year}年{d.month}月{d.day}日",
           "us": "{d.month}/{d.day}/{d.year}", "eu": "{d.day}/{d.month}/{d.year}", "compact": "{d:%Y%m%d}"}
    if style == "excel":
        texts = [str((d - date(1899, 12, 30)).days) for d in values]
        values = [d for d in values if (d - date(1899, 12, 30)).days >= 10000]
        texts = [str((d - date(1899, 12, 30)).days) for d in values]
    else:
        texts = [fmt[style].format(d=d) for d in values]
    got = parse_dates(texts, day_first=(style == "eu"))
    assert got == [datetime(d.year, d.month, d.day) for d in values]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.data())
def test_auto_mapping_finds_every_field_by_any_synonym(kind: str, data: st.DataObject) -> None:
    spec = table_for_kind(kind)
    fields = data.draw(st.lists(st.sampled_from(list(SYNONYMS[spec.name])), unique=True, min_size=1, max_size=6))
    headers = [data.draw(st.sampled_from(SYNONYMS[spec.name][f][:1])) for f in fields]
    decorated = [data.draw(st.sampled_from([h, h.upper(), f" {h} ", h.replace("_", " ")])) for h in headers]
    mapping = auto_mapping(kind, decorated)
    # each header is the field's own name, so each maps back to its field
    assert {f: normalise_header(str(mapping.columns[f])) for f in fields} == dict(zip(fields, headers, strict=True))


fuzz_cells = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(tmp_path: Path, workspace: object, blob: bytes) -> None:
    f = tmp_path / "random.csv"
    f.write_bytes(blob)
    with contextlib.suppress(CrmscoreError):
        import_file(workspace, "orders", f, write_files=False)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(fuzz_cells, min_size=1, max_size=6), min_size=0, max_size=8),
       st.sampled_from(["orders", "customers", "order-lines", "surveys"]), st.booleans())
def test_random_csvs_never_crash(tmp_path: Path, workspace: object, rows: list[list[str]], kind: str,
                                 real_header: bool) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    if real_header:
        writer.writerow(table_for_kind(kind).column_names[:6])
    writer.writerows(rows)
    f = tmp_path / "random.csv"
    f.write_text(buf.getvalue(), encoding="utf-8")
    try:
        report = import_file(workspace, kind, f, write_files=False, allow_partial=True)  # type: ignore[arg-type]
    except CrmscoreError:
        return
    assert report.inserted + report.updated + report.unchanged + report.rejected == report.read


@pytest.mark.parametrize("text", ["2024-13-45", "2024/02/30", "32/1/2024", "hello", "13:61"])
def test_impossible_dates_are_null(text: str) -> None:
    assert parse_dates([text]) == [None]
