"""The one-pass load of clean CSVs (crmscore.ingest.inplace) gives what the general path gives, on any file.

Every file is imported twice, into two workspaces: once as crmscore does it (the one-pass load tried first) and
once with that load switched off (``service.IN_PLACE = False``). Reports (counts, rejections with line, column,
value and reason, status), quarantine files and the rows in the warehouse must be the same.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmscore.errors import ImportFailed
from crmscore.ingest import import_file, inplace, service
from crmscore.ingest.readers import NotLazy
from crmscore.ingest.report import ImportReport
from crmscore.workspace import Workspace

_VOLATILE = {"import_id", "seconds", "report_path", "quarantine_path"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Workspace]]:
    root = tmp_path_factory.mktemp("inplace")
    fast, general = Workspace.init(root / "fast"), Workspace.init(root / "general")
    yield fast, general
    fast.close()
    general.close()


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records whether each one-pass attempt loaded the file ('loaded') or handed it on ('general')."""
    seen: list[str] = []
    real = service.load_in_place

    def spy(*args: Any, **kwargs: Any) -> Any:
        try:
            result = real(*args, **kwargs)
        except NotLazy:
            seen.append("general")
            raise
        seen.append("loaded")
        return result

    monkeypatch.setattr(service, "load_in_place", spy)
    return seen


def _rows(ws: Workspace, table: str) -> list[tuple[Any, ...]]:
    return sorted(ws.warehouse.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def _import(ws: Workspace, path: Path, in_place: bool, **kwargs: Any) -> tuple[dict[str, Any], str | None]:
    before = service.IN_PLACE
    service.IN_PLACE = in_place
    try:
        try:
            report = import_file(ws, "orders", path, record_job=False, **kwargs)
        except ImportFailed as exc:
            report = exc.report
        assert isinstance(report, ImportReport)
    finally:
        service.IN_PLACE = before
    quarantine = Path(report.quarantine_path).read_text(encoding="utf-8") if report.quarantine_path else None
    return report.model_dump(exclude=_VOLATILE), quarantine


def _same(pair: tuple[Workspace, Workspace], path: Path, **kwargs: Any) -> dict[str, Any]:
    fast, general = pair
    for ws in pair:
        ws.warehouse.execute("DELETE FROM orders")
        ws.warehouse.execute("DELETE FROM customers")
        ws.warehouse.execute("INSERT INTO customers (customer_id, is_stub) VALUES ('K1', false)")
    got = _import(fast, path, True, **kwargs)
    want = _import(general, path, False, **kwargs)
    assert got == want
    for table in ("orders", "customers"):
        assert _rows(fast, table) == _rows(general, table)
    return got[0]


HEADER = "order_id,customer_id,order_date,amount,status,channel\n"


def test_clean_file_loads_in_one_pass(pair: tuple[Workspace, Workspace], outcomes: list[str],
                                      tmp_path: Path) -> None:
    f = tmp_path / "clean.csv"
    f.write_text(HEADER + "".join(f'"A{i}","K{i % 3}",2024-03-0{1 + i % 9} 10:00:00.000,{i}.50,completed,web\n'
                                  for i in range(50)), encoding="utf-8")
    report = _same(pair, f)
    assert outcomes == ["loaded"]
    assert (report["read"], report["inserted"], report["stub_customers"], report["rejected"]) == (50, 50, 2, 0)
    assert report["tables"]["customers"] == {"inserted": 2, "updated": 0, "unchanged": 1}
    # the same file again is a no-op, through the general path (the table has rows now)
    fast, _ = pair
    again = import_file(fast, "orders", f, record_job=False)
    assert (again.unchanged, again.inserted, outcomes[-1]) == (50, 0, "general")


@pytest.mark.parametrize(("body", "why"), [
    ('A1,K1,2024-03-05,12.50,completed,web\nA2,K1,2024-03-05,abc,completed,web\n', "text in an amount"),
    ('A1,K1,2024-03-05,12.50,completed,web\nA1,K1,2024-03-06,13,completed,web\n', "duplicate key"),
    ('A1,K1,2024-03-05,12.50,completed,web\nA2,K1,2024-03-05,1,2,3,4\n', "malformed line"),
    ('A1,K1,2024-03-05,"¥1,234.50",已完成,web\n', "values in other forms"),
    ('A1,K1,2024-13-45,1,completed,web\n', "impossible date"),
    ('A1,K1,1850-01-01,1,completed,web\n', "implausible date"),
    ('A1,K1,2024-03-05T10:00:00+08:00,1,completed,web\n', "time zone"),
    ('A1,,2024-03-05,1,completed,web\n', "missing customer"),
    ('A1,K1,2024-03-05,1, completed,web\n A2 ,K1,2024-03-05,2,completed,web\n', "blanks around values"),
    ('A1,K9,2024-03-05,1,completed,web\n', "unknown customer (reject)"),
])
def test_files_needing_a_closer_look_give_the_general_result(
        pair: tuple[Workspace, Workspace], outcomes: list[str], tmp_path: Path, body: str, why: str) -> None:
    f = tmp_path / "file.csv"
    f.write_text(HEADER + body, encoding="utf-8")
    policy = "reject" if "reject" in why else "create"
    for partial in (False, True):
        _same(pair, f, allow_partial=partial, unknown_customers=policy)
    assert "loaded" not in outcomes, why  # each was handed to the general path (or never tried: the sample)


def test_dry_run_and_rollback_leave_nothing(pair: tuple[Workspace, Workspace], outcomes: list[str],
                                            tmp_path: Path) -> None:
    f = tmp_path / "clean.csv"
    f.write_text(HEADER + "A1,K7,2024-03-05,1,completed,web\n", encoding="utf-8")
    report = _same(pair, f, dry_run=True)
    assert outcomes == ["loaded"] and report["status"] == "dry_run" and report["stub_customers"] == 1
    fast, _ = pair
    assert _rows(fast, "orders") == [] and [r[0] for r in _rows(fast, "customers")] == ["K1"]


@pytest.mark.parametrize(("keys", "loaded"), [
    (["A01", "A02", "A10"], True),  # rising: unique without counting
    (["A10", "A02", "A01"], True),  # not rising, distinct: counted by hash
    (["A01", "A02", "A01"], False),  # a duplicate that is not next to its twin
    (["A01", "A02", "A02"], False),  # a duplicate next to its twin
])
def test_duplicate_keys_found_in_any_order(pair: tuple[Workspace, Workspace], outcomes: list[str],
                                           tmp_path: Path, keys: list[str], loaded: bool) -> None:
    f = tmp_path / "keys.csv"
    f.write_text(HEADER + "".join(f"{k},K1,2024-03-05,1,completed,web\n" for k in keys), encoding="utf-8")
    report = _same(pair, f, allow_partial=True)
    assert outcomes == ["loaded" if loaded else "general"]
    assert report["inserted"] == len(set(keys)) - (0 if loaded else 1)


def test_error_guard_stops_the_statement() -> None:
    """The one-pass load relies on error() inside CASE firing only for the rows the guard selects."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v INTEGER)")
    sql = (f"INSERT INTO t SELECT v FROM range(10) r(v) WHERE CASE WHEN v = {{}} "
           f"THEN error('{inplace.GUARD_MESSAGE}') ELSE true END")
    assert con.execute(sql.format(-1)).fetchone() == (10,)
    with pytest.raises(duckdb.Error, match=inplace.GUARD_MESSAGE):
        con.execute(sql.format(7))


def test_decimal_cast_never_reads_hex() -> None:
    """parsing.fast_sql casts amounts without the hex guard the integer casts need."""
    con = duckdb.connect()
    values = ["0x10", "0X1F", "0x1.8", "-0x10", "x1", "1x"]
    assert con.execute("SELECT list(TRY_CAST(v AS DECIMAL(18, 2))) FROM unnest(?) t(v)",
                       [values]).fetchone() == ([None] * len(values),)


_cells = {
    "order_id": st.sampled_from(["A1", "A2", "A3", " A4", "A5.0", "", "A1"]),
    "customer_id": st.sampled_from(["K1", "K2", "", "K1 ", "17850.0"]),
    "order_date": st.sampled_from(["2024-03-05", "2024-03-05 10:20:30.000", "2024/3/5", "2024-13-45", "",
                                   "2024-03-05T10:20:30+08:00", "1850-01-01", "45356"]),
    "amount": st.sampled_from(["12.50", "0", "-3", "¥1,234.50", "abc", "", "(20)", "1e3"]),
    "status": st.sampled_from(["completed", "cancelled", "已完成", "", "nope", "returned"]),
    "channel": st.sampled_from(["web", "", "store", "a\nb", 'say "hi"']),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries(_cells), min_size=1, max_size=8), clean=st.booleans(),
       blank_line=st.booleans(), partial=st.booleans())
def test_any_file_same_result_either_way(pair: tuple[Workspace, Workspace], tmp_path: Path,
                                         rows: list[dict[str, str]], clean: bool, blank_line: bool,
                                         partial: bool) -> None:
    if clean:  # mostly clean files, so that the one-pass load is taken often
        rows = [{**r, "order_id": f"A{i}", "order_date": "2024-03-05", "amount": "1.5", "customer_id": "K1"}
                for i, r in enumerate(rows)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(_cells), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = buf.getvalue()
    if blank_line:
        text = text.replace("\n", "\n\n", 2)
    f = tmp_path / "any.csv"
    f.write_text(text, encoding="utf-8")
    _same(pair, f, allow_partial=partial)
