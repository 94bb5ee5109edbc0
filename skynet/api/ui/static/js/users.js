// Management (admins): accounts — the list with roles and tokens, creating one (its first API token is
// shown once), changing a role, disabling or enabling, deleting; every change carries a reason.

import { request, session } from "./api.js";
import { askReason, busy, field, fill, formatTime, h, notify, openDialog, showError } from "./dom.js";

const ROLES = ["admin", "investigator", "operator", "feed"];
/** The analyses an admin grants one user at a time (admins have them all). */
const GRANTS = {
  analyze_cloned_plates: "cloned plates",
  analyze_companions: "companions",
  analyze_intersections: "intersections",
  analyze_patterns: "first seen / night",
};

export function render(container, signal) {
  const table = h("div", { class: "table-box" });
  const load = () => request("GET", "/api/users", { signal })
    .then((users) => fill(table, usersTable(users, load)), (error) => showError(error, "users"));
  fill(container, h("h3", {}, "Users"), table, createForm(load, signal));
  load();
}

/** Asks for a reason, then sends `change(reason)`; reloads the list either way. */
async function audited(title, control, change, reload) {
  const reason = await askReason(title);
  if (reason) await busy(control, () => change(reason));
  reload();
}

function usersTable(users, reload) {
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, ["User", "Role", "Analyses", "State", "Sign-in", "Tokens", "Created", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, users.map((user) => {
      const path = `/api/users/${encodeURIComponent(user.name)}`;
      const self = user.name === session().user;
      const role = h("select", { name: "role", disabled: self },
        ROLES.map((r) => h("option", { value: r, selected: r === user.role }, r)));
      role.addEventListener("change", () => audited(`Make ${user.name} ${role.value}`, role,
        (reason) => request("PATCH", path, { body: { role: role.value, reason } }), reload));
      const toggle = h("button", { class: "small secondary", disabled: self, onclick: () => audited(
        `${user.disabled ? "Enable" : "Disable"} ${user.name}`, toggle,
        (reason) => request("PATCH", path, { body: { disabled: !user.disabled, reason } }), reload) },
      user.disabled ? "Enable" : "Disable");
      const remove = h("button", { class: "small danger", disabled: self, onclick: () => audited(
        `Delete ${user.name}`, remove, (reason) => request("DELETE", path, { params: { reason } }), reload) },
      "Delete");
      const grants = Object.entries(GRANTS).map(([permission, label]) => {
        const box = h("input", { type: "checkbox", name: permission, checked: user.grants.includes(permission),
          disabled: user.role === "admin" });
        box.addEventListener("change", () => {
          const chosen = new Set(user.grants);
          if (box.checked) chosen.add(permission);
          else chosen.delete(permission);
          audited(`${box.checked ? "Grant" : "Withdraw"} ${label} ${box.checked ? "to" : "from"} ${user.name}`, box,
            (reason) => request("PATCH", path, { body: { grants: [...chosen], reason } }), reload);
        });
        return h("label", { class: "check" }, box, label);
      });
      return h("tr", { dataset: { user: user.name } },
        h("td", {}, h("strong", {}, user.name)),
        h("td", {}, role),
        h("td", { class: "checks" }, user.role === "admin" ? "all" : grants),
        h("td", {}, h("span", { class: `badge ${user.disabled ? "bad" : "ok"}` }, user.disabled ? "disabled" : "active")),
        h("td", {}, user.has_password ? "password or token" : "token only"),
        h("td", {}, user.tokens.length ? user.tokens.map((t) => h("div", {},
          `#${t.id} ${t.label || ""} · expires ${t.expires_at ? formatTime(t.expires_at) : "never"}`)) : "none"),
        h("td", {}, formatTime(user.created_at)),
        h("td", { class: "actions" }, toggle, remove));
    })));
}

function createForm(reload, signal) {
  const name = h("input", { name: "name", required: true, maxLength: 100 });
  const role = h("select", { name: "role" },
    ROLES.map((r) => h("option", { value: r, defaultSelected: r === "investigator" }, r)));
  const password = h("input", { name: "password", type: "password", minLength: 12, autocomplete: "new-password",
    placeholder: "optional, at least 12 characters" });
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500 });
  const button = h("button", { type: "submit" }, "Create user");
  const errors = h("div", { class: "form-errors" });
  const form = h("form", { class: "card stack", name: "user-create" }, h("h4", {}, "Add a user"),
    h("div", { class: "row" }, field("Name", name), field("Role", role), field("Password", password),
      field("Reason or case number", reason)), button, errors);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      const body = { name: name.value.trim(), role: role.value, reason: reason.value.trim() };
      if (password.value) body.password = password.value;
      const created = await request("POST", "/api/users", { body, signal });
      form.reset();
      reload();
      notify(`created ${created.user.name}`);
      openDialog(`API token of ${created.user.name}`,
        h("p", {}, "Shown only now: give it to the user (it signs in under “Sign in with an API token”)."),
        h("code", { class: "token" }, created.token.token));
    }, errors);
  });
  return form;
}
