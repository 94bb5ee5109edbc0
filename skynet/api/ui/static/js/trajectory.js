// Trajectory: where a plate or a face was seen — a timeline of stops and the camera map with the
// path, implausible moves marked.

import { download, request, showImage } from "./api.js";
import { busy, field, fill, formatDuration, formatSpan, h } from "./dom.js";
import { mapWidget, setTileUrl, tileUrl } from "./map.js";
import { addFilters, photoDrop, queryFilters } from "./query.js";
import { openContext } from "./sighting.js";

export function render(container, signal, params) {
  const filters = queryFilters(signal);
  const output = h("section", { class: "trajectory-result" });
  const errors = h("div", { class: "form-errors" });
  const maxSpeed = h("input", { type: "number", name: "max_speed_kmh", min: 1, max: 10000, placeholder: "150" });

  const plate = h("input", { name: "plate", maxLength: 20, value: params.get("plate") || "", placeholder: "桂B12345" });
  const mode = h("select", { name: "mode" }, ["exact", "wildcard", "fuzzy"].map((m) => h("option", { value: m }, m)));
  const plateButton = h("button", { type: "submit" }, "Trace plate");
  const plateForm = h("form", { class: "card stack", name: "plate-trajectory" },
    h("h3", {}, "Plate"), field("Plate", plate), field("Match", mode), plateButton);

  const drop = photoDrop();
  const sightingId = h("input", { type: "number", name: "sighting_id", min: 1, value: params.get("sighting") || "",
    placeholder: "or a face sighting #" });
  const faceButton = h("button", { type: "submit" }, "Trace face");
  const faceForm = h("form", { class: "card stack", name: "face-trajectory" },
    h("h3", {}, "Face"), drop.element, field("Face sighting", sightingId), faceButton);

  const tiles = h("input", { name: "tile_url", value: tileUrl(), placeholder: "none: offline map" });
  const tileForm = h("details", { class: "tile-setting" }, h("summary", {}, "Map tiles"),
    h("form", { class: "row", onsubmit: (event) => {
      event.preventDefault();
      setTileUrl(tiles.value.trim());
    } }, field("Tile server URL template ({z}/{x}/{y}), kept in this browser", tiles),
    h("button", { type: "submit", class: "secondary" }, "Save")));

  const valid = () => [...filters.element.querySelectorAll("input")].every((i) => i.reportValidity());
  const speed = () => maxSpeed.value || null;

  const tracePlate = () => busy(plateButton, async () => {
    if (!plate.value.trim()) throw new Error("enter a plate");
    const { reason, since, until, cameras } = filters.values();
    const answer = await request("GET", "/api/trajectory/plate", { signal, params: {
      q: plate.value.trim(), mode: mode.value, reason, since, until, cameras, max_speed_kmh: speed() } });
    await show(output, `plate ${plate.value.trim()}`, answer, { reason, maxSpeed: speed() }, signal);
  }, errors);

  const traceFace = () => busy(faceButton, async () => {
    const values = filters.values();
    const form = addFilters(new FormData(), values);
    form.append("reason", values.reason);
    if (speed()) form.append("max_speed_kmh", speed());
    let what;
    if (drop.file()) {
      form.append("image", drop.file());
      what = `the face in ${drop.file().name}`;
    } else if (sightingId.value) {
      form.append("sighting_id", sightingId.value);
      what = `the face of sighting #${sightingId.value}`;
    } else {
      throw new Error("drop a face photo or enter a face sighting number");
    }
    const answer = await request("POST", "/api/trajectory", { body: form, signal });
    await show(output, what, answer, { reason: values.reason, maxSpeed: speed() }, signal);
  }, errors);

  plateForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (valid()) tracePlate();
  });
  faceForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (valid()) traceFace();
  });

  fill(container, h("div", { class: "trajectory" },
    h("h2", {}, "Trajectory"),
    filters.element,
    h("div", { class: "search-forms" }, plateForm, faceForm,
      h("div", { class: "card stack" }, h("h3", {}, "Options"),
        field("Implausible above (km/h)", maxSpeed, "default 150"), tileForm)),
    errors, output));
  if (params.get("plate") && valid()) tracePlate();
  else if (params.get("sighting") && valid()) traceFace();
}

async function show(output, what, answer, query, signal) {
  const cameras = await request("GET", "/api/cameras", { signal });
  const implausible = answer.transitions.filter((t) => t.implausible).length;
  fill(output,
    h("h3", {}, `Trajectory of ${what}`),
    h("p", { class: "summary" }, `${answer.sightings} sighting(s), ${answer.stops.length} stop(s)`,
      implausible ? h("span", { class: "badge bad" }, `${implausible} implausible move(s)`) : null),
    answer.stops.length ? exportForm(answer, query, signal) : null,
    answer.notes.length ? h("ul", { class: "notes" }, answer.notes.map((n) => h("li", {}, n))) : null,
    answer.stops.length ? h("div", { class: "trajectory-view" },
      h("div", { class: "map-box" }, mapWidget(cameras, answer)),
      h("ol", { class: "timeline" }, timeline(answer)))
      : h("p", { class: "muted" }, "No sightings match."));
}

function timeline(answer) {
  const after = new Map(answer.transitions.map((t) => [t.from_stop, t]));
  return answer.stops.flatMap((stop) => {
    const img = h("img", { class: "thumb", alt: `stop ${stop.index + 1}` });
    if (stop.thumbnail_url) showImage(img, stop.thumbnail_url);
    const item = h("li", { class: "stop", dataset: { stop: stop.index + 1 } },
      h("span", { class: "stop-number" }, stop.index + 1),
      img,
      h("div", {},
        h("strong", {}, stop.camera_name || stop.camera_id),
        (stop.sources || []).some((source) => source !== "video")
          ? h("span", { class: "badge idle source" }, stop.sources.join(", ")) : null,
        h("div", {}, formatSpan(stop.arrival, stop.departure)),
        h("small", { class: "muted" }, `stayed ${formatDuration(stop.dwell_s)}, ${stop.sighting_count} sighting(s)`)));
    if (stop.best_sighting_id) {
      img.addEventListener("click", () => openContext(stop.best_sighting_id, `Stop ${stop.index + 1}`));
    }
    const move = after.get(stop.index);
    return move ? [item, moveItem(move)] : [item];
  });
}

function moveItem(move) {
  const speed = move.speed_kmh === null ? "overlapping in time" : `${Math.round(move.speed_kmh)} km/h`;
  return h("li", { class: `move${move.implausible ? " implausible" : ""}` },
    `${(move.distance_m / 1000).toFixed(2)} km in ${formatDuration(move.seconds)} · ${speed}`,
    move.implausible ? h("strong", {}, " · implausible") : null);
}

/** A button that downloads the trajectory's sightings, media and GeoJSON as an evidence ZIP
 * (POST /api/exports, audited with the query's reason). */
function exportForm(answer, query, signal) {
  const button = h("button", { type: "submit", class: "secondary" }, "Export evidence (ZIP)");
  const status = h("span", { class: "muted" });
  const errors = h("div", { class: "form-errors" });
  const form = h("form", { class: "row export", name: "export" }, button, status, errors);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      const body = { reason: query.reason, sighting_ids: answer.stops.flatMap((s) => s.sighting_ids),
        trajectory: true, max_speed_kmh: query.maxSpeed ? Number(query.maxSpeed) : null };
      status.textContent = `saved ${await download("/api/exports", body, "skynet-export.zip", { signal })}`;
    }, errors);
  });
  return form;
}
