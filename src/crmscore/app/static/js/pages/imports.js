import { api } from "../api.js";
import { can, errorBox } from "../app.js";
import { clear, h, toast } from "../dom.js";
import { fmt, t } from "../i18n.js";

const KINDS = ["customers", "orders", "order-lines", "invoices", "surveys", "tickets", "interactions", "opportunities",
  "owners", "products"];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitForJob(id, onProgress) {
  for (;;) {
    const job = await api.get(`/api/jobs/${id}`);
    if (onProgress) onProgress(job);
    if (job.status === "succeeded" || job.status === "failed") return job;
    await sleep(700);
  }
}

function progressBox(job) {
  return h("div", { class: "job", dataset: { job: job.id, status: job.status } },
    h("span", { class: `status-${job.status}` }, t(`job.${job.status}`) || job.status), " ",
    h("div", { class: "progress" }, h("div", { style: { width: `${Math.round((job.progress || 0) * 100)}%` } })));
}

// The mapping as YAML: JSON strings are valid YAML scalars, so any header text is quoted safely.
function mappingYaml(kind, columns) {
  const lines = [`kind: ${JSON.stringify(kind)}`, "columns:"];
  for (const [field, header] of Object.entries(columns)) lines.push(`  ${JSON.stringify(field)}: ${JSON.stringify(header)}`);
  return lines.join("\n") + "\n";
}

function reportView(job) {
  const result = job.result || {};
  const report = result.report || result;
  const counts = ["read", "inserted", "updated", "unchanged", "rejected"];
  return h("section", { class: "card", dataset: { section: "report", status: report.status || job.status } },
    h("h3", {}, t("imports.report"), " ", h("span", { class: `status-${job.status}` }, t(`job.${job.status}`))),
    job.status === "failed" ? h("div", { class: "error-box" }, job.error || result.message || "", result.hint ? h("div", { class: "hint" }, result.hint) : null) : null,
    h("dl", { class: "kv" }, counts.filter((k) => k in report).map((k) => [h("dt", {}, t(`imports.${k}`)), h("dd", { dataset: { count: k } }, fmt.number(report[k]))])),
    (report.rejections || []).length ? h("div", { class: "table-scroll short" }, h("table", { class: "data rejections" },
      h("thead", {}, h("tr", {}, ["line", "column", "value", "reason"].map((k) => h("th", {}, t(`imports.${k}`))))),
      h("tbody", {}, report.rejections.map((r) => h("tr", {}, h("td", {}, r.line), h("td", {}, r.source_column || r.column || ""),
        h("td", {}, r.value ?? ""), h("td", {}, r.reason)))))) : null,
    report.quarantine_path ? h("a", { class: "button", href: `/api/imports/${job.id}/quarantine`, download: "", dataset: { quarantine: "" } }, t("imports.quarantine")) : null);
}

function jobsTable(jobs) {
  return h("section", { class: "card", dataset: { section: "jobs" } }, h("h3", {}, t("imports.jobs")),
    jobs.length ? h("div", { class: "table-scroll short" }, h("table", { class: "data" }, h("tbody", {}, jobs.map((j) => h("tr", {},
      h("td", {}, `#${j.id}`), h("td", {}, j.kind), h("td", {}, (j.params && (j.params.file || j.params.as_of || j.params.kind)) || ""),
      h("td", { class: `status-${j.status}` }, t(`job.${j.status}`)), h("td", {}, j.created_by ?? ""), h("td", {}, fmt.datetime(j.started_at))))))) : h("p", { class: "empty" }, t("common.no_data")));
}

function importSection() {
  const kind = h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k }, k)));
  const file = h("input", { type: "file", name: "file", accept: ".csv,.tsv,.txt,.xlsx,.parquet,.jsonl,.json" });
  const dry = h("input", { type: "checkbox", name: "dry_run" });
  const partial = h("input", { type: "checkbox", name: "allow_partial" });
  const mappingBox = h("div", { dataset: { section: "mapping" } });
  const out = h("div");
  let preview = null;
  const selects = {};

  async function analyse() {
    clear(out);
    clear(mappingBox, h("p", { class: "muted" }, t("common.loading")));
    if (!file.files.length) return;
    const form = new FormData();
    form.append("kind", kind.value);
    form.append("file", file.files[0]);
    try {
      preview = await api.upload("/api/imports/preview", form);
    } catch (exc) { clear(mappingBox, errorBox(exc)); return; }
    for (const key of Object.keys(selects)) delete selects[key];
    const rows = preview.fields.map((f) => {
      const sel = h("select", { name: `map-${f.name}`, dataset: { field: f.name } },
        h("option", { value: "" }, t("imports.unmapped")),
        preview.headers.map((hd) => h("option", { value: hd, selected: preview.mapping[f.name] === hd }, hd)));
      selects[f.name] = sel;
      return h("tr", { class: f.required ? "required" : "" },
        h("td", {}, f.name, f.required ? h("span", { class: "muted" }, ` (${t("imports.required")})`) : null), h("td", {}, sel));
    });
    clear(mappingBox,
      h("h3", {}, t("imports.mapping"), " ", h("span", { class: "muted" }, `${preview.format}${preview.encoding ? " · " + preview.encoding : ""} · ${fmt.number(preview.rows)}`)),
      h("div", { class: "grid-2" },
        h("table", { class: "data mapping" }, h("thead", {}, h("tr", {}, h("th", {}, t("imports.target")), h("th", {}, t("imports.source")))), h("tbody", {}, rows)),
        h("div", { class: "table-scroll" }, h("h4", {}, t("imports.preview")), h("table", { class: "data sample" },
          h("thead", {}, h("tr", {}, preview.headers.map((hd) => h("th", {}, hd)))),
          h("tbody", {}, preview.sample.map((r) => h("tr", {}, r.map((v) => h("td", {}, v ?? "")))))))),
      h("div", { class: "filters" },
        h("label", {}, dry, t("imports.dry_run")), h("label", {}, partial, t("imports.partial")),
        h("button", { type: "button", class: "primary", dataset: { action: "import" }, onclick: run }, t("imports.run"))));
  }

  async function run() {
    const columns = {};
    for (const [field, sel] of Object.entries(selects)) if (sel.value) columns[field] = sel.value;
    const form = new FormData();
    form.append("kind", kind.value);
    form.append("file", file.files[0]);
    form.append("mapping", new Blob([mappingYaml(kind.value, columns)], { type: "application/x-yaml" }), "mapping.yaml");
    form.append("dry_run", dry.checked ? "true" : "false");
    form.append("allow_partial", partial.checked ? "true" : "false");
    try {
      const job = await api.upload("/api/imports", form);
      const done = await waitForJob(job.id, (j) => clear(out, progressBox(j)));
      clear(out, reportView(done));
    } catch (exc) { clear(out, errorBox(exc)); }
  }

  return h("section", { class: "card", dataset: { section: "import" } },
    h("h3", {}, t("imports.title")),
    h("div", { class: "filters" },
      h("label", {}, t("imports.kind"), " ", kind), h("label", {}, t("imports.file"), " ", file),
      h("button", { type: "button", dataset: { action: "analyse" }, onclick: analyse }, t("imports.analyse"))),
    mappingBox, out);
}

function scoringSection() {
  const out = h("div", { dataset: { section: "scoring-result" } });
  return h("section", { class: "card", dataset: { section: "scoring" } }, h("h3", {}, t("imports.score")),
    h("button", { type: "button", class: "primary", dataset: { action: "score" }, onclick: async (event) => {
      event.target.disabled = true;
      try {
        const job = await api.post("/api/scoring", {});
        toast(t("imports.scoring_started", { id: job.id }));
        const done = await waitForJob(job.id, (j) => clear(out, progressBox(j)));
        clear(out, done.status === "succeeded"
          ? h("div", { class: "ok-box", dataset: { snapshot: done.result.snapshot.snapshot_id } }, t("imports.scoring_done", { id: done.result.snapshot.snapshot_id }))
          : h("div", { class: "error-box" }, t("imports.job_failed", { error: done.error })));
      } catch (exc) { clear(out, errorBox(exc)); }
      event.target.disabled = false;
    } }, t("scorecard.run")), out);
}

export async function render(root) {
  root.append(h("div", { class: "page-head" }, h("h1", {}, t("imports.title"))));
  if (can("import")) root.append(importSection());
  if (can("run_scoring")) root.append(scoringSection());
  root.append(jobsTable(await api.get("/api/jobs", { limit: 20 })));
}
