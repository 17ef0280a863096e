import { api, query } from "../api.js";
import { can, errorBox, go } from "../app.js";
import { clear, h } from "../dom.js";
import { fmt, label, t } from "../i18n.js";

const PAGE_SIZE = 25;
const FILTERS = [["grade", "grade"], ["segment", "rfm_segment"], ["lifecycle", "lifecycle_stage"], ["abc", "abc_class"]];
const TEXT_FILTERS = ["q", "owner", "department", "risk_min", "risk_max"];

const COLUMNS = [
  ["name", (r) => h("a", { href: `#/customers/${encodeURIComponent(r.customer_id)}`, class: "customer-link" }, r.name || r.customer_id)],
  ["grade", (r) => r.grade ? h("span", { class: `grade grade-${r.grade}` }, r.grade) : t("common.none")],
  ["score", (r) => fmt.decimal(r.score)],
  ["rfm_segment", (r) => label(r.rfm_segment)],
  ["lifecycle_stage", (r) => label(r.lifecycle_stage)],
  ["abc_class", (r) => r.abc_class ?? t("common.none")],
  ["owner_name", (r) => r.owner_name ?? r.owner_id ?? t("common.none")],
  ["monetary", (r) => fmt.money(r.monetary)],
  ["clv", (r) => fmt.money(r.clv)],
  ["churn_risk", (r) => fmt.percent(r.churn_risk)],
  ["p_alive", (r) => fmt.percent(r.p_alive)],
];

function stateFrom(params) {
  const state = { offset: Number(params.get("offset") || 0), sort: params.get("sort") || "-score" };
  for (const [name] of FILTERS) state[name] = params.get(name) || "";
  for (const name of TEXT_FILTERS) state[name] = params.get(name) || "";
  return state;
}

function apiParams(state) {
  const out = { sort: state.sort };
  for (const [name] of FILTERS) if (state[name]) out[name] = state[name];
  for (const name of TEXT_FILTERS) if (state[name]) out[name] = state[name];
  return out;
}

export async function render(root, { params }) {
  const state = stateFrom(params);
  const kpis = await api.get("/api/kpis");
  const dists = kpis.distributions || {};
  const hasRisk = "avg_churn_risk" in (kpis.kpis || {});
  const columns = COLUMNS.filter(([name]) => name !== (hasRisk ? "p_alive" : "churn_risk"));
  const update = (changes) => go("customers", Object.fromEntries(Object.entries({ ...apiParams(state), offset: 0, ...changes })
    .filter(([, v]) => v !== "" && v !== null && v !== undefined && !(v === 0))));

  const controls = {};
  const selects = FILTERS.filter(([, column]) => dists[column]).map(([name, column]) => {
    const sel = h("select", { name, "aria-label": t(`filter.${name}`) },
      h("option", { value: "" }, `${t(`filter.${name}`)}: ${t("common.all")}`),
      dists[column].filter((r) => r.value !== null).map((r) =>
        h("option", { value: r.value, selected: r.value === state[name] }, `${label(r.value)} (${fmt.number(r.count)})`)));
    controls[name] = sel;
    return sel;
  });
  const text = (name, placeholder, type = "text", extra = {}) => {
    const input = h("input", { name, type, placeholder, value: state[name], "aria-label": placeholder, ...extra });
    controls[name] = input;
    return input;
  };
  const form = h("form", { class: "filters card", onsubmit: (event) => {
    event.preventDefault();
    const changes = {};
    for (const [name, el] of Object.entries(controls)) changes[name] = el.value.trim();
    update(changes);
  } },
  text("q", t("customers.search"), "search"),
  selects,
  text("owner", t("customers.owner")),
  text("department", t("customers.department")),
  hasRisk ? [text("risk_min", t("customers.risk_min"), "number", { min: 0, max: 1, step: 0.05 }),
    text("risk_max", t("customers.risk_max"), "number", { min: 0, max: 1, step: 0.05 })] : null,
  h("button", { type: "submit", class: "primary" }, t("common.apply")),
  h("button", { type: "button", onclick: () => go("customers") }, t("common.reset")));
  for (const el of selects) el.addEventListener("change", () => form.requestSubmit());

  const head = h("div", { class: "page-head" }, h("h1", {}, t("customers.title")));
  if (can("export")) {
    const exportParams = apiParams(state);
    head.append(h("div", { class: "actions" },
      h("a", { class: "button", href: "/api/exports/customers" + query({ ...exportParams, format: "csv" }), download: "", dataset: { export: "csv" } }, t("customers.export_csv")),
      h("a", { class: "button", href: "/api/exports/customers" + query({ ...exportParams, format: "xlsx" }), download: "", dataset: { export: "xlsx" } }, t("customers.export_xlsx"))));
  }
  const tableBox = h("div", { class: "card table-card" });
  root.append(head, form, tableBox);

  let page;
  try {
    page = await api.get("/api/customers", { ...apiParams(state), limit: PAGE_SIZE, offset: state.offset });
  } catch (exc) {
    clear(tableBox, errorBox(exc));
    return;
  }
  const sortName = state.sort.replace(/^-/, "");
  const desc = state.sort.startsWith("-");
  const thead = h("thead", {}, h("tr", {}, columns.map(([name]) => {
    const active = sortName === name;
    return h("th", { class: active ? "sorted" : "", "aria-sort": active ? (desc ? "descending" : "ascending") : "none" },
      h("button", { type: "button", class: "link", dataset: { sort: name },
        onclick: () => update({ sort: active && !desc ? `-${name}` : name }) },
      t(`col.${name}`), active ? (desc ? " ▼" : " ▲") : ""));
  })));
  const tbody = h("tbody", {}, page.items.map((r) =>
    h("tr", { dataset: { customer: r.customer_id } }, columns.map(([name, cell]) => h("td", { class: `col-${name}` }, cell(r))))));
  const from = page.total ? page.offset + 1 : 0;
  const to = page.offset + page.items.length;
  const pager = h("div", { class: "pager" },
    h("span", { class: "muted", dataset: { total: page.total } }, t("common.page", { from: fmt.number(from), to: fmt.number(to), total: fmt.number(page.total) })),
    h("button", { type: "button", disabled: page.offset === 0, onclick: () => update({ offset: Math.max(0, page.offset - PAGE_SIZE) }) }, t("common.prev")),
    h("button", { type: "button", disabled: to >= page.total, dataset: { next: "" }, onclick: () => update({ offset: page.offset + PAGE_SIZE }) }, t("common.next")));
  clear(tableBox,
    page.items.length ? h("div", { class: "table-scroll" }, h("table", { class: "data customers" }, thead, tbody)) : h("p", { class: "empty" }, t("customers.empty")),
    pager);
}
