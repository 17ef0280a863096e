import { api, missingRoute } from "../api.js";
import { can } from "../app.js";
import { chartBox, draw } from "../charts.js";
import { h } from "../dom.js";
import { fmt, label, t } from "../i18n.js";

const LIFECYCLE_ORDER = ["prospect", "new", "repeat", "loyal", "at_risk", "churned"];

function change(now, before, kind) {
  if (typeof now !== "number" || typeof before !== "number") return null;
  if (kind === "points") return fmt.signed(now - before);
  if (before === 0) return null;
  return fmt.signedPercent(now / before - 1);
}

// KPIs where a rise is bad: their change is shown in red when it goes up.
const UP_IS_BAD = new Set(["at_risk", "churn_rate"]);

function card(key, value, delta, hasPrev, name) {
  const falling = delta !== null && (delta.startsWith("-") || delta.startsWith("−"));
  const cls = delta === null ? "" : falling !== UP_IS_BAD.has(name) ? "down" : "up";
  return h("div", { class: "card kpi", dataset: { kpi: name } },
    h("div", { class: "kpi-label" }, t(key)),
    h("div", { class: "kpi-value" }, value),
    h("div", { class: `kpi-change ${cls}` },
      hasPrev ? (delta === null ? t("common.none") : t("kpi.vs_prev", { change: delta })) : t("kpi.no_prev")));
}

async function periodKpis() {
  try {
    return await api.get("/api/kpis/periods", { freq: "quarter" });
  } catch (exc) {
    if (missingRoute(exc)) return null;
    throw exc;
  }
}

export async function render(root) {
  const snapshots = can("view_snapshots") ? await api.get("/api/snapshots") : [];
  const latest = snapshots.at(-1);
  const previous = snapshots.at(-2);
  const [now, before, history, periods] = await Promise.all([
    api.get("/api/kpis"),
    previous ? api.get("/api/kpis", { snapshot_id: previous.snapshot_id }) : null,
    can("view_snapshots") ? api.get("/api/snapshots/history") : [],
    periodKpis(),
  ]);
  const k = now.kpis || {};
  const p = (before && before.kpis) || {};
  root.append(h("div", { class: "page-head" },
    h("h1", {}, t("overview.title")),
    now.snapshot ? h("span", { class: "muted", dataset: { snapshot: now.snapshot.snapshot_id } },
      `${t("common.snapshot")} ${now.snapshot.snapshot_id} · ${t("common.as_of", { date: fmt.date(now.snapshot.as_of) })}`) : null));
  if (!now.snapshot) {
    root.append(h("p", { class: "empty" }, t("overview.no_snapshot")));
  }
  const lastPeriod = periods && periods.items && periods.items.length ? periods.items.at(-1) : null;
  const prevPeriod = periods && periods.items && periods.items.length > 1 ? periods.items.at(-2) : null;
  const hasPrev = Boolean(before);
  const cards = [
    card("kpi.customers", fmt.number(k.customers), change(k.customers, p.customers), hasPrev, "customers"),
    card("kpi.avg_score", fmt.decimal(k.avg_score), change(k.avg_score, p.avg_score, "points"), hasPrev, "avg_score"),
    card("kpi.revenue_365d", fmt.money(k.total_monetary_365d, true),
      change(k.total_monetary_365d, p.total_monetary_365d), hasPrev, "revenue"),
    card("kpi.clv", fmt.money(k.total_clv, true), change(k.total_clv, p.total_clv), hasPrev, "clv"),
    card("kpi.at_risk", fmt.number(k.at_risk), change(k.at_risk, p.at_risk), hasPrev, "at_risk"),
  ];
  if (lastPeriod) {
    const pp = prevPeriod || {};
    cards.push(
      card("kpi.active", fmt.number(lastPeriod.active_customers),
        change(lastPeriod.active_customers, pp.active_customers), Boolean(prevPeriod), "active"),
      card("kpi.churn_rate", fmt.percent(lastPeriod.churn_rate),
        change(lastPeriod.churn_rate * 100, pp.churn_rate * 100, "points"), Boolean(prevPeriod), "churn_rate"),
      card("kpi.csat", fmt.decimal(lastPeriod.avg_csat), change(lastPeriod.avg_csat, pp.avg_csat, "points"),
        Boolean(prevPeriod), "csat"),
      card("kpi.nps", fmt.decimal(lastPeriod.nps), change(lastPeriod.nps, pp.nps, "points"), Boolean(prevPeriod), "nps"));
  }
  root.append(h("div", { class: "kpi-grid" }, cards));

  const d = now.distributions || {};
  root.append(h("div", { class: "chart-grid" },
    chartBox("grades", t("chart.grades")),
    chartBox("segments", t("chart.segments")),
    chartBox("pareto", t("chart.pareto")),
    chartBox("funnel", t("chart.funnel")),
    h("div", { class: "wide" }, chartBox("trend", t("chart.trend")))));

  const grades = d.grade || [];
  draw(root, "grades", {
    tooltip: {}, grid: { left: 40, right: 16, top: 16, bottom: 30 },
    xAxis: { type: "category", data: grades.map((r) => r.value) },
    yAxis: { type: "value" },
    series: [{ type: "bar", name: t("common.count"), data: grades.map((r) => r.count), label: { show: true, position: "top" } }],
  });
  const segments = d.rfm_segment || [];
  draw(root, "segments", {
    tooltip: { formatter: (x) => `${x.name}: ${fmt.number(x.value)}` },
    series: [{ type: "treemap", roam: false, nodeClick: false, breadcrumb: { show: false },
      data: segments.map((r) => ({ name: label(r.value), value: r.count, id: r.value })) }],
  });
  // The Pareto (Lorenz) curve by ABC class: cumulative share of customers vs cumulative share of value.
  let abc = [];
  if (latest) abc = (await api.get(`/api/snapshots/${encodeURIComponent(latest.snapshot_id)}/distribution`, { by: "abc_class" })).classes;
  abc = abc.filter((r) => r.value && r.value !== "None").sort((a, b) => a.value.localeCompare(b.value));
  const nTotal = abc.reduce((s, r) => s + r.count, 0);
  const vTotal = abc.reduce((s, r) => s + (r.total_monetary || 0), 0);
  let cn = 0, cv = 0;
  const curve = [[0, 0]];
  for (const r of abc) {
    cn += r.count; cv += r.total_monetary || 0;
    curve.push([nTotal ? cn / nTotal : 0, vTotal ? cv / vTotal : 0]);
  }
  draw(root, "pareto", {
    tooltip: { trigger: "axis", valueFormatter: (v) => fmt.percent(v) },
    grid: { left: 50, right: 16, top: 16, bottom: 40 },
    xAxis: { type: "value", min: 0, max: 1, name: t("chart.customers_share"), nameLocation: "middle", nameGap: 26,
      axisLabel: { formatter: (v) => fmt.percent(v, 0) } },
    yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => fmt.percent(v, 0) } },
    series: [{ type: "line", name: t("chart.cum_share"), data: nTotal ? curve : [], areaStyle: { opacity: 0.15 },
      label: { show: true, formatter: (x) => (x.dataIndex ? abc[x.dataIndex - 1].value : "") } }],
  });
  const lifecycle = [...(d.lifecycle_stage || [])].sort((a, b) =>
    (LIFECYCLE_ORDER.indexOf(a.value) + 99) % 99 - (LIFECYCLE_ORDER.indexOf(b.value) + 99) % 99);
  draw(root, "funnel", {
    tooltip: { formatter: (x) => `${x.name}: ${fmt.number(x.value)}` },
    series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "10%",
      label: { formatter: (x) => `${x.name} ${fmt.number(x.value)}` },
      data: lifecycle.map((r) => ({ name: label(r.value), value: r.count })) }],
  });
  draw(root, "trend", {
    tooltip: { trigger: "axis" }, legend: { top: 0 },
    grid: { left: 50, right: 50, top: 30, bottom: 30 },
    xAxis: { type: "category", data: history.map((r) => fmt.date(r.as_of)) },
    yAxis: [{ type: "value", name: t("chart.avg_score"), min: 0, max: 100 }, { type: "value", name: t("chart.total_clv") }],
    series: [
      { type: "line", name: t("chart.avg_score"), data: history.map((r) => r.avg_score), symbolSize: 8 },
      { type: "bar", name: t("chart.total_clv"), yAxisIndex: 1, data: history.map((r) => r.total_clv ?? null), barMaxWidth: 40 },
    ],
  });
}
