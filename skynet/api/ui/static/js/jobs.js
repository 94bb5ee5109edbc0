// Management: re-index jobs — starting one over archive files on the server, and the progress of
// the jobs started or looked up in this browser session (polled while they run).

import { request } from "./api.js";
import { busy, field, fill, formatTime, h, inputTime, showError } from "./dom.js";

const KEY = "skynet.jobs";
const POLL_MS = 1000;

const known = () => JSON.parse(sessionStorage.getItem(KEY) || "[]");
const remember = (id) => sessionStorage.setItem(KEY,
  JSON.stringify([id, ...known().filter((j) => j !== id)].slice(0, 20)));

export function render(container, signal) {
  const list = h("div", { class: "jobs" });
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    const jobs = await Promise.all(known().map((id) => request("GET", `/api/jobs/${id}`, { signal })
      .catch((error) => ({ id, error: error.message }))));
    fill(list, jobs.length ? jobs.map(jobCard) : h("p", { class: "muted" }, "No jobs started in this session."));
    if (jobs.some((j) => j.state === "queued" || j.state === "running")) timer = setTimeout(poll, POLL_MS);
  };
  const poll = () => refresh().catch((error) => showError(error, "job progress"));
  signal.addEventListener("abort", () => clearTimeout(timer));

  const lookup = h("input", { type: "number", name: "job_id", min: 1, placeholder: "job #" });
  const lookupForm = h("form", { class: "row", onsubmit: (event) => {
    event.preventDefault();
    if (lookup.value) remember(Number(lookup.value));
    lookup.value = "";
    poll();
  } }, field("Show job", lookup), h("button", { type: "submit", class: "secondary" }, "Show"));

  fill(container, h("h3", {}, "Re-index jobs"), startForm(signal, (id) => {
    remember(id);
    poll();
  }), lookupForm, list);
  poll();
}

function startForm(signal, started) {
  const paths = h("textarea", { name: "paths", required: true, rows: 3,
    placeholder: "/archive/gate-1/\n/archive/clip.mp4" });
  const camera = h("select", { name: "camera", required: true });
  request("GET", "/api/cameras", { signal }).then((cameras) => camera.replaceChildren(
    ...cameras.map((c) => h("option", { value: c.id }, `${c.name} (${c.id})`))), (error) => showError(error, "cameras"));
  const start = h("input", { type: "datetime-local", name: "start", step: 1 });
  const force = h("input", { type: "checkbox", name: "force" });
  const button = h("button", { type: "submit" }, "Start re-index");
  const errors = h("div", { class: "form-errors" });
  const form = h("form", { class: "card stack", name: "reindex" }, h("h4", {}, "Re-index archive files"),
    field("Files or folders on the server, one per line", paths),
    h("div", { class: "row" }, field("As camera", camera),
      field("Start time of the first frame", start, "empty: from the file's metadata or name"),
      h("label", { class: "check" }, force, "redo files done before")),
    button, errors);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      const body = { paths: paths.value.split("\n").map((p) => p.trim()).filter(Boolean), camera: camera.value,
        start: inputTime(start), force: force.checked };
      const job = await request("POST", "/api/jobs/reindex", { body, signal });
      started(job.id);
    }, errors);
  });
  return form;
}

function jobCard(job) {
  if (job.error) return h("article", { class: "job card" }, h("strong", {}, `Job #${job.id}`), " ",
    h("span", { class: "error" }, job.error));
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
