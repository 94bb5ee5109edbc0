// Sightings: what one camera (or every camera) saw, without a query. A timeline of sightings per hour
// (click an hour to list it) above the sightings as thumbnails, newest first, a page at a time. Every
// listing needs the reason, which the audit log keeps.

import { request } from "./api.js";
import { busy, field, fill, formatTime, h, inputTime } from "./dom.js";
import { sightingTile } from "./sighting.js";

const REASON_KEY = "skynet.reason";
const PAGE = 60;

export function render(container, signal, params) {
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500,
    value: sessionStorage.getItem(REASON_KEY) || "", placeholder: "e.g. case 2026-001" });
  const camera = h("select", { name: "camera" }, h("option", { value: "" }, "every camera"));
  const kind = h("select", { name: "kind" },
    ["", "face", "plate", "identity"].map((k) => h("option", { value: k }, k || "any kind")));
  const source = h("select", { name: "source" },
    ["", "video", "checkpoint", "registration"].map((s) => h("option", { value: s }, s || "any source")));
  const since = h("input", { type: "datetime-local", name: "since", step: 1 });
  const until = h("input", { type: "datetime-local", name: "until", step: 1 });
  const show = h("button", { type: "submit" }, "Show");
  const errors = h("div", { class: "form-errors" });
  const timeline = h("section", { class: "hour-timeline" });
  const tiles = h("div", { class: "grid" });
  const more = h("button", { class: "secondary", type: "button", hidden: true }, "Older sightings");
  const summary = h("p", { class: "muted" });
  let cursor = null;
  let shown = 0;

  request("GET", "/api/cameras", { signal }).then((cameras) => {
    camera.append(...cameras.map((c) => h("option", { value: c.id }, `${c.name} (${c.id})`)));
    camera.value = params.get("camera") || "";
  }, () => {});

  const filters = (extra = {}) => {
    sessionStorage.setItem(REASON_KEY, reason.value.trim());
    return { reason: reason.value.trim(), camera: camera.value || null, kind: kind.value || null,
      source: source.value || null, since: inputTime(since), until: inputTime(until), ...extra };
  };

  const loadPage = () => busy(more, async () => {
    const page = await request("GET", "/api/sightings", { signal, params: filters({ limit: PAGE, cursor }) });
    tiles.append(...page.items.map((s) => sightingTile(s, s.source !== "video" ? s.source : null)));
    shown += page.items.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    summary.textContent = shown ? `${shown} sighting(s) shown, newest first` : "No sightings.";
  }, errors);

  const load = () => busy(show, async () => {
    cursor = null;
    shown = 0;
    tiles.replaceChildren();
    const counts = await request("GET", "/api/sightings/counts", { signal, params: filters() });
    fill(timeline, hourBars(counts, (hour) => {
      setLocal(since, hour);
      setLocal(until, hour + 3599.999);
      load();
    }));
    await loadPage();
  }, errors);

  const form = h("form", { class: "card stack", name: "browse", onsubmit: (event) => {
    event.preventDefault();
    if (form.reportValidity()) load();
  } },
  field("Reason or case number", reason, "required; kept in the audit log with the listing"),
  h("div", { class: "row" }, field("Camera", camera), field("Kind", kind), field("Source", source)),
  h("div", { class: "row" }, field("From", since), field("Until", until)), show);
  more.addEventListener("click", () => loadPage());

  fill(container, h("div", { class: "browse" }, h("h2", {}, "Sightings"), form, errors, timeline, summary, tiles,
    more));
}

/** Bars of sightings per hour (all cameras of the answer added up), oldest left; click one to list its hour. */
function hourBars(counts, pick) {
  if (!counts.length) return h("p", { class: "muted" }, "No sightings in this range.");
  const perHour = new Map();
  for (const c of counts) perHour.set(c.hour, (perHour.get(c.hour) || 0) + c.count);
  const hours = [...perHour.keys()].sort((a, b) => a - b);
  const top = Math.max(...perHour.values());
  return h("div", { class: "hour-bars", role: "list" }, hours.map((hour) => {
    const count = perHour.get(hour);
    return h("button", { type: "button", class: "hour-bar", role: "listitem", dataset: { hour },
      title: `${formatTime(hour)}: ${count} sighting(s)`, onclick: () => pick(hour) },
    h("span", { class: "bar", style: `height: ${Math.max(4, Math.round((60 * count) / top))}px` }),
    h("small", {}, formatTime(hour).slice(5, 13)));
  }));
}

function setLocal(input, seconds) {
  const d = new Date(seconds * 1000 - new Date(seconds * 1000).getTimezoneOffset() * 60000);
  input.value = d.toISOString().slice(0, 19);
}
