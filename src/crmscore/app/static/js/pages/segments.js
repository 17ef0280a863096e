import { api } from "../api.js";
import { go } from "../app.js";
import { chartBox, draw } from "../charts.js";
import { h } from "../dom.js";
import { fmt, label, locale, t } from "../i18n.js";

const BY = ["grade", "rfm_segment", "lifecycle_stage", "abc_class"];

export async function render(root, { params }) {
  const snapshots = await api.get("/api/snapshots");
  const by = BY.includes(params.get("by")) ? params.get("by") : "rfm_segment";
  const ids = snapshots.map((s) => s.snapshot_id);
  const b = ids.includes(params.get("b")) ? params.get("b") : ids.at(-1);
  const a = ids.includes(params.get("a")) ? params.get("a") : ids.at(-2);
  const choose = (changes) => go("segments", { by, ...(a ? { a } : {}), ...(b ? { b } : {}), ...changes });
  const snapOptions = (selected) => snapshots.map((s) =>
    h("option", { value: s.snapshot_id, selected: s.snapshot_id === selected }, `${fmt.date(s.as_of)} · ${s.snapshot_id}`));
  root.append(h("div", { class: "page-head" }, h("h1", {}, t("segments.title"))),
    h("div", { class: "filters card" },
      h("label", {}, t("segments.by"), " ", h("select", { name: "by", onchange: (e) => choose({ by: e.target.value }) },
        BY.map((x) => h("option", { value: x, selected: x === by }, t(`by.${x}`))))),
      h("label", {}, t("segments.from"), " ", h("select", { name: "a", onchange: (e) => choose({ a: e.target.value }) }, snapOptions(a))),
      h("label", {}, t("segments.to"), " ", h("select", { name: "b", onchange: (e) => choose({ b: e.target.value }) }, snapOptions(b)))));
  if (!b) { root.append(h("p", { class: "empty" }, t("overview.no_snapshot"))); return; }

  const dist = await api.get(`/api/snapshots/${encodeURIComponent(b)}/distribution`, { by });
  const classes = dist.classes;
  root.append(h("div", { class: "chart-grid" },
    chartBox("sizes", t("chart.size_by_segment")), chartBox("values", t("chart.value_by_segment"))));
  const names = classes.map((r) => label(r.value));
  const bar = (name, values, money) => draw(root, name, {
    tooltip: { valueFormatter: (v) => (money ? fmt.money(v) : fmt.number(v)) },
    grid: { left: 130, right: 40, top: 10, bottom: 20 },
    xAxis: { type: "value", axisLabel: { formatter: (v) => (money ? fmt.money(v, true) : fmt.number(v)) } },
    yAxis: { type: "category", data: names, inverse: true },
    series: [{ type: "bar", data: values }],
  });
  bar("sizes", classes.map((r) => r.count), false);
  bar("values", classes.map((r) => r.total_clv ?? r.total_monetary ?? 0), true);

  if (!a || a === b) {
    root.append(h("p", { class: "empty" }, t("segments.need_two")));
    return;
  }
  const m = await api.get("/api/snapshots/migration", { a, b, by });
  root.append(h("div", { class: "wide" }, chartBox("migration", `${t("chart.migration")}: ${fmt.date(snapshots.find((s) => s.snapshot_id === a).as_of)} → ${fmt.date(snapshots.find((s) => s.snapshot_id === b).as_of)}`)));
  // Sankey needs distinct node names on both sides: suffix the 'to' side.
  const links = [];
  m.counts.forEach((row, i) => row.forEach((n, j) => {
    if (n > 0) links.push({ source: `${label(m.classes_a[i])} ①`, target: `${label(m.classes_b[j])} ②`, value: n });
  }));
  const nodes = [...m.classes_a.map((x) => ({ name: `${label(x)} ①` })), ...m.classes_b.map((x) => ({ name: `${label(x)} ②` }))];
  draw(root, "migration", {
    tooltip: { trigger: "item" },
    series: [{ type: "sankey", data: nodes, links, emphasis: { focus: "adjacency" }, nodeGap: 8,
      lineStyle: { color: "gradient", opacity: 0.35 }, label: { fontSize: 11 } }],
  });
  const matrix = h("section", { class: "card", dataset: { section: "matrix" } }, h("h3", {}, t("segments.matrix")),
    h("div", { class: "table-scroll" }, h("table", { class: "data matrix" },
      h("thead", {}, h("tr", {}, h("th", {}), m.classes_b.map((x) => h("th", {}, label(x))))),
      h("tbody", {}, m.counts.map((row, i) => h("tr", {}, h("th", {}, label(m.classes_a[i])),
        row.map((n, j) => h("td", { class: i === j && m.classes_a[i] === m.classes_b[j] ? "num diag" : "num" }, fmt.number(n)))))))));
  const movers = (m.movers || []).slice(0, 15);
  const moverBox = h("section", { class: "card" }, h("h3", {}, t("segments.movers")),
    movers.length ? h("table", { class: "data" }, h("tbody", {}, movers.map((x) => h("tr", {},
      h("td", {}, h("a", { href: `#/customers/${encodeURIComponent(x.customer_id)}` }, x.name || x.customer_id)),
      h("td", {}, label(x.kind)),
      h("td", {}, `${label(x.from)} → ${label(x.to)}`))))) : h("p", { class: "empty" }, t("common.no_data")),
    (m.alerts || []).length ? [h("h4", {}, t("segments.alerts")), h("ul", {}, m.alerts.map((x) => h("li", { class: `alert-${x.level}` }, (locale() === "zh-CN" ? x.message_zh : x.message_en) || x.kind)))] : null);
  root.append(h("div", { class: "grid-2" }, matrix, moverBox));
}
