// The dashboard shell: who is logged in, the navigation, hash routing (#/page/arg?query), language switch.

import { api, ApiError } from "./api.js";
import { disposeAll } from "./charts.js";
import { clear, h, qs } from "./dom.js";
import { locale, setLocale, t } from "./i18n.js";

const PAGES = {
  login: () => import("./pages/login.js"),
  overview: () => import("./pages/overview.js"),
  customers: () => import("./pages/customers.js"),
  customer: () => import("./pages/customer.js"),
  segments: () => import("./pages/segments.js"),
  scorecard: () => import("./pages/scorecard.js"),
  imports: () => import("./pages/imports.js"),
  admin: () => import("./pages/admin.js"),
};

const NAV = [
  ["overview", "nav.overview", null],
  ["customers", "nav.customers", "view_customers"],
  ["segments", "nav.segments", "view_snapshots"],
  ["scorecard", "nav.scorecard", "view_scorecards"],
  ["imports", "nav.imports", ["import", "run_scoring"]],
  ["admin", "nav.admin", ["manage_users", "view_audit"]],
];

export const session = { user: null };

export function can(action) {
  return Boolean(session.user && (session.user.permissions || []).includes(action));
}

function canAny(need) {
  if (!need) return true;
  return (Array.isArray(need) ? need : [need]).some(can);
}

export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(queryPart) };
}

export function go(path, params) {
  const q = params ? new URLSearchParams(params).toString() : "";
  const target = "#/" + path + (q ? "?" + q : "");
  if (location.hash === target) render();
  else location.hash = target;
}

function renderChrome() {
  const bar = qs("#topbar");
  bar.hidden = false;
  qs("#lang").value = locale();
  qs("#logout").hidden = !session.user;
  if (!session.user) {
    clear(qs("#nav"));
    qs("#whoami").textContent = "";
    return;
  }
  const { parts } = parseHash();
  const active = parts[0] === "customers" && parts.length > 1 ? "customers" : parts[0] || "overview";
  clear(qs("#nav"), NAV.filter(([, , need]) => canAny(need)).map(([page, key]) =>
    h("a", { href: `#/${page}`, class: page === active ? "active" : "", dataset: { page } }, t(key))));
  qs("#whoami").textContent = `${session.user.display_name || session.user.username} · ${session.user.role}`;
  qs("#logout").textContent = t("auth.logout");
}

let renderSeq = 0;

export async function render() {
  const seq = ++renderSeq;
  const { parts, params } = parseHash();
  let page = parts[0] || "overview";
  if (!session.user && page !== "login") page = "login";
  if (session.user && page === "login") page = "overview";
  if (page === "customers" && parts.length > 1) page = "customer";
  if (!(page in PAGES)) page = "overview";
  renderChrome();
  disposeAll();
  const view = qs("#view");
  view.dataset.page = page;
  view.dataset.ready = "false";
  clear(view, h("p", { class: "muted" }, t("common.loading")));
  try {
    const module = await PAGES[page]();
    if (seq !== renderSeq) return;
    const root = h("div", { class: `page page-${page}` });
    clear(view, root);
    await module.render(root, { parts, params, session });
  } catch (exc) {
    if (seq !== renderSeq) return;
    if (exc instanceof ApiError && exc.status === 401) return;
    clear(view, errorBox(exc));
  }
  if (seq === renderSeq) view.dataset.ready = "true";
}

export function errorBox(exc) {
  const message = exc instanceof ApiError ? exc.message : String(exc);
  return h("div", { class: "error-box", role: "alert" },
    h("strong", {}, t("common.error") + ": "), message,
    exc && exc.hint ? h("div", { class: "hint" }, t("common.hint") + ": " + exc.hint) : null,
    exc && exc.errors && exc.errors.length
      ? h("ul", {}, exc.errors.map((e) => h("li", {}, `${e.field}: ${e.message}`))) : null);
}

export async function refreshSession() {
  try {
    session.user = await api.get("/api/auth/me");
  } catch (exc) {
    if (!(exc instanceof ApiError) || exc.status !== 401) throw exc;
    session.user = null;
  }
}

async function start() {
  setLocale(locale());
  qs("#lang").addEventListener("change", (event) => { setLocale(event.target.value); render(); });
  qs("#logout").addEventListener("click", async () => {
    try { await api.post("/api/auth/logout"); } catch { /* already logged out */ }
    session.user = null;
    go("login");
  });
  window.addEventListener("hashchange", render);
  window.addEventListener("crmscore:unauthenticated", () => {
    if (session.user) { session.user = null; go("login"); }
  });
  await refreshSession();
  render();
}

start();
