import { api } from "../api.js";
import { errorBox, go, refreshSession } from "../app.js";
import { clear, h } from "../dom.js";
import { t } from "../i18n.js";

export async function render(root) {
  const message = h("div", { class: "login-message" });
  const username = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "card login-card", onsubmit: async (event) => {
    event.preventDefault();
    clear(message);
    try {
      await api.post("/api/auth/login", { username: username.value, password: password.value });
      await refreshSession();
      go("overview");
    } catch (exc) {
      clear(message, errorBox(exc));
    }
  } },
  h("h1", {}, t("auth.title")),
  h("label", {}, t("auth.username"), username),
  h("label", {}, t("auth.password"), password),
  h("button", { type: "submit", class: "primary" }, t("auth.login")),
  message);
  root.append(h("div", { class: "login-wrap" }, form));
}
