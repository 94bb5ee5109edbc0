// The live wall: every camera with its status badge and a live preview with boxes, and the alert feed.
//
// Browsers keep at most 6 HTTP/1.1 connections per server and each MJPEG stream holds one, so at most
// MAX_STREAMS cameras stream at once; the others show a snapshot refreshed every few seconds.

import { fetchImage, may, request, session } from "./api.js";
import { acknowledgeAllButton, alertFeed } from "./alerts.js";
import { fill, formatTime, h } from "./dom.js";
import { live } from "./live.js";
import { playMjpeg } from "./mjpeg.js";

const MAX_STREAMS = 4;
const PREVIEW_FPS = 2;
const SNAPSHOT_EVERY_MS = 5000;
const RETRY_MS = 3000;
const PICTURE_STATES = new Set(["online", "stalled"]);

/** The CSS class of a camera state: ok, warn, bad or idle. */
export function stateClass(state) {
  if (state === "online") return "ok";
  if (["connecting", "reconnecting", "stalled"].includes(state)) return "warn";
  if (["offline", "failed"].includes(state)) return "bad";
  return "idle";
}

/** A status badge for a camera state (null: no worker runs). */
export function badge(state) {
  const text = state || "not running";
  return h("span", { class: `badge ${stateClass(state)}`, dataset: { state: text } }, text);
}

export async function render(container, signal) {
  const grid = h("div", { class: "camera-grid" }, h("p", { class: "muted" }, "Loading cameras…"));
  const feed = h("ol", { class: "alert-feed" });
  fill(container, h("div", { class: "wall" },
    h("section", { class: "cameras" }, h("h2", {}, "Cameras"), grid),
    may("handle_alerts")
      ? h("section", { class: "feed" }, h("div", { class: "row" }, h("h2", {}, "Alerts"), acknowledgeAllButton(signal)),
        feed)
      : null));
  if (may("handle_alerts")) alertFeed(feed, signal);

  // only cameras with a stream: archive-only cameras and checkpoints have nothing to show live
  const cameras = (await request("GET", "/api/cameras", { signal })).filter((camera) => camera.live);
  if (!cameras.length) {
    fill(grid, h("p", { class: "muted" }, "No cameras with a stream yet. Add one under Manage → Cameras."));
    return;
  }
  const tiles = new Map(cameras.map((camera) => [camera.id, new CameraTile(camera, signal)]));
  fill(grid, [...tiles.values()].map((tile) => tile.element));
  const streaming = () => [...tiles.values()].filter((t) => t.streaming).length;
  const update = (status) => {
    const tile = tiles.get(status.camera_id);
    if (!tile) return;
    tile.setStatus(status);
    if (tile.hasPicture && !tile.streaming && streaming() < MAX_STREAMS) tile.stream();
  };
  live.addEventListener("camera_status", (event) => update(event.detail.data), { signal });
  const statuses = await Promise.all(cameras.map((c) => request("GET",
    `/api/cameras/${encodeURIComponent(c.id)}/status`, { signal })
    .catch((error) => ({ camera_id: c.id, running: false, last_error: error.message }))));
  if (signal.aborted) return;
  statuses.forEach((status) => update({ ...status, state: status.running ? status.state : null }));
  const refresh = setInterval(() => {
    for (const tile of tiles.values()) if (tile.hasPicture && !tile.streaming) tile.snapshot();
  }, SNAPSHOT_EVERY_MS);
  signal.addEventListener("abort", () => clearInterval(refresh));
}

class CameraTile {
  constructor(camera, signal) {
    this.camera = camera;
    this.signal = signal;
    this.state = undefined;
    this.streaming = false;
    this.img = h("img", { alt: `live preview of ${camera.name}` });
    this.placeholder = h("div", { class: "no-picture" }, "waiting for the first frame…");
    this.badge = h("span");
    this.info = h("div", { class: "camera-info muted" });
    this.element = h("article", { class: "camera-tile", dataset: { cameraId: camera.id } },
      h("div", { class: "preview" }, this.img, this.placeholder),
      h("header", {}, h("strong", {}, camera.name), this.badge),
      h("small", { class: "muted" }, camera.id),
      this.info);
  }

  get hasPicture() {
    return PICTURE_STATES.has(this.state);
  }

  setStatus(status) {
    this.state = status.state;
    const error = status.last_error || status.problem; // live events carry only the `problem` anyone may see
    fill(this.badge, badge(status.state));
    const fps = status.input_fps !== null && status.input_fps !== undefined
      ? `${status.input_fps.toFixed(1)} fps in, ${status.analysed_fps.toFixed(1)} analysed` : "";
    fill(this.info,
      fps ? h("span", {}, fps) : null,
      status.last_frame_time ? h("span", {}, `last frame ${formatTime(status.last_frame_time)}`) : null,
      error && !this.hasPicture ? h("span", { class: "error" }, error) : null);
    if (!this.hasPicture && !this.streaming) {
      this.placeholder.textContent = `no picture: ${status.state || "camera not running"}`;
    }
  }

  shown() {
    this.placeholder.hidden = true;
    this.img.classList.add("live");
  }

  /** Streams the live preview until the page is left, reopening it while the camera has a picture. */
  async stream() {
    this.streaming = true;
    const url = `/api/cameras/${encodeURIComponent(this.camera.id)}/preview?fps=${PREVIEW_FPS}`;
    try {
      while (!this.signal.aborted && this.hasPicture) {
        try {
          await playMjpeg(url, session().token, this.img, this.signal, () => this.shown());
        } catch (error) {
          if (error.name === "AbortError") return;
          this.placeholder.textContent = error.message;
        }
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    } finally {
      this.streaming = false;
    }
  }

  async snapshot() {
    try {
      const url = await fetchImage(`/api/cameras/${encodeURIComponent(this.camera.id)}/snapshot`);
      const old = this.img.src;
      this.img.src = url;
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      this.shown();
    } catch (error) {
      if (error.status !== 404) this.placeholder.textContent = error.message;
    }
  }
}
