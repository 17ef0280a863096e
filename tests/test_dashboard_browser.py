"""The web dashboard in a real browser: Playwright drives Debian's Chromium against a real uvicorn server.

One server and one browser for the module; a workspace of a few hundred synthetic customers with one scoring
snapshot. The tests run in file order and build on each other where the product does (an import, then a
scoring run that adds the second snapshot the migration page compares). Every page is saved as a screenshot
under ``test-artifacts/screenshots/``; charts are checked to be drawn with data.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _load(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


HERE = Path(__file__).resolve().parent
harness = _load("crmscore_browser_harness", HERE / "browser" / "harness.py")
conftest = sys.modules.get("conftest") or _load("crmscore_tests_conftest", HERE / "conftest.py")

GRADES = {"A", "B", "C", "D"}


@pytest.fixture(scope="module")
def tw(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return harness.build_workspace(tmp_path_factory.mktemp("dashboard") / "ws")


@pytest.fixture(scope="module")
def base(tw: Any) -> Iterator[str]:
    with harness.serve(tw.path) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not harness.chromium_available():
        conftest.unavailable("Debian chromium not installed (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = harness.launch(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def admin(browser: Any, base: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    harness.login(page, base, "admin", harness.USERS["admin"][0])
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def _api(page: Any, path: str) -> Any:
    response = page.request.get(page.url.split("/app/")[0] + path)
    assert response.ok, response.text()
    return response.json()


def _goto(page: Any, base: str, route: str, name: str) -> None:
    target = f"{base}/app/#/{route}"
    if page.url == target:
        page.reload()  # the same fragment would not render the page again
    else:
        page.goto(target)
    harness.wait_ready(page, name)


def _set_english(page: Any) -> None:
    if page.input_value("#lang") != "en":
        page.select_option("#lang", "en")
        page.wait_for_selector('#nav a[data-page="overview"]:text("Overview")')


# -- log in -----------------------------------------------------------------------------------------------------
def test_login_page_rejects_a_wrong_password_then_logs_in(browser: Any, base: str) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(base + "/")
    assert page.url.endswith("/app/")  # / redirects to the dashboard
    harness.wait_ready(page, "login")
    harness.screenshot(page, "01-login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not the password")
    page.click("form.login-card button[type=submit]")
    page.wait_for_selector(".login-card .error-box")
    assert "invalid username or password" in page.inner_text(".login-card .error-box")
    page.fill("input[name=password]", harness.USERS["admin"][0])
    page.click("form.login-card button[type=submit]")
    harness.wait_ready(page, "overview")
    assert page.inner_text("#whoami").startswith("admin")
    context.close()


def test_overview_shows_kpis_and_charts_with_data(admin: Any, base: str, tw: Any) -> None:
    _goto(admin, base, "overview", "overview")
    kpis = _api(admin, "/api/kpis")
    customers_card = admin.inner_text('[data-kpi="customers"] .kpi-value')
    assert int(re.sub(r"\D", "", customers_card)) == kpis["kpis"]["customers"] == tw.customers
    # one snapshot so far: no previous one to compare with
    assert "no previous snapshot" in admin.inner_text('[data-kpi="customers"] .kpi-change')
    grades = harness.chart_data(admin, "grades")
    assert sum(grades) == tw.customers
    assert len(harness.chart_data(admin, "segments")) > 0
    pareto = harness.chart_data(admin, "pareto")
    assert pareto[0] == [0, 0] and pareto[-1][0] == pytest.approx(1.0) and pareto[-1][1] == pytest.approx(1.0)
    assert sum(x["value"] for x in harness.chart_data(admin, "funnel")) == tw.customers
    assert len(harness.chart_data(admin, "trend")) == 1
    for name in ("grades", "segments", "pareto", "funnel", "trend"):
        assert harness.canvas_has_pixels(admin, name), name
    harness.screenshot(admin, "02-overview")
    assert admin.js_errors == []


# -- customers --------------------------------------------------------------------------------------------------
def test_customers_filter_sort_paginate_and_export(admin: Any, base: str, tw: Any) -> None:
    _goto(admin, base, "customers", "customers")
    assert int(admin.get_attribute("[data-total]", "data-total")) == tw.customers
    harness.screenshot(admin, "03-customers")
    admin.select_option("select[name=grade]", "B")
    admin.wait_for_function("() => location.hash.includes('grade=B')")
    harness.wait_ready(admin, "customers")
    grades = admin.locator("td.col-grade").all_inner_texts()
    assert grades and set(grades) == {"B"}
    total_b = int(admin.get_attribute("[data-total]", "data-total"))
    expected = _api(admin, "/api/customers?grade=B&limit=1")["total"]
    assert total_b == expected < tw.customers
    # sort by score ascending (click the header twice: the default is descending)
    admin.click('button[data-sort="score"]')
    harness.wait_ready(admin, "customers")
    scores = [float(s.replace(",", "")) for s in admin.locator("td.col-score").all_inner_texts()]
    assert scores == sorted(scores)
    if total_b > 25:
        first_page = admin.locator("tr[data-customer]").evaluate_all("rows => rows.map(r => r.dataset.customer)")
        admin.click("button[data-next]")
        harness.wait_ready(admin, "customers")
        second = admin.locator("tr[data-customer]").evaluate_all("rows => rows.map(r => r.dataset.customer)")
        assert not set(first_page) & set(second)
    with admin.expect_download() as info:
        admin.click('a[data-export="csv"]')
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_bytes().decode("utf-8-sig"))))
    assert len(rows) == total_b and {r["grade"] for r in rows} == {"B"}


def test_search_finds_a_customer_by_name(admin: Any, base: str) -> None:
    first = _api(admin, "/api/customers?limit=1&sort=customer_id")["items"][0]
    _goto(admin, base, "customers", "customers")
    admin.fill("input[name=q]", first["name"])
    admin.press("input[name=q]", "Enter")
    admin.wait_for_function("() => location.hash.includes('q=')")
    harness.wait_ready(admin, "customers")
    ids = admin.locator("tr[data-customer]").evaluate_all("rows => rows.map(r => r.dataset.customer)")
    assert first["customer_id"] in ids
    names = admin.locator("a.customer-link").all_inner_texts()
    assert all(first["name"].lower() in n.lower() for n in names)


# -- customer 360 -----------------------------------------------------------------------------------------------
def test_customer_360_explains_the_score(admin: Any, base: str) -> None:
    _goto(admin, base, "customers", "customers")
    link = admin.locator("a.customer-link").first
    link.click()
    harness.wait_ready(admin, "customer")
    cid = admin.get_attribute("h1[data-customer]", "data-customer")
    detail = _api(admin, f"/api/customers/{cid}")
    score = detail["results"]["score"]
    assert float(admin.get_attribute("[data-score]", "data-score")) == pytest.approx(score)
    assert admin.get_attribute("[data-grade]", "data-grade") == detail["results"]["grade"]
    texts = admin.locator(".explain-text").all_inner_texts()
    assert len(texts) == len(detail["points"]) > 0
    assert all(t.strip() for t in texts)
    assert texts[0] == detail["points"][0]["explanation_en"]
    # the explanation adds up to the score (per dimension rows are points of max points)
    dims = admin.locator("tr.dim-row th.num").all_inner_texts()
    shown = sum(float(d.split(" of ")[0]) for d in dims)
    assert shown == pytest.approx(score, abs=0.1 * len(dims))
    assert harness.chart_data(admin, "history") == [pytest.approx(h["score"]) for h in detail["history"]]
    assert len(harness.chart_data(admin, "dimensions")) > 0 and harness.canvas_has_pixels(admin, "dimensions")
    assert admin.locator('[data-activity="orders"] tbody tr').count() == min(20, detail["activity"]["orders"]["count"])
    assert "CLV" in admin.inner_text('[data-section="risk"]')
    harness.screenshot(admin, "04-customer-360")


# -- imports: upload a CSV, fix the mapping, read the report, download the quarantine ---------------------------
def _orders_csv(tmp: Path, customer_id: str, bad: bool) -> Path:
    rows = ["Order No,customer_id,order_date,Spend,status"]
    rows += [f"WEB-{i:04d},{customer_id},2024-12-{10 + i:02d},{100 + i}.50,completed" for i in range(5)]
    if bad:
        rows.append(f"WEB-9999,{customer_id},2024-12-20,not money,completed")
    path = tmp / ("orders-bad.csv" if bad else "orders.csv")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _upload(page: Any, path: Path) -> None:
    page.select_option("select[name=kind]", "orders")
    page.set_input_files("input[name=file]", str(path))
    page.click('button[data-action="analyse"]')
    page.wait_for_selector('[data-section="mapping"] table.mapping')


def test_import_csv_after_fixing_the_mapping(admin: Any, base: str, tmp_path: Path) -> None:
    cid = _api(admin, "/api/customers?limit=1&sort=customer_id")["items"][0]["customer_id"]
    before = _api(admin, f"/api/customers/{cid}")["activity"]["orders"]["count"]
    _goto(admin, base, "imports", "imports")
    _upload(admin, _orders_csv(tmp_path, cid, bad=False))
    # the automatic mapping recognises customer_id and order_date, but not 'Spend' (the amount)
    assert admin.input_value('select[data-field="customer_id"]') == "customer_id"
    assert admin.input_value('select[data-field="amount"]') == ""
    admin.select_option('select[data-field="amount"]', "Spend")
    if admin.input_value('select[data-field="order_id"]') == "":
        admin.select_option('select[data-field="order_id"]', "Order No")
    harness.screenshot(admin, "05-imports-mapping")
    admin.click('button[data-action="import"]')
    admin.wait_for_selector('[data-section="report"]', timeout=60_000)
    assert admin.get_attribute('[data-section="report"]', "data-status") == "ok"
    assert admin.inner_text('[data-count="inserted"]') == "5"
    assert _api(admin, f"/api/customers/{cid}")["activity"]["orders"]["count"] == before + 5
    harness.screenshot(admin, "06-imports-report")


def test_import_with_a_bad_row_quarantines_it(admin: Any, base: str, tmp_path: Path) -> None:
    cid = _api(admin, "/api/customers?limit=1&sort=customer_id")["items"][0]["customer_id"]
    _goto(admin, base, "imports", "imports")
    _upload(admin, _orders_csv(tmp_path, cid, bad=True))
    admin.select_option('select[data-field="amount"]', "Spend")
    if admin.input_value('select[data-field="order_id"]') == "":
        admin.select_option('select[data-field="order_id"]', "Order No")
    admin.check("input[name=allow_partial]")
    admin.click('button[data-action="import"]')
    admin.wait_for_selector('[data-section="report"]', timeout=60_000)
    assert admin.inner_text('[data-count="rejected"]') == "1"
    assert "not money" in admin.inner_text("table.rejections")
    with admin.expect_download() as info:
        admin.click("a[data-quarantine]")
    assert "not money" in Path(info.value.path()).read_text(encoding="utf-8-sig")


# -- scoring run ------------------------------------------------------------------------------------------------
def test_run_scoring_adds_a_snapshot(admin: Any, base: str) -> None:
    before = len(_api(admin, "/api/snapshots"))
    _goto(admin, base, "imports", "imports")
    admin.click('button[data-action="score"]')
    admin.wait_for_selector('[data-section="scoring-result"] .ok-box, [data-section="scoring-result"] .error-box',
                            timeout=170_000)
    snapshot = admin.get_attribute('[data-section="scoring-result"] .ok-box', "data-snapshot")
    snapshots = _api(admin, "/api/snapshots")
    assert len(snapshots) == before + 1 and snapshots[-1]["snapshot_id"] == snapshot
    harness.screenshot(admin, "07-imports-scoring")
    _goto(admin, base, "overview", "overview")
    assert admin.get_attribute("[data-snapshot]", "data-snapshot") == snapshot
    assert len(harness.chart_data(admin, "trend")) == before + 1
    assert "vs previous" in admin.inner_text('[data-kpi="customers"] .kpi-change')


# -- segments and migration -------------------------------------------------------------------------------------
def test_segments_and_migration_between_snapshots(admin: Any, base: str, tw: Any) -> None:
    snaps = _api(admin, "/api/snapshots")
    if len(snaps) < 2:
        pytest.skip("needs the scoring run of test_run_scoring_adds_a_snapshot")
    _goto(admin, base, "segments?by=grade", "segments")
    assert sum(harness.chart_data(admin, "sizes")) == snaps[-1]["customer_count"]
    links = harness.chart_data(admin, "migration")
    assert links and sum(link["value"] for link in links) >= tw.customers
    cells = admin.locator("table.matrix td").all_inner_texts()
    m = _api(admin, f"/api/snapshots/migration?a={snaps[-2]['snapshot_id']}&b={snaps[-1]['snapshot_id']}&by=grade")
    assert sum(int(c.replace(",", "")) for c in cells) == sum(map(sum, m["counts"]))
    assert harness.canvas_has_pixels(admin, "migration")
    harness.screenshot(admin, "08-segments")


# -- scorecard: change a weight, validate, preview, publish -----------------------------------------------------
def test_scorecard_change_weight_preview_publish(admin: Any, base: str) -> None:
    _goto(admin, base, "scorecard", "scorecard")
    current = _api(admin, "/api/scorecards/current")
    dim = current["spec"]["dimensions"][1]["name"]
    new_weight = int(current["spec"]["dimensions"][1]["weight"]) * 4
    admin.fill(f'input[data-weight="{dim}"]', str(new_weight))
    admin.click('button[data-action="validate"]')
    admin.wait_for_selector('[data-valid="true"]')
    admin.click('button[data-action="preview"]')
    admin.wait_for_selector('[data-preview="true"]', timeout=120_000)
    after = harness.chart_data(admin, "preview", series=1)
    now = harness.chart_data(admin, "preview", series=0)
    assert sum(after) == sum(now) > 0 and harness.canvas_has_pixels(admin, "preview")
    assert int(admin.get_attribute("[data-changed]", "data-changed")) >= 0
    harness.screenshot(admin, "09-scorecard-preview")
    admin.click('button[data-action="publish"]')
    admin.wait_for_selector("[data-published]")
    version = int(admin.get_attribute("[data-published]", "data-published"))
    published = _api(admin, "/api/scorecards/current")
    assert published["version"] == version
    assert published["spec"]["dimensions"][1]["weight"] == new_weight
    audit = _api(admin, "/api/audit?action=scorecard_publish")
    assert audit["items"][0]["username"] == "admin"


def test_rep_can_read_but_not_edit_or_publish_the_scorecard(browser: Any, base: str) -> None:
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-US")
    page = context.new_page()
    harness.login(page, base, "rep", "rep-password-1")
    page.goto(f"{base}/app/#/scorecard")
    harness.wait_ready(page, "scorecard")
    assert page.locator('button[data-action="publish"]').count() == 0
    assert page.locator('input[data-weight]').first.is_disabled()
    context.close()


# -- admin ------------------------------------------------------------------------------------------------------
def test_admin_users_and_audit_log(admin: Any, base: str) -> None:
    _goto(admin, base, "admin", "admin")
    users = admin.locator("tr[data-user]").evaluate_all("rows => rows.map(r => r.dataset.user)")
    assert {"admin", "analyst", "rep"} <= set(users)
    actions = admin.locator("table.audit td:nth-child(3)").all_inner_texts()
    assert "login" in actions and "import" in actions
    admin.fill('[data-form="new-user"] input[name=username]', "rep2")
    admin.fill('[data-form="new-user"] input[name=password]', "rep2-password-1")
    admin.select_option('[data-form="new-user"] select[name=role]', "rep")
    admin.select_option('[data-form="new-user"] select[name=scope]', "self")
    admin.fill('[data-form="new-user"] input[name=owner_id]', "NOBODY")
    admin.click('[data-form="new-user"] button[type=submit]')
    admin.wait_for_selector('tr[data-user="rep2"]')
    harness.screenshot(admin, "10-admin")


# -- language -----------------------------------------------------------------------------------------------------
def test_switch_language_to_chinese_and_back(admin: Any, base: str) -> None:
    _goto(admin, base, "overview", "overview")
    admin.select_option("#lang", "zh-CN")
    admin.wait_for_selector('#nav a[data-page="overview"]:text("概览")')
    harness.wait_ready(admin, "overview")
    assert admin.inner_text("h1") == "概览"
    assert admin.evaluate("document.documentElement.lang") == "zh-CN"
    revenue = admin.inner_text('[data-kpi="revenue"] .kpi-value')
    assert revenue.startswith("¥"), revenue  # zh-CN writes yuan as ¥ (English: CN¥)
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", admin.inner_text("[data-snapshot]"))
    harness.screenshot(admin, "11-overview-zh-CN")
    _goto(admin, base, "customers", "customers")
    assert "共" in admin.inner_text("[data-total]")
    admin.select_option("#lang", "en")
    admin.wait_for_selector('#nav a[data-page="overview"]:text("Overview")')
    harness.wait_ready(admin, "customers")
    assert admin.inner_text("h1") == "Customers"
    assert "of" in admin.inner_text("[data-total]")


# -- a sales rep sees only their own customers ------------------------------------------------------------------
def test_rep_sees_only_their_customers(browser: Any, base: str, tw: Any) -> None:
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-US")  # a tablet
    page = context.new_page()
    harness.login(page, base, tw.rep, tw.rep_password)
    assert int(re.sub(r"\D", "", page.inner_text('[data-kpi="customers"] .kpi-value'))) == len(tw.rep_customers)
    nav = page.locator("#nav a").evaluate_all("links => links.map(a => a.dataset.page)")
    assert "admin" not in nav and "imports" not in nav
    page.goto(f"{base}/app/#/customers")
    harness.wait_ready(page, "customers")
    assert int(page.get_attribute("[data-total]", "data-total")) == len(tw.rep_customers)
    shown = set(page.locator("tr[data-customer]").evaluate_all("rows => rows.map(r => r.dataset.customer)"))
    assert shown and shown <= tw.rep_customers
    harness.screenshot(page, "12-rep-customers")
    other = _api(page, "/api/customers?limit=1")  # sanity: the API agrees
    assert other["total"] == len(tw.rep_customers)
    outsider = next(c for c in (f"C{i:07d}" for i in range(1, tw.customers + 1)) if c not in tw.rep_customers)
    page.goto(f"{base}/app/#/customers/{outsider}")
    harness.wait_ready(page, "customer")
    assert "not found" in page.inner_text("#view").lower()
    context.close()
