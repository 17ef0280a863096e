"""Importers end to end: bundled real data, Chinese GBK exports, Zoho exports, bad input, idempotency."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import crmscore.datasets as _datasets_pkg
from crmscore.cli.main import app
from crmscore.errors import CrmscoreError, ImportFailed, InputFileError, MissingColumnsError
from crmscore.ingest import import_file, import_frame
from crmscore.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
DATA = Path(_datasets_pkg.__file__).parent / "data" if _datasets_pkg.__file__ else Path()
PKG = Path(__file__).resolve().parents[1] / "src" / "crmscore" / "datasets"


def _count(ws: Workspace, sql: str) -> object:
    return ws.warehouse.execute(sql).fetchall()[0][0]


def _snapshot(ws: Workspace) -> dict[str, int]:
    return {t: int(_count(ws, f"SELECT count(*) FROM {t}"))  # type: ignore[call-overload]
            for t in ("customers", "orders", "order_lines", "invoices")}


@pytest.mark.slow
def test_online_retail_cli_json(tmp_path: Path) -> None:
    """Done-when: 541,909 lines read, 135,080 without customer rejected, 4,372 customers (data/README.md)."""
    Workspace.init(tmp_path / "ws").close()
    result = CliRunner().invoke(app, ["import", "order-lines", str(PKG / "data" / "online_retail_all.parquet"),
                                      "--allow-partial", "--json", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["read"] == 541_909
    assert report["rejected"] == 135_080
    assert report["inserted"] == 541_909 - 135_080
    assert report["stub_customers"] == 4_372
    assert report["automatic_mapping"] is True
    assert {r["reason"] for r in report["rejections"]} == {"required value missing"}
    assert {r["column"] for r in report["rejections"]} == {"customer_id"}
    assert len(report["rejections"]) == 135_080
    assert Path(report["quarantine_path"]).exists() and Path(report["report_path"]).exists()
    with Workspace(tmp_path / "ws") as ws:
        assert _count(ws, "SELECT count(*) FROM customers") == 4_372
        # every C invoice is a cancellation with a negative amount; no other invoice is
        assert _count(ws, "SELECT count(*) FROM orders WHERE (order_id LIKE 'C%') <> (status = 'cancelled')") == 0
        assert _count(ws, "SELECT count(*) FROM orders WHERE status = 'cancelled' AND amount > 0") == 0
        assert _count(ws, "SELECT count(*) FROM orders WHERE status = 'cancelled'") > 3000
        # clean purchases total GBP 8,911,407.90 (data/README.md)
        assert str(_count(ws, "SELECT sum(amount) FROM orders WHERE status = 'completed'")) == "8911407.90"


def test_cdnow_through_mapping_file(workspace: Workspace) -> None:
    report = import_file(workspace, "orders", PKG / "data" / "CDNOW_sample.txt",
                         mapping=PKG / "mappings" / "cdnow.yaml")
    assert (report.read, report.inserted, report.rejected) == (6_919, 6_919, 0)
    assert _count(workspace, "SELECT count(DISTINCT customer_id) FROM orders") == 2_357  # data/README.md
    assert _count(workspace, "SELECT count(*) FROM orders WHERE amount = 0") == 8  # "8 lines have $0"
    assert _count(workspace, "SELECT min(order_date) FROM orders").isoformat() == "1997-01-01T00:00:00"  # type: ignore[attr-defined]
    assert _count(workspace, "SELECT customer_id FROM orders ORDER BY order_id LIMIT 1") == "00004"
    again = import_file(workspace, "orders", PKG / "data" / "CDNOW_sample.txt",
                        mapping=PKG / "mappings" / "cdnow.yaml")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6_919)


def test_gbk_chinese_headers(workspace: Workspace) -> None:
    cust = import_file(workspace, "customers", FIXTURES / "customers_gbk.csv")
    assert cust.encoding == "gb18030" and cust.inserted == 2
    rows = workspace.warehouse.execute(
        "SELECT customer_id, name, industry, department, owner_id, employees, created_on, is_stub FROM customers "
        "ORDER BY 1").fetchall()
    assert rows[0][:6] == ("C001", "北京华为技术有限公司", "制造业", "销售/华北", "张伟", 1200)
    assert rows[1][6].isoformat() == "2021-06-30" and rows[0][7] is False
    orders = import_file(workspace, "orders", FIXTURES / "orders_gbk.csv")
    assert (orders.inserted, orders.rejected, orders.stub_customers) == (3, 0, 0)
    got = workspace.warehouse.execute("SELECT order_id, order_date, amount, status FROM orders ORDER BY 1").fetchall()
    assert [(o, d.date().isoformat(), str(a), s) for o, d, a, s in got] == [
        ("SO-1001", "2024-03-05", "1234.50", "completed"),
        ("SO-1002", "2024-03-06", "800.00", "cancelled"),
        ("SO-1003", "2024-04-01", "125000.00", "returned")]


def test_zoho_exports_map_automatically(workspace: Workspace, tmp_path: Path) -> None:
    acc = import_file(workspace, "customers", FIXTURES / "zoho_accounts.csv", save_mapping_to=tmp_path / "m.yaml")
    assert acc.automatic_mapping and acc.mapping["customer_id"] == "Account_Number"
    assert acc.mapping["name"] == "Account_Name" and acc.mapping["country"] == "Billing_Country"
    assert _count(workspace, "SELECT annual_revenue FROM customers WHERE customer_id = 'ACC-1'") == \
        __import__("decimal").Decimal("1500000.00")
    so = import_file(workspace, "orders", FIXTURES / "zoho_sales_orders.csv")
    assert so.mapping == {"order_id": "SO_Number", "customer_id": "Account_Name", "order_date": "Created_Time",
                          "amount": "Grand_Total", "status": "Status"}
    assert (so.inserted, so.stub_customers) == (2, 0)
    # +08:00 offsets are converted to UTC
    assert _count(workspace, "SELECT order_date FROM orders WHERE order_id = 'SO-9001'").isoformat() == \
        "2024-03-05T02:20:30"  # type: ignore[attr-defined]
    saved = (tmp_path / "m.yaml").read_text(encoding="utf-8")
    assert "Account_Number" in saved
    again = import_file(workspace, "customers", FIXTURES / "zoho_accounts.csv", mapping=tmp_path / "m.yaml")
    assert again.unchanged == 2


def test_bad_rows_are_rejected_and_nothing_is_written(workspace: Workspace) -> None:
    before = _snapshot(workspace)
    with pytest.raises(ImportFailed) as info:
        import_file(workspace, "orders", FIXTURES / "orders_bad.csv")
    report = info.value.report
    assert report.status == "failed" and report.read == 5
    reasons = {(r.line, r.column): r.reason for r in report.rejections}
    assert reasons[(3, "order_date")] == "not a valid date or time"  # 2024-13-45
    assert reasons[(4, "amount")] == "not an amount"  # abc
    assert "lines 2, 5" in reasons[(2, "order_id")] and "lines 2, 5" in reasons[(5, "order_id")]
    assert reasons[(6, "customer_id")] == "required value missing"
    assert report.rejected == 5
    assert _snapshot(workspace) == before
    quarantine = Path(report.quarantine_path).read_text(encoding="utf-8")
    assert quarantine.splitlines()[0].startswith("line,column,value,reason,order_id")
    partial = import_file(workspace, "orders", FIXTURES / "orders_bad.csv", allow_partial=True)
    assert (partial.inserted, partial.rejected, partial.status) == (0, 5, "partial")


def test_truncated_file_and_cli_exit_code(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    result = CliRunner().invoke(app, ["import", "orders", str(FIXTURES / "orders_truncated.csv"), "--json",
                                      "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["rejected"] == 1 and report["rejections"][0]["line"] == 3
    assert "malformed line" in report["rejections"][0]["reason"]
    with Workspace(tmp_path / "ws") as ws:
        assert _snapshot(ws)["orders"] == 0


def test_unreadable_inputs_raise_clear_errors(workspace: Workspace, tmp_path: Path) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InputFileError, match="binary"):
        import_file(workspace, "orders", junk)
    missing = tmp_path / "o.csv"
    missing.write_text("order_id,customer_id,amount\nA1,C1,5\n", encoding="utf-8")
    with pytest.raises(MissingColumnsError, match="order_date"):
        import_file(workspace, "orders", missing)
    with pytest.raises(InputFileError, match="not found"):
        import_file(workspace, "orders", tmp_path / "nope.csv")
    fake_xlsx = tmp_path / "x.xlsx"
    fake_xlsx.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(InputFileError):
        import_file(workspace, "customers", fake_xlsx)
    # a GBK file read as UTF-8: a clear error naming the likely encoding, nothing written
    with pytest.raises(InputFileError, match="not valid utf-8") as info:
        import_file(workspace, "orders", FIXTURES / "orders_gbk.csv", encoding="utf-8")
    assert "gb18030" in str(info.value.hint)
    assert _snapshot(workspace)["orders"] == 0


def test_idempotent_upsert_and_dry_run(workspace: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text("order_id,customer_id,order_date,amount,status\nA1,C1,2024-03-05,100,completed\n"
                 "A2,C1,2024-03-06,(20),returned\n", encoding="utf-8")
    dry = import_file(workspace, "orders", f, dry_run=True)
    assert (dry.inserted, dry.status) == (2, "dry_run") and _snapshot(workspace)["orders"] == 0
    first = import_file(workspace, "orders", f)
    assert (first.inserted, first.stub_customers) == (2, 1)
    assert _count(workspace, "SELECT is_stub FROM customers WHERE customer_id = 'C1'") is True
    second = import_file(workspace, "orders", f)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2)
    f.write_text("order_id,customer_id,order_date,amount,status\nA1,C1,2024-03-05,100,completed\n"
                 "A2,C1,2024-03-06,-25,returned\nA3,C1,2024-03-07,5,\n", encoding="utf-8")
    third = import_file(workspace, "orders", f)
    assert (third.inserted, third.updated, third.unchanged) == (1, 1, 1)
    assert str(_count(workspace, "SELECT amount FROM orders WHERE order_id = 'A2'")) == "-25.00"
    assert _count(workspace, "SELECT status FROM orders WHERE order_id = 'A3'") == "completed"
    # importing the customer master turns the stub into a real customer
    c = tmp_path / "c.csv"
    c.write_text("customer_id,name\nC1,Acme\n", encoding="utf-8")
    assert import_file(workspace, "customers", c).updated == 1
    assert _count(workspace, "SELECT is_stub FROM customers WHERE customer_id = 'C1'") is False


def test_unknown_customers_reject(workspace: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text("order_id,customer_id,order_date,amount\nA1,C9,2024-03-05,100\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as info:
        import_file(workspace, "orders", f, unknown_customers="reject")
    assert info.value.report.rejections[0].reason.startswith("unknown customer")


def test_xlsx_jsonl_and_ranges(workspace: Workspace, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Ignore"
    sheet = book.create_sheet("Surveys")
    sheet.append(["问卷编号", "客户编号", "日期", "维度", "评分", "最低分", "满分", "推荐意愿"])
    sheet.append(["S1", "C1", "2024年3月5日", "产品", 4, 1, 5, 9])
    sheet.append(["S2", "C1", "2024年3月5日", "售后", 7, 1, 5, 11])
    path = tmp_path / "s.xlsx"
    book.save(path)
    with pytest.raises(ImportFailed) as info:
        import_file(workspace, "surveys", path, sheet="Surveys")
    reasons = {(r.line, r.column): r.reason for r in info.value.report.rejections}
    assert reasons[(3, "would_recommend")] == "above the maximum 10"
    assert reasons[(3, "score")].startswith("score outside its scale")
    with pytest.raises(CrmscoreError, match="sheet"):
        import_file(workspace, "surveys", path, sheet="Nope")
    jl = tmp_path / "t.jsonl"
    jl.write_text('{"ticket_id": "T1", "customer_id": 17850.0, "opened_at": "2024-03-05 10:00", '
                  '"is_complaint": "是"}\n', encoding="utf-8")
    rep = import_file(workspace, "tickets", jl)
    assert rep.inserted == 1
    assert _count(workspace, "SELECT customer_id FROM tickets") == "17850"
    assert _count(workspace, "SELECT is_complaint FROM tickets") is True


def test_imports_are_recorded_as_jobs(tmp_path: Path) -> None:
    """Each CLI/library import leaves one ``jobs`` record: succeeded with its counts, or failed with the error."""
    from crmscore.services.jobs import list_jobs

    Workspace.init(tmp_path / "ws").close()
    good = tmp_path / "orders.csv"
    good.write_text("order_id,customer_id,order_date,amount\nA1,C1,2024-03-05,100\nA2,C2,2024-03-06,¥20\n",
                    encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,customer_id,order_date,amount\nB1,C1,2024-13-45,5\n", encoding="utf-8")
    ok = CliRunner().invoke(app, ["import", "orders", str(good), "--json", "--workspace", str(tmp_path / "ws")])
    assert ok.exit_code == 0, ok.output
    failed = CliRunner().invoke(app, ["import", "orders", str(bad), "--json", "--workspace", str(tmp_path / "ws")])
    assert failed.exit_code == 1
    with Workspace(tmp_path / "ws") as ws:
        import_frame(ws, "orders", pd.DataFrame({"order_id": ["F1"], "customer_id": ["C1"],
                                                 "order_date": ["2024-01-02"], "amount": ["3"]}), created_by="lib")
        import_frame(ws, "orders", pd.DataFrame({"order_id": ["F2"], "customer_id": ["C1"],
                                                 "order_date": ["2024-01-02"], "amount": ["4"]}), record_job=False)
        jobs = list(reversed(list_jobs(ws, kind="import")))
        assert [j.status for j in jobs] == ["succeeded", "failed", "succeeded"]
        first, second, third = jobs
        assert first.params["file"] == str(good) and first.created_by.startswith("cli:")
        assert first.result["inserted"] == 2 and first.result["status"] == "ok"
        assert "rejected" in second.error and second.finished_at is not None
        assert third.created_by == "lib" and third.result["inserted"] == 1
        assert _snapshot(ws)["orders"] == 4  # A1, A2, F1, F2: the failed import wrote nothing


def test_currency_from_amount_symbols(workspace: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text("order_id,customer_id,order_date,amount\nA1,C1,2024-03-05,¥1234.50\nA2,C1,2024-03-06,$20\n"
                 "A3,C1,2024-03-07,\"1.234,50 €\"\nA4,C1,2024-03-08,12\n", encoding="utf-8")
    report = import_file(workspace, "orders", f)
    assert report.mapping["currency"] == "symbols in amount"
    rows = workspace.warehouse.execute("SELECT order_id, currency, amount FROM orders ORDER BY 1").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("A1", "CNY"), ("A2", "USD"), ("A3", "EUR"), ("A4", None)]
    plain = tmp_path / "plain.csv"
    plain.write_text("order_id,customer_id,order_date,amount\nB1,C1,2024-03-05,5\n", encoding="utf-8")
    assert "currency" not in import_file(workspace, "orders", plain).mapping


def test_line_numbers_count_blank_lines_and_line_breaks_in_values(workspace: Workspace, tmp_path: Path) -> None:
    """Rejections name the line an editor shows: DuckDB skips blank lines and reads quoted line breaks."""
    lines = ["order_id,customer_id,order_date,amount,channel",  # 1
             "A1,C1,2024-03-05,12.50,x",                        # 2
             "",                                                # 3
             "A2,C2,2024-03-06,bad,y",                          # 4
             "", "",                                            # 5, 6
             'A3,C2,2024-03-06,bad,"two',                       # 7
             'lines"',                                          # 8
             "A4,C2,2024-03-06,bad,z",                          # 9
             "A5,C2,2024-03-06,1,z,extra",                      # 10
             "A6,C2,2024-03-06,bad,z",                          # 11
             "", ""]
    f = tmp_path / "gaps.csv"
    f.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ImportFailed) as info:
        import_file(workspace, "orders", f)
    report = info.value.report
    got = [(r.line, r.value) for r in report.rejections]
    want = [(n + 1, "bad") for n, text in enumerate(lines) if ",bad," in text]
    want.append((10, "A5,C2,2024-03-06,1,z,extra"))
    assert got == sorted(want)
    quarantine = pd.read_csv(report.quarantine_path, dtype=str)
    assert quarantine["line"].astype(int).tolist() == [line for line, _ in sorted(want)]
    assert quarantine.loc[quarantine["line"] == "7", "channel"].tolist() == ["two\nlines"]
