// A sighting shown to the user: a thumbnail tile for result grids, and its context frame (the whole
// camera frame of the best view, with the box drawn) in the dialog.

import { may, request, showImage } from "./api.js";
import { closeDialog, fill, formatSpan, formatTime, h, openDialog } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

/** A grid tile: thumbnail, camera, time, what was seen; `score` is a line such as "similarity 0.97". */
export function sightingTile(sighting, score) {
  const img = h("img", { class: "thumb", alt: `sighting ${sighting.id}`, loading: "lazy" });
  if (sighting.thumbnail_url) showImage(img, sighting.thumbnail_url);
  return h("button", { class: "tile", type: "button", dataset: { sightingId: sighting.id },
    title: "open the context frame", onclick: () => openContext(sighting) },
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
 * Opens the context frame of a sighting (an object from the API, or just its id) in the dialog,
 * with its details and links to search or trace it.
 */
export async function openContext(sightingOrId, title) {
  const body = h("div", { class: "context" }, h("p", { class: "muted" }, "Loading…"));
  const shown = openDialog(title || "Sighting", body);
  let sighting = typeof sightingOrId === "object" ? sightingOrId : null;
  const id = sighting ? sighting.id : sightingOrId;
  if (!sighting && may("search")) {
    sighting = await request("GET", `/api/sightings/${id}`).catch(() => null);
  }
  const frame = h("div", { class: "frame" });
  const img = h("img", { alt: `context frame of sighting ${id}` });
  frame.append(img);
  img.addEventListener("load", () => {
    if (sighting) frame.append(boxOverlay(sighting.box, img.naturalWidth, img.naturalHeight));
  }, { once: true });
  showImage(img, sighting?.context_url || `/api/sightings/${id}/context`);
  fill(body, frame, sighting ? details(sighting) : h("p", {}, `Sighting ${id}`));
  return shown;
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
  return h("div", { class: "details" },
    h("dl", {},
      h("dt", {}, "Seen"), h("dd", {}, sighting.kind === "plate" ? `plate ${sighting.plate}` : seen(sighting)),
      h("dt", {}, "Source"), h("dd", {}, [sighting.source, sighting.direction, sighting.place].filter(Boolean)
        .join(" · ")),
      h("dt", {}, "Camera"), h("dd", {}, `${sighting.camera_name || ""} (${sighting.camera_id})`),
      h("dt", {}, "Best view"), h("dd", {}, formatTime(sighting.best_time)),
      h("dt", {}, "In view"), h("dd", {}, formatSpan(sighting.first_seen, sighting.last_seen)),
      h("dt", {}, "Quality"), h("dd", {}, sighting.quality.toFixed(2)),
      h("dt", {}, "Sighting"), h("dd", {}, `#${sighting.id}`)),
    h("div", { class: "row" }, links));
}
