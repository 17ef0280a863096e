import { api } from "../api.js";
import { can, errorBox, go } from "../app.js";
import { clear, h, toast } from "../dom.js";
import { fmt, label, t } from "../i18n.js";

const ROLES = ["admin", "manager", "analyst", "rep"];
const SCOPES = ["self", "department", "department_tree", "company"];

function usersSection(users) {
  const message = h("div");
  const field = (name, type = "text") => h("input", { name, type, required: ["username", "password"].includes(name) });
  const f = {
    username: field("username"), password: field("password", "password"), display_name: field("display_name"),
    role: h("select", { name: "role" }, ROLES.map((r) => h("option", { value: r }, label(r)))),
    scope: h("select", { name: "scope" }, SCOPES.map((s) => h("option", { value: s }, label(s)))),
    owner_id: field("owner_id"), department: field("department"),
    can_configure_scoring: h("input", { type: "checkbox", name: "can_configure_scoring" }),
    can_view_personal_data: h("input", { type: "checkbox", name: "can_view_personal_data" }),
  };
  const form = h("form", { class: "card", dataset: { form: "new-user" }, onsubmit: async (event) => {
    event.preventDefault();
    const body = {};
    for (const [k, el] of Object.entries(f)) {
      if (el.type === "checkbox") body[k] = el.checked;
      else if (el.value.trim()) body[k] = el.value.trim();
    }
    try {
      await api.post("/api/users", body);
      toast(t("admin.created", { name: body.username }));
      go("admin");
    } catch (exc) { clear(message, errorBox(exc)); }
  } },
  h("h3", {}, t("admin.new_user")),
  h("div", { class: "form-grid" },
    h("label", {}, t("auth.username"), f.username), h("label", {}, t("auth.password"), f.password),
    h("label", {}, t("scorecard.name"), f.display_name), h("label", {}, t("admin.role"), f.role),
    h("label", {}, t("admin.scope"), f.scope), h("label", {}, t("admin.owner_id"), f.owner_id),
    h("label", {}, t("admin.department"), f.department),
    h("label", { class: "check" }, f.can_configure_scoring, t("admin.configure")),
    h("label", { class: "check" }, f.can_view_personal_data, t("admin.personal")),
    h("button", { type: "submit", class: "primary" }, t("admin.create"))), message);

  const table = h("table", { class: "data users" },
    h("thead", {}, h("tr", {}, [t("auth.username"), t("admin.role"), t("admin.scope"), t("admin.owner_id"), t("admin.department"),
      t("admin.configure"), t("admin.personal"), t("common.status"), ""].map((x) => h("th", {}, x)))),
    h("tbody", {}, users.map((u) => h("tr", { dataset: { user: u.username } },
      h("td", {}, u.username, u.display_name ? h("div", { class: "muted" }, u.display_name) : null),
      h("td", {}, label(u.role)), h("td", {}, label(u.scope)), h("td", {}, u.owner_id ?? ""), h("td", {}, u.department ?? ""),
      h("td", {}, u.can_configure_scoring ? "✓" : ""), h("td", {}, u.can_view_personal_data ? "✓" : ""),
      h("td", {}, u.disabled ? t("admin.disabled") : ""),
      h("td", {}, h("button", { type: "button", class: u.disabled ? "" : "danger", onclick: async () => {
        try { await api.patch(`/api/users/${u.id}`, { disabled: !u.disabled }); go("admin"); } catch (exc) { toast(exc.message, "error"); }
      } }, u.disabled ? t("admin.enable") : t("admin.disable")))))));
  return h("section", { class: "card", dataset: { section: "users" } }, h("h3", {}, t("admin.users")),
    h("div", { class: "table-scroll" }, table), form);
}

function rolesSection(me) {
  return h("section", { class: "card" }, h("h3", {}, t("admin.roles")),
    h("p", { class: "muted" }, `${me.username}: ${(me.permissions || []).join(", ")}`));
}

function auditSection(events) {
  return h("section", { class: "card", dataset: { section: "audit" } }, h("h3", {}, t("admin.audit")),
    h("div", { class: "table-scroll short" }, h("table", { class: "data audit" },
      h("thead", {}, h("tr", {}, [t("admin.when"), t("admin.who"), t("admin.action"), t("admin.target"), t("admin.from")].map((x) => h("th", {}, x)))),
      h("tbody", {}, events.items.map((e) => h("tr", {},
        h("td", {}, fmt.datetime(e.at ?? e.created_at ?? e.timestamp)), h("td", {}, e.username ?? ""),
        h("td", {}, e.action), h("td", {}, e.target ?? ""), h("td", {}, e.source ?? "")))))));
}

export async function render(root, { session }) {
  root.append(h("div", { class: "page-head" }, h("h1", {}, t("admin.title"))));
  if (can("manage_users")) root.append(usersSection(await api.get("/api/users")));
  if (can("view_audit")) root.append(auditSection(await api.get("/api/audit", { limit: 200 })));
  root.append(rolesSection(session.user));
}
