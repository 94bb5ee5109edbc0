// Alerts: the newest ones from /api/alerts, new ones from the live connection (with a sound and a
// flashing badge wherever the user is), acknowledging, and the feed shown on the live wall.

import { linkExpired, request, showImage } from "./api.js";
import { askReason, fill, formatTime, h, notify, showError } from "./dom.js";
import { beep, live } from "./live.js";
import { openContext } from "./sighting.js";

const LOADED = 50;

class AlertBook extends EventTarget {
  constructor() {
    super();
    // newest first: AlertOut fields plus label and kind (the entry's), plate (when known) and fresh (arrived live)
    this.alerts = [];
    this.labels = new Map(); // watch-list entry id -> label
    this.kinds = new Map(); // watch-list entry id -> "face" or "plate"
    live.addEventListener("alert", (event) => this.received(event.detail));
  }

  /** Loads the newest alerts and the watch-list labels they refer to. */
  async load() {
    const [alerts, entries] = await Promise.all([
      request("GET", "/api/alerts", { params: { limit: LOADED } }),
      request("GET", "/api/watchlist", { params: { state: "all" } }),
    ]);
    this.labels = new Map(entries.map((e) => [e.id, e.label]));
    this.kinds = new Map(entries.map((e) => [e.id, e.kind]));
    this.alerts = alerts.map((a) => ({ ...a, label: this.labels.get(a.entry_id) ?? `entry ${a.entry_id}`,
      kind: this.kinds.get(a.entry_id), fresh: false }));
    this.changed();
  }

  clear() {
    this.alerts = [];
    this.changed();
  }

  received(event) {
    const d = event.data;
    const better = { sighting_id: d.sighting.id, score: d.score, plate: d.sighting.plate?.text,
      thumbnail_url: d.sighting.thumbnail_url, context_url: d.sighting.context_url, sightings: d.sightings };
    // acknowledged here or by an operator on another API node: shown at once, so two do not handle one alert
    const handled = { acknowledged_by: d.acknowledged_by ?? null, acknowledged_at: d.acknowledged_at ?? null };
    if (this.alerts.some((a) => a.id === d.alert_id)) {
      // the same pass seen better, or acknowledged (updated): the alert shows it, without a second alarm
      if (d.updated) {
        this.alerts = this.alerts.map((a) => (a.id === d.alert_id ? merged(a, { ...better, ...handled }) : a));
        this.changed();
      }
      return;
    }
    const alert = {
      id: d.alert_id, entry_id: d.entry.id, camera_id: d.camera_id, created_at: event.at, label: d.entry.label,
      kind: d.entry.kind, fresh: !d.updated && !handled.acknowledged_by, ...better, ...handled,
    };
    this.alerts = [alert, ...this.alerts].slice(0, LOADED * 2);
    this.changed();
    if (d.updated || handled.acknowledged_by) return; // raised while this page was away: listed, not rung again
    beep();
    notify(`Alert: ${alert.label} at camera ${alert.camera_id}`, "alert");
  }

  /** Unacknowledged alerts among those loaded. */
  get open() {
    return this.alerts.filter((a) => !a.acknowledged_by).length;
  }

  async acknowledge(id, reason) {
    const done = await request("POST", `/api/alerts/${id}/ack`, { body: { reason } });
    this.alerts = this.alerts.map((a) => (a.id === id ? merged(a, done) : a));
    this.changed();
  }

  /** Acknowledges every open alert (audited with `reason`); reloads the list. Resolves to how many. */
  async acknowledgeAll(reason) {
    const done = await request("POST", "/api/alerts/ack", { body: { reason } });
    await this.load();
    return done.acknowledged;
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }
}

/** `alert` with `fields`; an acknowledged one is no longer fresh, and the first acknowledgement is kept. */
function merged(alert, fields) {
  const next = { ...alert, ...fields };
  if (alert.acknowledged_by) {
    Object.assign(next, { acknowledged_by: alert.acknowledged_by, acknowledged_at: alert.acknowledged_at });
  }
  return next.acknowledged_by ? { ...next, fresh: false } : next;
}

/** The page's alerts. */
export const alerts = new AlertBook();

/** A button that acknowledges every open alert after asking for the reason (audited). */
export function acknowledgeAllButton(signal) {
  const button = h("button", {
    class: "small secondary", name: "acknowledge-all", onclick: async () => {
      const reason = await askReason("Acknowledge all open alerts");
      if (!reason) return;
      button.disabled = true;
      try {
        notify(`${await alerts.acknowledgeAll(reason)} alert(s) acknowledged`);
      } catch (error) {
        showError(error, "acknowledging the alerts");
      } finally {
        button.disabled = !alerts.open;
      }
    },
  }, "Acknowledge all");
  const update = () => { button.disabled = !alerts.open; };
  alerts.addEventListener("change", update, { signal });
  update();
  return button;
}

/** Renders the alert feed into `container`, kept up to date until `signal` aborts. */
export function alertFeed(container, signal) {
  const render = () => fill(container, alerts.alerts.length
    ? alerts.alerts.map(alertItem)
    : h("p", { class: "muted" }, "No alerts yet."));
  alerts.addEventListener("change", render, { signal });
  render();
}

function alertItem(alert) {
  const thumb = h("img", { class: "thumb", alt: `alert ${alert.id}` });
  if (alert.thumbnail_url) showImage(thumb, alert.thumbnail_url);
  thumb.addEventListener("click", async () => {
    let link = alert.context_url;
    if (!link || linkExpired(link)) { // links last minutes: the alert list is loaded again for new ones
      await alerts.load().catch(() => {});
      link = alerts.alerts.find((a) => a.id === alert.id)?.context_url || link;
    }
    openContext({ id: alert.sighting_id, context_url: link }, `Alert: ${alert.label}`);
  });
  const ack = h("button", {
    class: "small", onclick: async () => {
      const reason = await askReason(`Acknowledge alert #${alert.id} (its sighting is kept as evidence)`);
      if (!reason) return;
      ack.disabled = true;
      alerts.acknowledge(alert.id, reason).catch((error) => {
        ack.disabled = false;
        showError(error, "acknowledging the alert");
      });
    },
  }, "Acknowledge");
  return h("li", { class: `alert-item${alert.acknowledged_by ? " acked" : ""}${alert.fresh ? " fresh" : ""}`,
    dataset: { alertId: alert.id } },
  thumb,
  h("div", { class: "alert-text" },
    h("strong", {}, alert.label),
    h("span", {}, [`camera ${alert.camera_id}`, alert.plate, scoreText(alert),
      alert.sightings > 1 ? `${alert.sightings} sightings` : null].filter(Boolean).join(" · ")),
    h("time", {}, formatTime(alert.created_at)),
    alert.acknowledged_by
      ? h("span", { class: "muted acknowledged" }, [`acknowledged by ${alert.acknowledged_by}`,
        alert.acknowledged_at ? formatTime(alert.acknowledged_at) : null].filter(Boolean).join(" · "))
      : ack));
}

/** What an alert's score means: a plate read's confidence (calibrated: 0.98 is right 98 times in 100), or a
 * face's similarity to the entry. */
function scoreText(alert) {
  return alert.kind === "plate" ? `read confidence ${alert.score.toFixed(2)}` : `similarity ${alert.score.toFixed(2)}`;
}
