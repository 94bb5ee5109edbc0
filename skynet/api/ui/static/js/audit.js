// Management (admins): the append-only audit log, newest first, with a filter over what is shown.

import { request } from "./api.js";
import { field, fill, formatTime, h, showError } from "./dom.js";

export function render(container, signal) {
  const limit = h("select", { name: "limit" }, [100, 500, 2000].map((n) => h("option", { value: n }, n)));
  const filter = h("input", { type: "search", name: "filter", placeholder: "who, action, reason…" });
  const table = h("div", { class: "table-box" });
  let events = [];
  const show = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = needle ? events.filter((e) => JSON.stringify(e).toLowerCase().includes(needle)) : events;
    fill(table, shown.length ? h("table", { class: "data audit" },
      h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Reason", "Detail"].map((t) => h("th", {}, t)))),
      h("tbody", {}, shown.map((e) => h("tr", {},
        h("td", {}, formatTime(e.at)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.reason ?? ""),
        h("td", { class: "detail" }, detailText(e.detail))))))
      : h("p", { class: "muted" }, "No events."));
  };
  const load = () => request("GET", "/api/audit", { signal, params: { limit: limit.value } })
    .then((answer) => {
      events = answer;
      show();
    }, (error) => showError(error, "audit log"));
  limit.addEventListener("change", load);
  filter.addEventListener("input", show);
  fill(container, h("h3", {}, "Audit log"), h("div", { class: "row" }, field("Newest", limit), field("Filter", filter)),
    table);
  load();
}

function detailText(detail) {
  return Object.entries(detail)
    .filter(([, value]) => value !== null && value !== undefined && !(Array.isArray(value) && !value.length))
    .map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" · ");
}
