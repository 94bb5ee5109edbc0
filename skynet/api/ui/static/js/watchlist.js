// Management: the watch-list — entries (active, expired, all), adding a plate pattern or a face from
// photos, removing an entry; every change carries a reason for the audit log.

import { may, request } from "./api.js";
import { askReason, busy, field, fill, formatTime, h, inputTime, notify, showError } from "./dom.js";
import { photoDrop } from "./query.js";

export function render(container, signal) {
  const state = h("select", { name: "state" }, ["active", "expired", "all"].map((s) => h("option", { value: s }, s)));
  const table = h("div", { class: "table-box" });
  const load = () => request("GET", "/api/watchlist", { signal, params: { state: state.value } })
    .then((entries) => fill(table, entriesTable(entries, load)), (error) => showError(error, "watch-list"));
  state.addEventListener("change", load);
  fill(container,
    h("h3", {}, "Watch-list"),
    h("div", { class: "row" }, field("Show", state)),
    table,
    may("manage_watchlists") ? addForm(load, signal) : null);
  load();
}

function entriesTable(entries, reload) {
  if (!entries.length) return h("p", { class: "muted" }, "No entries.");
  const remove = async (entry, button) => {
    const reason = await askReason(`Remove “${entry.label}” from the watch-list`);
    if (!reason) return;
    await busy(button, async () => {
      await request("DELETE", `/api/watchlist/${entry.id}`, { params: { reason } });
      notify(`removed “${entry.label}”`);
      reload();
    });
  };
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, ["Label", "Watching for", "Reason", "Added", "Expires", "State", ""]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, entries.map((e) => {
      const button = h("button", { class: "small danger", onclick: () => remove(e, button) }, "Remove");
      return h("tr", { dataset: { entryId: e.id } },
        h("td", {}, e.label),
        h("td", {}, e.kind === "plate" ? `plate ${e.plate_pattern}`
          : `face (${e.photos} photo(s)${e.min_similarity !== null ? `, similarity ≥ ${e.min_similarity}` : ""})`),
        h("td", {}, e.reason),
        h("td", {}, `${formatTime(e.created_at)} by ${e.added_by}`),
        h("td", {}, e.expires_at ? formatTime(e.expires_at) : "never"),
        h("td", {}, h("span", { class: `badge ${e.active ? "ok" : "idle"}` }, e.active ? "active" : "expired")),
        h("td", {}, may("manage_watchlists") ? button : null));
    })));
}

function addForm(reload, signal) {
  const kind = h("select", { name: "kind" }, ["plate", "face"].map((k) => h("option", { value: k }, k)));
  const label = h("input", { name: "label", required: true, maxLength: 200 });
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500 });
  const pattern = h("input", { name: "pattern", maxLength: 20, placeholder: "桂B12345 or 桂B*45" });
  const photos = photoDrop(() => {}, { multiple: true });
  const expires = h("input", { type: "datetime-local", name: "expires_at", step: 1 });
  const minSimilarity = h("input", { type: "number", name: "min_similarity", min: -1, max: 1, step: 0.01,
    placeholder: "server default" });
  const plateFields = h("div", { class: "stack" }, field("Plate or pattern", pattern, "* any run, ? one character"));
  const faceFields = h("div", { class: "stack", hidden: true }, photos.element, field("Min. similarity", minSimilarity));
  kind.addEventListener("change", () => {
    plateFields.hidden = kind.value !== "plate";
    faceFields.hidden = kind.value !== "face";
  });
  const errors = h("div", { class: "form-errors" });
  const button = h("button", { type: "submit" }, "Add to watch-list");
  const form = h("form", { class: "card stack", name: "watchlist-add" },
    h("h4", {}, "Add an entry"),
    h("div", { class: "row" }, field("Kind", kind), field("Label", label), field("Reason or case number", reason)),
    plateFields, faceFields, field("Expires (optional)", expires), button, errors);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      const body = new FormData();
      body.append("kind", kind.value);
      body.append("label", label.value.trim());
      body.append("reason", reason.value.trim());
      if (kind.value === "plate") body.append("pattern", pattern.value.trim());
      else {
        for (const file of photos.files()) body.append("photos", file);
        if (minSimilarity.value) body.append("min_similarity", minSimilarity.value);
      }
      if (expires.value) body.append("expires_at", inputTime(expires));
      const entry = await request("POST", "/api/watchlist", { body, signal });
      notify(`added “${entry.label}” to the watch-list`);
      form.reset();
      photos.clear();
      kind.dispatchEvent(new Event("change"));
      reload();
    }, errors);
  });
  return form;
}
