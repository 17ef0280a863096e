import { api, ApiError } from "../api.js";
import { chartBox, draw } from "../charts.js";
import { h } from "../dom.js";
import { fmt, label, locale, t } from "../i18n.js";

const PROFILE_FIELDS = ["customer_id", "type", "industry", "size", "employees", "region", "country", "owner_name",
  "owner_department", "department", "contact_name", "phone", "email", "created_on"];

// Activity tables: which columns to show and how.
const ACTIVITY = {
  orders: [["order_id", "text"], ["order_date", "date"], ["amount", "money"], ["status", "label"], ["channel", "label"]],
  invoices: [["invoice_id", "text"], ["issued_on", "date"], ["due_on", "date"], ["amount", "money"], ["paid_on", "date"], ["paid_amount", "money"]],
  surveys: [["answered_on", "date"], ["dimension", "label"], ["score", "number"], ["scale_max", "number"], ["would_recommend", "number"]],
  tickets: [["ticket_id", "text"], ["opened_at", "date"], ["closed_at", "date"], ["category", "label"], ["severity", "label"]],
  opportunities: [["opportunity_id", "text"], ["created_on", "date"], ["stage", "label"], ["value", "money"]],
  interactions: [["occurred_at", "date"], ["type", "label"], ["channel", "label"], ["duration_seconds", "number"]],
};
const ACTIVITY_TITLES = { orders: "customer.orders", invoices: "customer.payments", surveys: "customer.surveys",
  tickets: "customer.tickets", opportunities: "customer.opportunities", interactions: "customer.interactions" };

function cell(value, kind) {
  if (value === null || value === undefined) return t("common.none");
  if (kind === "date") return fmt.date(value);
  if (kind === "money") return fmt.money(Number(value));
  if (kind === "number") return fmt.number(Number(value), 1);
  if (kind === "label") return label(value);
  return String(value);
}

function kv(rows) {
  return h("dl", { class: "kv" }, rows.filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function explanation(p) {
  const text = locale() === "zh-CN" ? p.explanation_zh : p.explanation_en;
  return text || p.explanation_en || p.explanation_zh || "";
}

export async function render(root, { parts, params }) {
  const id = parts[1];
  let c;
  try {
    c = await api.get(`/api/customers/${encodeURIComponent(id)}`, { snapshot_id: params.get("snapshot") || undefined });
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 404) {
      root.append(h("a", { href: "#/customers" }, t("customer.back")), h("p", { class: "empty" }, t("customer.not_found")));
      return;
    }
    throw exc;
  }
  const p = c.profile || {};
  const r = c.results || {};
  root.append(h("div", { class: "page-head" },
    h("div", {}, h("a", { href: "#/customers" }, t("customer.back")),
      h("h1", { dataset: { customer: c.customer_id } }, p.name || c.customer_id)),
    h("div", { class: "score-badge" },
      r.grade ? h("span", { class: `grade big grade-${r.grade}`, dataset: { grade: r.grade } }, r.grade) : null,
      h("span", { class: "score-number", dataset: { score: r.score ?? "" } }, fmt.decimal(r.score)),
      c.snapshot ? h("span", { class: "muted" }, t("common.as_of", { date: fmt.date(c.snapshot.as_of) })) : null)));

  const profile = h("section", { class: "card" }, h("h3", {}, t("customer.profile")),
    kv(PROFILE_FIELDS.filter((f) => f in p).map((f) => [t(`col.${f}`), f === "created_on" ? fmt.date(p[f]) : label(p[f])])),
    kv([[t("col.rfm_segment"), label(r.rfm_segment)], [t("col.lifecycle_stage"), label(r.lifecycle_stage)],
      [t("col.abc_class"), r.abc_class], [t("col.value_tier"), label(r.value_tier)],
      [t("col.recency_days"), fmt.number(r.recency_days)], [t("col.monetary"), fmt.money(r.monetary)]]));

  const points = c.points || [];
  const weakest = points.filter((x) => x.max_points > 0).map((x) => ({ ...x, share: x.points / x.max_points }))
    .sort((a, b) => a.share - b.share).slice(0, 3);
  const reasons = Array.isArray(r.churn_reasons) ? r.churn_reasons : Array.isArray(c.churn_reasons) ? c.churn_reasons : null;
  const steps = c.recommendations || c.next_steps || r.next_steps || null;
  const risk = h("section", { class: "card", dataset: { section: "risk" } }, h("h3", {}, t("customer.clv_risk")),
    kv([[t("col.clv"), fmt.money(r.clv)], [t("col.p_alive"), fmt.percent(r.p_alive)],
      [t("col.churn_risk"), fmt.percent(r.churn_risk)],
      [t("customer.expected_purchases"), fmt.decimal(r.expected_purchases_12m)],
      [t("customer.expected_spend"), fmt.money(r.expected_spend)]]),
    reasons && reasons.length ? [h("h4", {}, t("customer.reasons")),
      h("ul", { class: "reasons" }, reasons.map((x) => h("li", {}, typeof x === "string" ? x : (locale() === "zh-CN" ? x.reason_zh || x.reason : x.reason_en || x.reason) || JSON.stringify(x))))] : null,
    weakest.length ? [h("h4", {}, t("customer.weakest")),
      h("ul", { class: "weakest" }, weakest.map((x) => h("li", {}, explanation(x))))] : null,
    steps && steps.length ? [h("h4", {}, t("customer.next_steps")),
      h("ol", { class: "next-steps" }, steps.map((x) => h("li", {}, typeof x === "string" ? x : (locale() === "zh-CN" ? x.text_zh || x.text : x.text_en || x.text) || x.action || JSON.stringify(x))))] : null);

  root.append(h("div", { class: "grid-3" }, profile, chartBox("dimensions", t("chart.dimensions")), risk));

  // The explanation: every criterion's points, grouped by dimension.
  const byDim = new Map();
  for (const x of points) {
    if (!byDim.has(x.dimension)) byDim.set(x.dimension, []);
    byDim.get(x.dimension).push(x);
  }
  const explain = h("section", { class: "card", dataset: { section: "explanation" } }, h("h3", {}, t("customer.explanation")),
    points.length ? h("table", { class: "data explanation" },
      h("thead", {}, h("tr", {}, h("th", {}, t("customer.dimension")), h("th", {}, t("customer.criterion")),
        h("th", {}, t("customer.value")), h("th", { class: "num" }, t("customer.points")), h("th", {}, t("customer.explanation")))),
      [...byDim.entries()].map(([dim, rows]) => {
        const sum = rows.reduce((s, x) => s + (x.points || 0), 0);
        const max = rows.reduce((s, x) => s + (x.max_points || 0), 0);
        return h("tbody", { dataset: { dimension: dim } },
          h("tr", { class: "dim-row" }, h("th", { colspan: 3 }, label(dim)),
            h("th", { class: "num" }, `${fmt.decimal(sum)} ${t("customer.of")} ${fmt.decimal(max)}`), h("th", {})),
          rows.map((x) => h("tr", {}, h("td", {}), h("td", {}, x.criterion),
            h("td", {}, x.value ?? (typeof x.value_num === "number" ? fmt.number(x.value_num, 2) : t("common.none"))),
            h("td", { class: "num" }, `${fmt.decimal(x.points)} ${t("customer.of")} ${fmt.decimal(x.max_points)}`),
            h("td", { class: "explain-text" }, explanation(x)))));
      })) : h("p", { class: "empty" }, t("common.no_data")));
  root.append(h("div", { class: "grid-2" }, explain, chartBox("history", t("chart.history"))));

  const activity = c.activity || {};
  const sections = Object.entries(ACTIVITY).filter(([name]) => activity[name]).map(([name, cols]) => {
    const a = activity[name];
    return h("section", { class: "card", dataset: { activity: name } },
      h("h3", {}, t(ACTIVITY_TITLES[name]), " ", h("span", { class: "muted" }, t("customer.total", { count: fmt.number(a.count) }))),
      a.items.length ? h("div", { class: "table-scroll short" }, h("table", { class: "data" },
        h("thead", {}, h("tr", {}, cols.map(([col]) => h("th", {}, col.replace(/_/g, " "))))),
        h("tbody", {}, a.items.slice(0, 20).map((row) => h("tr", {}, cols.map(([col, kind]) => h("td", {}, cell(row[col], kind))))))))
        : h("p", { class: "empty" }, t("common.no_data")));
  });
  root.append(h("div", { class: "grid-2" }, sections));

  // Dimension scores: the snapshot's score_<dimension> columns (0-100 each).
  const dims = Object.keys(r).filter((k) => k.startsWith("score_") && typeof r[k] === "number");
  draw(root, "dimensions", {
    tooltip: {}, grid: { left: 90, right: 30, top: 10, bottom: 20 },
    xAxis: { type: "value", min: 0, max: 100 },
    yAxis: { type: "category", data: dims.map((k) => label(k.slice(6))), inverse: true },
    series: [{ type: "bar", data: dims.map((k) => r[k]), label: { show: true, position: "right", formatter: (x) => fmt.decimal(x.value) } }],
  });
  const history = c.history || [];
  draw(root, "history", {
    tooltip: { trigger: "axis" }, grid: { left: 40, right: 20, top: 20, bottom: 30 },
    xAxis: { type: "category", data: history.map((x) => fmt.date(x.as_of)) },
    yAxis: { type: "value", min: 0, max: 100 },
    series: [{ type: "line", name: t("customer.score"), data: history.map((x) => x.score), symbolSize: 9,
      label: { show: true, formatter: (x) => history[x.dataIndex].grade || "" } }],
  });
}
