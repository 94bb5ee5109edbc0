// A sighting shown to the user: a thumbnail tile for result grids, and its context frame (the whole
// camera frame of the best view, with the box drawn) in the dialog.

import { linkExpired, may, request, showImage } from "./api.js";
import { busy, closeDialog, fill, formatSpan, formatTime, h, openDialog } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

/**
 * A grid tile: thumbnail, camera, time, what was seen; `score` is a line such as "similarity 0.97"; `reason`
 * (the query's) reads the sighting again for new media links once those of the results have expired.
 */
export function sightingTile(sighting, score, reason) {
  const img = h("img", { class: "thumb", alt: `sighting ${sighting.id}`, loading: "lazy" });
  if (sighting.thumbnail_url) showImage(img, sighting.thumbnail_url);
  return h("button", { class: "tile", type: "button", dataset: { sightingId: sighting.id },
    title: "open the context frame", onclick: () => openContext(sighting, undefined, reason) },
  img,
  h("span", { class: "tile-what" }, seen(sighting)),
  score ? h("span", { class: "tile-score" }, score) : null,
  h("span", {}, sighting.camera_name || sighting.camera_id),
  h("time", {}, formatTime(sighting.best_time)));
}

/** What a sighting is of: a plate's text, "face", or a registration's name and masked identity key. */
function seen(sighting) {
  if (sighting.kind === "plate") return sighting.plate || "plate";
  if (sighting.kind === "identity") return `${sighting.person_name || "person"} ${sighting.identity || ""}`;
  return "face";
}

/**
 * Opens the context frame of a sighting in the dialog, with its details and links to search or trace it.
 * `shown`: a sighting from the API, or {id, context_url} (an alert's); with a `reason` (the query's)
 * and the permission to search, a sighting known only by its id, or whose media links have expired, is
 * read again (audited with that reason). Media are opened only through the signed links the API returns.
 */
export async function openContext(shown, title, reason) {
  const body = h("div", { class: "context" }, h("p", { class: "muted" }, "Loading…"));
  const dialog = openDialog(title || "Sighting", body);
  const id = shown.id;
  let sighting = shown.box ? shown : null;
  const stale = !shown.context_url || linkExpired(shown.context_url);
  if ((!sighting || stale) && reason && may("search")) {
    sighting = await request("GET", `/api/sightings/${id}`, { params: { reason } }).catch(() => sighting);
  }
  const frame = h("div", { class: "frame" });
  const img = h("img", { alt: `context frame of sighting ${id}` });
  frame.append(img);
  img.addEventListener("load", () => {
    if (sighting) frame.append(boxOverlay(sighting.box, img.naturalWidth, img.naturalHeight));
  }, { once: true });
  const link = sighting?.context_url || shown.context_url;
  if (link) showImage(img, link);
  else img.alt = `sighting ${id} has no context frame`;
  fill(body, frame, sighting ? details(sighting) : h("p", {}, `Sighting ${id}`));
  return dialog;
}

function boxOverlay(box, width, height) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.classList.add("overlay");
  const rect = document.createElementNS(SVG, "rect");
  for (const [key, value] of Object.entries({ x: box.x1, y: box.y1, width: box.x2 - box.x1,
    height: box.y2 - box.y1 })) rect.setAttribute(key, value);
  svg.append(rect);
  return svg;
}

function details(sighting) {
  const go = (hash) => {
    closeDialog();
    location.hash = hash;
  };
  const links = [];
  if (may("search") && sighting.kind === "face") {
    links.push(h("button", { onclick: () => go(`#/investigate?sighting=${sighting.id}`) }, "Search this face"));
    links.push(h("button", { onclick: () => go(`#/trajectory?sighting=${sighting.id}`) }, "Trajectory"));
  }
  if (may("search") && sighting.plate) {
    links.push(h("button", { onclick: () => go(`#/trajectory?plate=${encodeURIComponent(sighting.plate)}`) },
      "Trajectory"));
  }
  const key = h("span", { class: "identity-key" }, sighting.identity || "");
  return h("div", { class: "details" },
    h("dl", {},
      h("dt", {}, "Seen"), h("dd", {}, sighting.kind === "plate" ? `plate ${sighting.plate}` : seen(sighting)),
      sighting.identity ? [h("dt", {}, "Identity key"), h("dd", {}, key, unmaskControl(sighting.id, key))] : null,
      h("dt", {}, "Source"), h("dd", {}, [sighting.source, sighting.direction, sighting.place].filter(Boolean)
        .join(" · ")),
      h("dt", {}, "Camera"), h("dd", {}, `${sighting.camera_name || ""} (${sighting.camera_id})`),
      h("dt", {}, "Best view"), h("dd", {}, formatTime(sighting.best_time)),
      h("dt", {}, "In view"), h("dd", {}, formatSpan(sighting.first_seen, sighting.last_seen)),
      h("dt", {}, "Quality"), h("dd", {}, sighting.quality.toFixed(2)),
      h("dt", {}, "Sighting"), h("dd", {}, `#${sighting.id}`)),
    h("div", { class: "row" }, links));
}

/**
 * For a user who may see identity keys in full: a reason field and an "Unmask" button that shows a registration's
 * identity key in `shown` (the server audits each unmasking with the reason). Nothing for anyone else.
 */
export function unmaskControl(sightingId, shown) {
  if (!may("reveal_identities")) return null;
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500,
    placeholder: "reason or case number", "aria-label": "reason for unmasking" });
  const button = h("button", { type: "submit", class: "secondary" }, "Unmask");
  const errors = h("div", { class: "form-errors" });
  const form = h("form", { class: "row unmask", name: "unmask", onsubmit: (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    busy(button, async () => {
      const answer = await request("POST", `/api/sightings/${sightingId}/identity`,
        { body: { reason: reason.value.trim() } });
      shown.textContent = answer.identity;
      shown.classList.add("unmasked");
      form.replaceWith(h("small", { class: "muted" }, " shown in full (audited)"));
    }, errors);
  } }, reason, button, errors);
  return form;
}
