// Investigate: face search by photo (drag and drop) or by a face sighting, plate search (exact,
// wildcard, fuzzy), with time and camera filters; results as a thumbnail grid, each opening its
// context frame.

import { request } from "./api.js";
import { busy, field, fill, formatSpan, h } from "./dom.js";
import { addFilters, photoDrop, queryFilters } from "./query.js";
import { sightingTile } from "./sighting.js";

export function render(container, signal, params) {
  const filters = queryFilters(signal);
  const results = h("section", { class: "results" });
  const errors = h("div", { class: "form-errors" });

  const drop = photoDrop();
  const topK = h("input", { type: "number", name: "top_k", min: 1, max: 1000, value: "20" });
  const minSimilarity = h("input", { type: "number", name: "min_similarity", min: -1, max: 1, step: 0.01,
    placeholder: "calibrated" });
  const weaker = h("input", { type: "checkbox", name: "include_weaker" });
  const faceButton = h("button", { type: "submit" }, "Search face");
  const faceForm = h("form", { class: "card stack", name: "face-search" },
    h("h3", {}, "Face"), drop.element,
    h("div", { class: "row" }, field("Results", topK), field("Min. similarity", minSimilarity)),
    h("label", { class: "check" }, weaker, " also show weaker results (below the calibrated threshold, marked)"),
    faceButton);

  const plate = h("input", { name: "plate", required: true, maxLength: 20, placeholder: "桂B12345, 桂B*45, *123?" });
  const mode = h("select", { name: "mode" }, ["fuzzy", "exact", "wildcard"].map((m) => h("option", { value: m }, m)));
  const plateButton = h("button", { type: "submit" }, "Search plate");
  const plateForm = h("form", { class: "card stack", name: "plate-search" },
    h("h3", {}, "Plate"), field("Plate or pattern", plate, "wildcards: * any run, ? one character"),
    field("Match", mode), plateButton);

  const searchFace = (sightingId) => busy(faceButton, async () => {
    const form = addFilters(new FormData(), filters.values());
    const { reason } = filters.values();
    form.append("reason", reason);
    form.append("top_k", topK.value || "20");
    if (minSimilarity.value) form.append("min_similarity", minSimilarity.value);
    if (weaker.checked) form.append("include_weaker", "true");
    if (sightingId) form.append("sighting_id", sightingId);
    else if (drop.file()) form.append("image", drop.file());
    else throw new Error("choose or drop a face photo first");
    const answer = await request("POST", "/api/search/face", { body: form, signal });
    const what = sightingId ? `face of sighting #${sightingId}`
      : `face in ${drop.file().name}${answer.faces_in_image > 1 ? ` (largest of ${answer.faces_in_image} faces)` : ""}`;
    const strong = answer.results.filter((r) => !r.below_threshold).length;
    const weak = answer.results.length - strong;
    show(results, `${strong} sighting(s) of the ${what} at or above the calibrated threshold `
      + `(${answer.threshold.toFixed(3)})${weak ? `; ${weak} weaker, marked “below threshold”` : ""}`,
    answer.results.map((r) => faceTile(r, reason)), partialNotice(answer.incomplete));
  }, errors);

  faceForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (faceForm.reportValidity() && filtersValid(filters)) searchFace(null);
  });
  plateForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!filtersValid(filters)) return;
    busy(plateButton, async () => {
      const { reason, since, until, cameras } = filters.values();
      const answer = await request("GET", "/api/search/plate", { signal,
        params: { q: plate.value.trim(), mode: mode.value, reason, since, until, cameras, limit: 200 } });
      show(results, `${answer.results.length} sighting(s) for ${mode.value} “${plate.value.trim()}”`,
        answer.results.map((r) => sightingTile(r.sighting, `${r.match} · read ${r.matched_read}`
          + (r.distance ? ` (edit distance ${r.distance.toFixed(2)})` : ""), reason)));
    }, errors);
  });

  fill(container, h("div", { class: "investigate" },
    h("h2", {}, "Investigate"),
    filters.element,
    h("div", { class: "search-forms" }, faceForm, plateForm),
    errors, results));
  if (params.get("sighting")) {
    filtersValid(filters) && searchFace(params.get("sighting"));
  }
}

/** A face result's tile: its band (match / possible / unlikely) and similarity; one under the calibrated
 * threshold says so and is shown dimmed. */
function faceTile(result, reason) {
  const score = `${result.below_threshold ? "below threshold · " : ""}${result.band} · similarity `
    + result.similarity.toFixed(2);
  const tile = sightingTile(result.sighting, score, reason);
  tile.dataset.band = result.band;
  if (result.below_threshold) tile.classList.add("below-threshold");
  return tile;
}

/** Whether the filters are filled in correctly (the browser shows what is missing). */
function filtersValid(filters) {
  return [...filters.element.querySelectorAll("input")].every((input) => input.reportValidity());
}

function show(results, title, tiles, notice = null) {
  fill(results, h("h3", {}, title), notice,
    tiles.length ? h("div", { class: "grid" }, tiles) : h("p", { class: "muted" }, "Nothing found."));
}

/** The banner of a partial face search: the time ranges the index could not search (a partition being rebuilt
 * from the store, a lost index shard), so that fewer results are never taken for all there are. */
function partialNotice(incomplete) {
  if (!incomplete || !incomplete.length) return null;
  return h("p", { class: "partial", role: "alert" },
    h("strong", {}, "Partial results: "),
    `the face index could not search ${incomplete.map((r) => formatSpan(r.since, r.until)).join(", ")} `
    + "(being rebuilt from the store); sightings from then may be missing. Search again shortly.");
}
