// Analyses: cloned plates, companions, place-and-time intersections, first seen and night activity.
// Each is shown only to users an admin granted it; each asks for the reason (audited), a time range
// and an area (ticked cameras), shows what it found, and saves the evidence ZIP of it on request.

import { download, may, request } from "./api.js";
import { busy, field, fill, h, inputTime } from "./dom.js";
import { queryFilters } from "./query.js";
import { sightingTile } from "./sighting.js";

const ANALYSES = [
  ["cloned-plates", "Cloned plates", "analyze_cloned_plates"],
  ["companions", "Companions", "analyze_companions"],
  ["intersections", "Intersections", "analyze_intersections"],
  ["first-seen", "First seen in an area", "analyze_patterns"],
  ["night-activity", "Night activity", "analyze_patterns"],
];

/** The analyses the signed-in user may run. */
export function allowed() {
  return ANALYSES.filter(([, , permission]) => may(permission));
}

export function render(container, signal) {
  const filters = queryFilters(signal);
  const results = h("section", { class: "results" });
  const forms = allowed().map(([name, title]) => FORMS[name](title, filters, results, signal));
  fill(container, h("h2", {}, "Analyses"), filters.element, h("div", { class: "grid-forms" }, forms), results);
}

/** The shared part of a request: reason, time range, area (ticked cameras), or an error to show. */
function common(filters) {
  const { reason, since, until, cameras } = filters.values();
  if (since === null || until === null) throw new Error("an analysis needs a time range (From and Until)");
  return { reason, since, until, area: cameras.length ? { cameras } : null };
}

/** `common(filters)` for an analysis of an area: some cameras must be ticked. */
function inArea(filters) {
  const request = common(filters);
  if (!request.area) throw new Error("tick the cameras of the area");
  return request;
}

/** A form titled `title` with `inputs`; on submit it POSTs `body()` and shows the answer with `show`. */
function analysisForm(name, title, inputs, body, show, results, signal) {
  const run = h("button", { type: "submit" }, "Run");
  const save = h("button", { type: "button", class: "secondary" }, "Save evidence ZIP");
  const errors = h("div", { class: "form-errors" });
  const form = h("form", { class: "card stack", name }, h("h3", {}, title), inputs, h("div", { class: "row" }, run, save),
    errors);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(run, async () => show(await request("POST", `/api/analytics/${name}`, { body: body(), signal }), results),
      errors);
  });
  save.addEventListener("click", () => busy(save, () => download(`/api/analytics/${name}`, { ...body(), export: true },
    `skynet-${name}.zip`, { signal }), errors));
  return form;
}

function heading(results, text, count) {
  fill(results, h("h3", {}, `${text}: ${count}`));
}

const FORMS = {
  "cloned-plates": (title, filters, results, signal) => {
    const speed = h("input", { type: "number", name: "max_speed_kmh", min: 1, placeholder: "the setting (150)" });
    const body = () => {
      const request = common(filters);
      if (speed.value) request.max_speed_kmh = Number(speed.value);
      if (!request.area) delete request.area;
      return request;
    };
    return analysisForm("cloned-plates", title, field("Max. speed km/h", speed), body, (answer) => {
      heading(results, "Cloned-plate candidates", answer.candidates.length);
      for (const c of answer.candidates) {
        const speedText = c.simultaneous ? "at the same time" : `${Math.round(c.speed_kmh)} km/h needed`;
        results.append(h("div", { class: "card pair" }, h("h4", {}, `${c.plate} · ${Math.round(c.distance_m)} m · ${speedText}`),
          h("div", { class: "grid" }, sightingTile(c.first), sightingTile(c.second))));
      }
    }, results, signal);
  },
  companions: (title, filters, results, signal) => {
    const plate = h("input", { name: "plate", maxLength: 20, placeholder: "桂B12345" });
    const face = h("input", { type: "number", name: "face_sighting_id", min: 1, placeholder: "or a face sighting id" });
    const identity = h("input", { type: "number", name: "identity_id", min: 1, placeholder: "or person #" });
    const windowS = h("input", { type: "number", name: "window_s", min: 1, value: 60 });
    const cameras = h("input", { type: "number", name: "min_cameras", min: 1, value: 2 });
    const body = () => {
      const { reason, since, until } = common(filters);
      const target = identity.value ? { identity_id: Number(identity.value) }
        : face.value ? { face_sighting_id: Number(face.value) } : { plate: plate.value.trim() };
      return { reason, since, until, target, window_s: Number(windowS.value), min_cameras: Number(cameras.value) };
    };
    const inputs = h("div", { class: "row" }, field("Target plate", plate), field("Target face", face), field("Target person", identity),
      field("Window ± s", windowS), field("Min. cameras", cameras));
    return analysisForm("companions", title, inputs, body, (answer) => {
      heading(results, `Companions of ${answer.target_sightings.length} sightings`, answer.companions.length);
      results.append(h("table", { class: "data" },
        h("thead", {}, h("tr", {}, ["Plate or person", "Cameras", "Rarity (−log10 chance)", "Sightings"].map((t) => h("th", {}, t)))),
        h("tbody", {}, answer.companions.map((c) => h("tr", {}, h("td", {}, c.key), h("td", {}, c.cameras.join(", ")),
          h("td", {}, c.surprise.toFixed(1)), h("td", {}, c.pairs.map((p) => `#${p.sighting_id}`).join(" ")))))));
    }, results, signal);
  },
  intersections: (title, filters, results, signal) => {
    const places = h("textarea", { name: "places", rows: 4,
      placeholder: "one place a line: cameras (comma-separated); from; until\ncam01,cam02; 2026-12-01T22:00; 2026-12-01T23:00" });
    const atLeast = h("input", { type: "number", name: "min_places", min: 1, placeholder: "all" });
    const body = () => {
      const { reason } = filters.values();
      const parsed = places.value.split("\n").filter((line) => line.trim()).map((line) => {
        const [cams, from, to] = line.split(";").map((part) => part.trim());
        const time = (text) => inputTime({ value: text });
        return { area: { cameras: cams.split(",").map((c) => c.trim()).filter(Boolean) }, since: time(from), until: time(to) };
      });
      return { reason, places: parsed, ...(atLeast.value ? { min_places: Number(atLeast.value) } : {}) };
    };
    return analysisForm("intersections", title, h("div", {}, field("Places", places), field("At least", atLeast)), body,
      (answer) => {
        heading(results, "Present", answer.present.length);
        results.append(h("table", { class: "data" },
          h("thead", {}, h("tr", {}, ["Plate or person", "Places"].map((t) => h("th", {}, t)))),
          h("tbody", {}, answer.present.map((p) => h("tr", {}, h("td", {}, p.key),
            h("td", {}, p.places.map((i) => i + 1).join(", ")))))));
      }, results, signal);
  },
  "first-seen": (title, filters, results, signal) => {
    const lookback = h("input", { type: "number", name: "lookback_days", min: 1, value: 30 });
    const body = () => ({ ...inArea(filters), lookback_days: Number(lookback.value) });
    return analysisForm("first-seen", title, field("Not seen in the days before", lookback), body, (answer) => {
      heading(results, "First seen", answer.plates.length);
      results.append(h("div", { class: "grid" }, answer.plates.map((p) => sightingTile(p.first, `${p.sightings} sightings`))));
    }, results, signal);
  },
  "night-activity": (title, filters, results, signal) => {
    const least = h("input", { type: "number", name: "min_sightings", min: 1, value: 3 });
    const share = h("input", { type: "number", name: "min_fraction", min: 0.05, max: 1, step: 0.05, value: 0.7 });
    const body = () => ({ ...inArea(filters), min_sightings: Number(least.value), min_fraction: Number(share.value) });
    return analysisForm("night-activity", title, h("div", { class: "row" }, field("Min. sightings", least),
      field("Share at night", share)), body, (answer) => {
      heading(results, `Mostly at night (${answer.night_hours[0]}:00–${answer.night_hours[1]}:00)`, answer.plates.length);
      results.append(h("table", { class: "data" },
        h("thead", {}, h("tr", {}, ["Plate", "Sightings", "At night"].map((t) => h("th", {}, t)))),
        h("tbody", {}, answer.plates.map((p) => h("tr", {}, h("td", {}, p.plate), h("td", {}, p.sightings),
          h("td", {}, `${p.night} (${Math.round(p.fraction * 100)} %)`))))));
    }, results, signal);
  },
};
