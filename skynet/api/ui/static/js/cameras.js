// Management: cameras — the list with live status, adding, editing (source URLs are write-only:
// the server shows them redacted, and an empty field keeps the stored one) and removing. https://
// and rtsps:// cameras have their certificate verified, against a CA file on the server if one is set.

import { may, request } from "./api.js";
import { askReason, busy, field, fill, h, notify, showError } from "./dom.js";
import { badge } from "./wall.js";

export function render(container, signal) {
  const table = h("div", { class: "table-box" });
  const form = may("manage_cameras") ? cameraForm(() => load(), signal) : null;
  const load = async () => {
    try {
      const cameras = await request("GET", "/api/cameras", { signal });
      const statuses = await Promise.all(cameras.map((c) => request("GET",
        `/api/cameras/${encodeURIComponent(c.id)}/status`, { signal }).catch(() => null)));
      fill(table, camerasTable(cameras, statuses, form, load));
    } catch (error) {
      showError(error, "cameras");
    }
  };
  fill(container, h("h3", {}, "Cameras"), table, form ? form.element : null);
  load();
}

function camerasTable(cameras, statuses, form, reload) {
  if (!cameras.length) return h("p", { class: "muted" }, "No cameras.");
  const remove = async (camera, button) => {
    const reason = await askReason(`Remove camera “${camera.name}”? Its worker stops.`);
    if (!reason) return;
    busy(button, async () => {
      await request("DELETE", `/api/cameras/${encodeURIComponent(camera.id)}`, { params: { reason } });
      notify(`removed camera ${camera.id}`);
      reload();
    });
  };
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, ["Camera", "Status", "Source", "Position", "Tags", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, cameras.map((camera, i) => {
      const status = statuses[i];
      const removeButton = h("button", { class: "small danger", onclick: () => remove(camera, removeButton) }, "Remove");
      return h("tr", { dataset: { cameraId: camera.id } },
        h("td", {}, h("strong", {}, camera.name), h("br"), h("small", { class: "muted" }, camera.id)),
        h("td", {}, camera.live ? badge(status && status.running ? status.state : null) : "—",
          status && status.last_error ? h("small", { class: "error" }, status.last_error) : null),
        h("td", { class: "source" }, camera.live ? [camera.source, tlsNote(camera)]
          : h("span", { class: "muted" }, "no stream (archive only)")),
        h("td", {}, camera.latitude !== null ? `${camera.latitude.toFixed(5)}, ${camera.longitude.toFixed(5)}` : "—"),
        h("td", {}, camera.tags.join(", ")),
        h("td", { class: "actions" }, form ? [
          h("button", { class: "small secondary", onclick: () => form.edit(camera) }, "Edit"), removeButton] : null));
    })));
}

function tlsNote(camera) {
  if (!camera.tls_verify) return h("small", { class: "error tls" }, "TLS certificate not verified");
  return camera.tls_ca_file ? h("small", { class: "muted tls" }, `CA file ${camera.tls_ca_file}`) : null;
}

function cameraForm(reload, signal) {
  let editing = null;
  const id = h("input", { name: "id", required: true, maxLength: 100, pattern: "[A-Za-z0-9_.\\-]+" });
  const name = h("input", { name: "name", required: true, maxLength: 200 });
  const source = h("input", { name: "source_url", maxLength: 2000, placeholder: "rtsp://user:password@host/stream" });
  const latitude = h("input", { type: "number", name: "latitude", min: -90, max: 90, step: "any" });
  const longitude = h("input", { type: "number", name: "longitude", min: -180, max: 180, step: "any" });
  const tags = h("input", { name: "tags", placeholder: "gate, north" });
  const caFile = h("input", { name: "tls_ca_file", maxLength: 4096, placeholder: "/etc/skynet/cameras-ca.pem" });
  const verify = h("input", { type: "checkbox", name: "tls_verify", checked: true });
  const archiveOnly = h("input", { type: "checkbox", name: "archive_only" });
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500 });
  const title = h("h4", {}, "Add a camera");
  const button = h("button", { type: "submit" }, "Add camera");
  const cancel = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => reset() }, "Cancel");
  const errors = h("div", { class: "form-errors" });
  const element = h("form", { class: "card stack", name: "camera-form" }, title,
    h("div", { class: "row" }, field("Id", id), field("Name", name)),
    field("Source URL", source, "write-only: shown redacted afterwards; when editing, empty keeps the stored one"),
    h("label", { class: "check" }, archiveOnly,
      "no stream: archive footage only, or a checkpoint (a name and a position; nothing runs)"),
    h("div", { class: "row" }, field("Latitude", latitude), field("Longitude", longitude), field("Tags", tags)),
    h("div", { class: "row" },
      field("TLS CA file (https/rtsps)", caFile, "PEM file on the server: the camera's certificate or its CA's"),
      h("label", { class: "check" }, verify, "verify the camera's TLS certificate (off: trust any; audited)")),
    field("Reason or case number", reason, "required; kept in the audit log with the change"),
    h("div", { class: "row" }, button, cancel), errors);
  const reset = () => {
    editing = null;
    element.reset();
    id.disabled = false;
    title.textContent = "Add a camera";
    button.textContent = "Add camera";
    cancel.hidden = true;
    verify.checked = true;
  };
  const number = (input) => (input.value === "" ? null : Number(input.value));
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      const body = { name: name.value.trim(), latitude: number(latitude), longitude: number(longitude),
        tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
        tls_verify: verify.checked, tls_ca_file: caFile.value.trim() || null, reason: reason.value.trim() };
      if (archiveOnly.checked) {
        if (source.value.trim()) throw new Error("a camera without a stream has no source URL");
        if (editing) body.source_url = null;
      } else if (source.value.trim()) body.source_url = source.value.trim();
      if (editing) {
        await request("PATCH", `/api/cameras/${encodeURIComponent(editing)}`, { body, signal });
        notify(`updated camera ${editing}`);
      } else {
        if (!body.source_url && !archiveOnly.checked) {
          throw new Error("a new camera needs its source URL, or tick “no stream”");
        }
        await request("POST", "/api/cameras", { body: { id: id.value.trim(), ...body }, signal });
        notify(`added camera ${id.value.trim()}`);
      }
      reset();
      reload();
    }, errors);
  });
  return {
    element,
    edit(camera) {
      editing = camera.id;
      id.value = camera.id;
      id.disabled = true;
      name.value = camera.name;
      source.value = "";
      latitude.value = camera.latitude ?? "";
      longitude.value = camera.longitude ?? "";
      tags.value = camera.tags.join(", ");
      caFile.value = camera.tls_ca_file ?? "";
      verify.checked = camera.tls_verify;
      archiveOnly.checked = !camera.live;
      title.textContent = `Edit camera ${camera.id}`;
      button.textContent = "Save changes";
      cancel.hidden = false;
      element.scrollIntoView({ behavior: "smooth" });
    },
  };
}
