// Form parts shared by the search and trajectory pages: the audited reason, time and camera
// filters, and a face-photo drop zone.

import { request } from "./api.js";
import { field, h, inputTime } from "./dom.js";

const REASON_KEY = "skynet.reason";

/**
 * Reason, time range and camera filters. `values()` gives {reason, since, until, cameras}
 * (cameras: the ticked ids, or [] for all); the reason is remembered for this session.
 */
export function queryFilters(signal) {
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500,
    value: sessionStorage.getItem(REASON_KEY) || "", placeholder: "e.g. case 2026-001" });
  const since = h("input", { type: "datetime-local", name: "since", step: 1 });
  const until = h("input", { type: "datetime-local", name: "until", step: 1 });
  const cameraBox = h("div", { class: "checks" }, h("span", { class: "muted" }, "loading cameras…"));
  request("GET", "/api/cameras", { signal }).then((cameras) => {
    cameraBox.replaceChildren(...cameras.map((c) => h("label", { class: "check" },
      h("input", { type: "checkbox", name: "camera", value: c.id }), c.name)));
    if (!cameras.length) cameraBox.replaceChildren("no cameras");
  }, (error) => cameraBox.replaceChildren(error.message));
  const element = h("fieldset", { class: "filters" },
    h("legend", {}, "Reason and filters"),
    field("Reason or case number", reason, "required; kept in the audit log with the query"),
    h("div", { class: "row" }, field("From", since), field("Until", until)),
    h("div", {}, h("span", { class: "label" }, "Cameras (none ticked: all)"), cameraBox));
  return {
    element,
    values() {
      sessionStorage.setItem(REASON_KEY, reason.value.trim());
      return {
        reason: reason.value.trim(), since: inputTime(since), until: inputTime(until),
        cameras: [...cameraBox.querySelectorAll("input:checked")].map((input) => input.value),
      };
    },
  };
}

/**
 * A drop zone for a face photo (drag and drop, or click to choose). `file()` gives the chosen
 * File or null; `onChange(file)` is called when one is chosen.
 */
export function photoDrop(onChange = () => {}, { multiple = false } = {}) {
  let files = [];
  const input = h("input", { type: "file", accept: "image/*", multiple, hidden: true, name: "photo" });
  const preview = h("div", { class: "drop-preview" });
  const zone = h("div", { class: "dropzone", tabindex: 0, role: "button" },
    h("span", {}, multiple ? "Drop face photos here, or click to choose" : "Drop a face photo here, or click to choose"),
    preview, input);
  const choose = (chosen) => {
    files = [...chosen].filter((f) => f.type.startsWith("image/") || !f.type);
    preview.replaceChildren(...files.map((f) => {
      const img = h("img", { alt: f.name, title: f.name });
      img.src = URL.createObjectURL(f);
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
      return img;
    }));
    zone.classList.toggle("has-file", files.length > 0);
    onChange(files[0] || null);
  };
  zone.addEventListener("click", (event) => event.target !== input && input.click());
  zone.addEventListener("keydown", (event) => (event.key === "Enter" || event.key === " ") && input.click());
  input.addEventListener("change", () => choose(input.files));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    choose(event.dataTransfer.files);
  });
  return { element: zone, file: () => files[0] || null, files: () => files, clear: () => choose([]) };
}

/** Adds `filters` ({since, until, cameras}) to `form` (FormData) or returns them as params. */
export function addFilters(form, { since, until, cameras }) {
  if (since !== null) form.append("since", since);
  if (until !== null) form.append("until", until);
  for (const camera of cameras) form.append("cameras", camera);
  return form;
}
