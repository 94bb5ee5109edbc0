// Management: re-index jobs — starting one over archive files on the server, and the server's
// newest jobs with their progress (polled while any of them runs); a queued or running job can be
// cancelled (asking for the reason, audited): it stops where it is and a later job resumes there.

import { request } from "./api.js";
import { askReason, busy, field, fill, formatTime, h, inputTime, showError } from "./dom.js";

const POLL_MS = 1000;
const SHOWN = 20;

export function render(container, signal) {
  const list = h("div", { class: "jobs" });
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    const jobs = await request("GET", `/api/jobs?limit=${SHOWN}`, { signal });
    const cards = jobs.map((job) => jobCard(job, signal, poll));
    fill(list, cards.length ? cards : h("p", { class: "muted" }, "No jobs yet."));
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

function jobCard(job, signal, changed) {
  const total = job.files_total || 0;
  const stateClass = { done: "ok", failed: "bad", running: "warn", queued: "idle", cancelled: "idle" }[job.state];
  const unfinished = job.state === "queued" || job.state === "running";
  return h("article", { class: "job card", dataset: { jobId: job.id, state: job.state } },
    h("header", {}, h("strong", {}, `Job #${job.id}: ${job.kind}`),
      h("span", { class: `badge ${stateClass}` }, job.state), unfinished ? cancelButton(job, signal, changed) : null),
    h("progress", { max: Math.max(total, 1), value: job.state === "done" ? Math.max(total, 1) : job.files_done }),
    h("div", {}, `${job.files_done} of ${total} file(s) · ${job.frames} frames · ${job.sightings} sightings`),
    h("small", { class: "muted" },
      `started ${formatTime(job.created_at)} by ${job.created_by}; updated ${formatTime(job.updated_at)}`),
    job.errors.length ? h("ul", { class: "error" }, job.errors.map((e) => h("li", {}, e))) : null);
}

/** A button that cancels ``job`` after asking for the reason (audited); what the job committed stays. */
function cancelButton(job, signal, changed) {
  const button = h("button", {
    class: "small", name: "cancel", onclick: async () => {
      const reason = await askReason(`Cancel job #${job.id} (what it has done so far is kept; run it again to resume)`);
      if (!reason) return;
      button.disabled = true;
      request("POST", `/api/jobs/${job.id}/cancel`, { body: { reason }, signal }).then(changed, (error) => {
        button.disabled = false;
        showError(error, "cancelling the job");
      });
    },
  }, "Cancel");
  return button;
}
