import { api, missingRoute } from "../api.js";
import { can, errorBox } from "../app.js";
import { chartBox, draw } from "../charts.js";
import { clear, h, toast } from "../dom.js";
import { fmt, label, locale, t } from "../i18n.js";

function dimLabel(d) { return (locale() === "zh-CN" ? d.label_zh : d.label_en) || label(d.name); }

export async function render(root) {
  const [current, versions] = await Promise.all([api.get("/api/scorecards/current"), api.get("/api/scorecards")]);
  let spec = structuredClone(current.spec);
  let mode = "form";
  const mayDraft = can("draft_scorecards");
  const mayPublish = can("configure_scoring");
  const result = h("div", { class: "result", dataset: { section: "result" } });
  const editor = h("div");
  const yaml = h("textarea", { class: "yaml", name: "spec_yaml", spellcheck: false });
  yaml.value = current.spec_yaml;

  const body = () => (mode === "yaml" ? { spec_yaml: yaml.value } : { spec });

  function formView() {
    const rows = [];
    spec.dimensions.forEach((d, i) => {
      rows.push(h("tr", { class: "dim-head" },
        h("td", {}, dimLabel(d)), h("td", {}),
        h("td", {}, h("input", { type: "number", min: 0, step: 1, value: d.weight, disabled: !mayDraft,
          dataset: { weight: d.name }, "aria-label": `${t("scorecard.weight")} ${d.name}`,
          oninput: (e) => { spec.dimensions[i].weight = Number(e.target.value); } }))));
      d.criteria.forEach((c, j) => rows.push(h("tr", {},
        h("td", {}), h("td", {}, (locale() === "zh-CN" ? c.label_zh : c.label_en) || c.name,
          h("div", { class: "muted" }, c.metric || c.expression || "")),
        h("td", {}, h("input", { type: "number", min: 0, step: 0.5, value: c.weight ?? 1, disabled: !mayDraft,
          dataset: { weight: `${d.name}.${c.name}` }, "aria-label": `${t("scorecard.weight")} ${d.name}.${c.name}`,
          oninput: (e) => { spec.dimensions[i].criteria[j].weight = Number(e.target.value); } })))));
    });
    return h("table", { class: "data weights" },
      h("thead", {}, h("tr", {}, h("th", {}, t("scorecard.dimension")), h("th", {}, t("scorecard.criterion")), h("th", {}, t("scorecard.weight")))),
      h("tbody", {}, rows));
  }

  function show() {
    clear(editor, mode === "form" ? formView() : yaml);
    for (const b of tabs.querySelectorAll("button")) b.classList.toggle("active", b.dataset.tab === mode);
  }
  const tabs = h("div", { class: "tabs" },
    h("button", { type: "button", dataset: { tab: "form" }, onclick: () => { mode = "form"; show(); } }, t("scorecard.form")),
    h("button", { type: "button", dataset: { tab: "yaml" }, onclick: () => {
      mode = "yaml"; show();
    } }, t("scorecard.yaml")));

  async function act(kind) {
    clear(result, h("p", { class: "muted" }, t("common.loading")));
    try {
      if (kind === "validate") {
        const r = await api.post("/api/scorecards/validate", body());
        clear(result, h("div", { class: "ok-box", dataset: { valid: "true" } }, t("scorecard.valid"), ` (${r.dimensions} / ${r.criteria})`));
      } else if (kind === "preview") {
        showPreview(await api.post("/api/scorecards/preview", body()));
      } else {
        const r = await api.post("/api/scorecards/publish", body());
        clear(result, h("div", { class: "ok-box", dataset: { published: String(r.version) } }, t("scorecard.published", { version: r.version })));
        toast(t("scorecard.published", { version: r.version }));
      }
    } catch (exc) {
      clear(result, missingRoute(exc) ? h("p", { class: "error-box" }, t("common.not_available", { route: `/api/scorecards/${kind}` })) : errorBox(exc));
    }
  }

  function showPreview(p) {
    const grades = [...new Set(p.grades.flatMap((g) => [g.old, g.new]))].filter((g) => g !== "(none)").sort();
    const count = (side, g) => p.grades.filter((x) => x[side] === g).reduce((s, x) => s + x.count, 0);
    clear(result, h("div", { class: "card", dataset: { preview: "true" } },
      h("h3", {}, t("scorecard.preview_title")),
      h("dl", { class: "kv" },
        h("dt", {}, t("scorecard.changed")), h("dd", { dataset: { changed: p.changed } }, `${fmt.number(p.changed)} / ${fmt.number(p.customers)}`),
        h("dt", {}, t("scorecard.mean_score")), h("dd", {}, `${fmt.decimal(p.mean_score_now)} → ${fmt.decimal(p.mean_score_after)}`)),
      h("div", { class: "chart", dataset: { chart: "preview" } }),
      p.movers.length ? h("table", { class: "data" }, h("tbody", {}, p.movers.map((m) => h("tr", {},
        h("td", {}, h("a", { href: `#/customers/${encodeURIComponent(m.customer_id)}` }, m.customer_id)),
        h("td", {}, `${m.old_grade ?? "—"} → ${m.new_grade ?? "—"}`),
        h("td", { class: "num" }, `${fmt.decimal(m.old_score)} → ${fmt.decimal(m.new_score)}`))))) : null));
    draw(result, "preview", {
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 40, right: 10, top: 30, bottom: 25 },
      xAxis: { type: "category", data: grades }, yAxis: { type: "value" },
      series: [{ type: "bar", name: t("scorecard.grade_now"), data: grades.map((g) => count("old", g)) },
        { type: "bar", name: t("scorecard.grade_after"), data: grades.map((g) => count("new", g)) }],
    });
  }

  const actions = h("div", { class: "actions" },
    mayDraft ? [h("button", { type: "button", dataset: { action: "validate" }, onclick: () => act("validate") }, t("scorecard.validate")),
      h("button", { type: "button", dataset: { action: "preview" }, onclick: () => act("preview") }, t("scorecard.preview"))] : null,
    mayPublish ? h("button", { type: "button", class: "primary", dataset: { action: "publish" }, onclick: () => act("publish") }, t("scorecard.publish")) : null);

  root.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, t("scorecard.title")),
      h("span", { class: "muted" }, `${current.name}${current.version ? " v" + current.version : ""}`)), actions),
    ...(mayPublish ? [] : [h("p", { class: "muted" }, t("scorecard.readonly"))]),
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h3", {}, t("scorecard.editor")), tabs, editor),
      h("div", {}, result,
        h("section", { class: "card" }, h("h3", {}, t("scorecard.versions")),
          versions.length ? h("table", { class: "data versions" }, h("tbody", {}, versions.map((v) => h("tr", {},
            h("td", {}, `${v.name} v${v.version}`), h("td", {}, v.is_default ? "★" : ""),
            h("td", {}, v.published_by ?? ""), h("td", {}, fmt.datetime(v.published_at)))))) : h("p", { class: "empty" }, t("common.no_data"))))));
  show();
}
