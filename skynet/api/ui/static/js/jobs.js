// Management: re-index jobs — starting one over archive files on the server, and the server's
// newest jobs with their progress (polled while any of them runs).

import { request } from "./api.js";
import { busy, field, fill, formatTime, h, inputTime, showError } from "./dom.js";

const POLL_MS = 1000;
const SHOWN = 20;

export function render(container, signal) {
  const list = h("div", { class: "jobs" });
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    const jobs = await request("GET", `/api/jobs?limit=${SHOWN}`, { signal });
    fill(list, jobs.length ? jobs.map(jobCard) : h("p", { class: "muted" }, "No jobs yet."));
    if (jobs.some((j) => j.state === "queued" || j.state === "running")) timer = setTimeout(poll, POLL_MS);
  };
  const poll = () => refresh().catch((error) => showError(error, "jobs"));
  signal.addEventListener("abort", () => clearTimeout(timer));
  fill(container, h("h3", {}, "Re-index jobs"), startForm(signal, poll), h("h4", {}, `Newest ${SHOWN} jobs`), list);
  poll();
}

function startForm(signal, started) {
  const paths = h("textarea", { name: "paths", required: true, rows: 3,
    placeholder: "files or folders inside the archive roots" });
  const camera = h("select", { name: "camera", required: true });
  request("GET", "/api/cameras", { signal }).then((cameras) => camera.replaceChildren(
    ...cameras.map((c) => h("option", { value: c.id }, `${c.name} (${c.id})`))), (error) => showError(error, "cameras"));
  const start = h("input", { type: "datetime-local", name: "start", step: 1 });
  const force = h("input", { type: "checkbox", name: "force" });
  const reason = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500 });
  const button = h("button", { type: "submit" }, "Start re-index");
  const errors = h("div", { class: "form-errors" });
  const form = h("form", { class: "card stack", name: "reindex" }, h("h4", {}, "Re-index archive files"),
    field("Files or folders on the server, one per line", paths),
    h("div", { class: "row" }, field("As camera", camera),
      field("Start time of the first frame", start, "empty: from the file's metadata or name"),
      h("label", { class: "check" }, force, "redo files done before (admins: deletes their sightings but held evidence)")),
    field("Reason or case number", reason, "required; kept in the audit log"),
    button, errors);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      const body = { paths: paths.value.split("\n").map((p) => p.trim()).filter(Boolean), camera: camera.value,
        start: inputTime(start), force: force.checked, reason: reason.value.trim() };
      await request("POST", "/api/jobs/reindex", { body, signal });
      started();
    }, errors);
  });
  return form;
}

function jobCard(job) {
  const total = job.files_total || 0;
  const stateClass = { done: "ok", failed: "bad", running: "warn", queued: "idle" }[job.state];
  return h("article", { class: "job card", dataset: { jobId: job.id, state: job.state } },
    h("header", {}, h("strong", {}, `Job #${job.id}: ${job.kind}`),
      h("span", { class: `badge ${stateClass}` }, job.state)),
    h("progress", { max: Math.max(total, 1), value: job.state === "done" ? Math.max(total, 1) : job.files_done }),
    h("div", {}, `${job.files_done} of ${total} file(s) · ${job.frames} frames · ${job.sightings} sightings`),
    h("small", { class: "muted" },
      `started ${formatTime(job.created_at)} by ${job.created_by}; updated ${formatTime(job.updated_at)}`),
    job.errors.length ? h("ul", { class: "error" }, job.errors.map((e) => h("li", {}, e))) : null);
}
