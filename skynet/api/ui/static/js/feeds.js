// Feeds: records from other systems. File imports (start one on the server; each import's state, counts and its
// rejected rows) for who may import, and the newest checkpoint reads and registrations (a listing: it needs the
// reason, which the audit log keeps) for who may search, a registration's identity key unmasked for who may.

import { may, request } from "./api.js";
import { askReason, busy, field, fill, formatTime, h, openDialog, showError } from "./dom.js";
import { unmaskControl } from "./sighting.js";

const REASON_KEY = "skynet.reason";
const SHOWN = 50;

/** Whether the user may open the page. */
export function allowed() {
  return may("import_feeds") || may("search");
}

export function render(container, signal) {
  const parts = [h("h2", {}, "Feeds")];
  if (may("import_feeds")) parts.push(imports(signal));
  if (may("search")) parts.push(recent(signal));
  fill(container, h("div", { class: "feeds" }, parts));
}

function imports(signal) {
  const list = h("div", { class: "feed-imports" });
  const refresh = () => request("GET", "/api/feeds/imports", { signal }).then(
    (found) => fill(list, found.length ? importTable(found, signal) : h("p", { class: "muted" }, "No imports yet.")),
    (error) => showError(error, "imports"));
  const path = h("input", { name: "path", required: true, placeholder: "a CSV or JSON Lines file on the server" });
  const kind = h("select", { name: "kind" }, ["checkpoint", "registration"].map((k) => h("option", { value: k }, k)));
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500 });
  const button = h("button", { type: "submit" }, "Start import");
  const errors = h("div", { class: "form-errors" });
  const form = h("form", { class: "card stack", name: "feed-import", onsubmit: (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    busy(button, async () => {
      await request("POST", "/api/jobs/feed-import",
        { body: { path: path.value.trim(), kind: kind.value, reason: reason.value.trim() }, signal });
      refresh();
    }, errors);
  } }, h("h4", {}, "Import a file"), h("div", { class: "row" }, field("File on the server", path),
    field("Records", kind)), field("Reason or case number", reason, "required; kept in the audit log"), button, errors);
  refresh();
  return h("section", { class: "stack" }, h("h3", {}, "Imports"), form,
    h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: refresh }, "Refresh")), list);
}

function importTable(found, signal) {
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, ["File", "Records", "State", "Rows read", "Added", "Known", "Rejected", "Updated", ""]
      .map((title) => h("th", {}, title)))),
    h("tbody", {}, found.map((item) => h("tr", { dataset: { path: item.path, kind: item.kind } },
      h("td", {}, item.path), h("td", {}, item.kind), h("td", {}, h("span", { class: `badge ${stateClass(item)}` },
        item.state)),
      h("td", {}, item.rows_done), h("td", {}, item.added), h("td", {}, item.duplicates), h("td", {}, item.rejected),
      h("td", {}, formatTime(item.updated_at)),
      h("td", {}, item.rejected ? h("button", { type: "button", class: "secondary",
        onclick: () => showRejected(item, signal) }, "Rejected rows") : null)))));
}

function stateClass(item) {
  return { done: "ok", failed: "bad", running: "warn" }[item.state] || "idle";
}

async function showRejected(item, signal) {
  const reason = await askReason(`Rejected rows of ${item.path}`, sessionStorage.getItem(REASON_KEY) || "");
  if (!reason) return;
  try {
    const answer = await request("GET", "/api/feeds/imports/rejected",
      { params: { path: item.path, kind: item.kind, reason }, signal });
    openDialog(`Rejected rows of ${item.path}`, h("table", { class: "data rejected-rows" },
      h("thead", {}, h("tr", {}, h("th", {}, "Line"), h("th", {}, "Why"), h("th", {}, "Row"))),
      h("tbody", {}, answer.rows.map((row) => h("tr", {}, h("td", {}, row.line), h("td", {}, row.reason),
        h("td", {}, row.row === null ? h("span", { class: "muted" }, "hidden: it holds an identity key") : row.row))))));
  } catch (error) {
    showError(error, "rejected rows");
  }
}

function recent(signal) {
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500,
    value: sessionStorage.getItem(REASON_KEY) || "", placeholder: "e.g. case 2026-001" });
  const source = h("select", { name: "source" },
    ["checkpoint", "registration"].map((s) => h("option", { value: s }, s === "checkpoint" ? "checkpoint reads"
      : "registrations")));
  const button = h("button", { type: "submit" }, "Show");
  const errors = h("div", { class: "form-errors" });
  const list = h("div", { class: "feed-records" });
  const form = h("form", { class: "card stack", name: "feed-records", onsubmit: (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    sessionStorage.setItem(REASON_KEY, reason.value.trim());
    busy(button, async () => {
      const page = await request("GET", "/api/sightings",
        { params: { reason: reason.value.trim(), source: source.value, limit: SHOWN }, signal });
      fill(list, page.items.length ? recordTable(page.items) : h("p", { class: "muted" }, "No records."));
    }, errors);
  } }, h("div", { class: "row" }, field("Reason or case number", reason, "required; kept in the audit log"),
    field("Records", source)), button, errors);
  return h("section", { class: "stack" }, h("h3", {}, `Newest ${SHOWN} records`), form, list);
}

function recordTable(items) {
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, ["Time", "What", "Where", "Detail"].map((title) => h("th", {}, title)))),
    h("tbody", {}, items.map((s) => {
      const key = h("span", { class: "identity-key" }, s.identity || "");
      const what = s.kind === "identity" ? [`${s.person_name || "person"} `, key, unmaskControl(s.id, key)]
        : s.plate;
      return h("tr", { dataset: { sightingId: s.id } }, h("td", {}, formatTime(s.best_time)), h("td", {}, what),
        h("td", {}, s.camera_name || s.camera_id), h("td", {}, s.direction || s.place || ""));
    })));
}
