// The live connection: the /api/live WebSocket, reconnected with back-off; its events re-dispatched by
// type ("alert", "sighting", "camera_status") plus "state" when the connection opens or drops. A
// browser cannot set headers on a WebSocket and a token in its URL would be written to logs, so each
// connection opens with a single-use stream ticket asked for (with the token) just before.

import { streamTicket } from "./api.js";

const MAX_BACKOFF_MS = 15000;

export class LiveConnection extends EventTarget {
  constructor() {
    super();
    this.socket = null;
    this.token = null;
    this.run = 0; // which start() the pending connection belongs to
    this.backoff = 500;
    this.timer = null;
    this.state = "closed";
  }

  /** Connects with `token` (reconnecting until stop()). */
  start(token) {
    this.stop();
    this.token = token;
    this.connect();
  }

  /** Closes the connection and stops reconnecting. */
  stop() {
    this.token = null;
    this.run += 1;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
    this.setState("closed", "");
  }

  async connect() {
    const run = this.run;
    this.setState("connecting", "");
    let ticket;
    try {
      ticket = await streamTicket("/api/live", this.token);
    } catch (error) {
      if (run !== this.run) return;
      // 401/403: the server refused the token or role; retrying will not help
      if (error.status === 401 || error.status === 403) this.setState("refused", error.message);
      else this.retry(error.message);
      return;
    }
    if (run !== this.run) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/live?ticket=${encodeURIComponent(ticket)}`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.backoff = 500;
      this.setState("open", "");
    });
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      this.dispatchEvent(new CustomEvent(event.type, { detail: event }));
    });
    socket.addEventListener("close", (close) => {
      if (socket !== this.socket || run !== this.run) return;
      // 1008: the server refused the session or role; retrying will not help
      if (close.code === 1008) {
        this.setState("refused", close.reason || "the live stream refused this session");
        return;
      }
      this.retry(close.reason || "connection lost");
    });
  }

  retry(reason) {
    this.setState("reconnecting", reason);
    this.timer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  setState(state, reason) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, reason } }));
  }
}

/** The one live connection of the page. */
export const live = new LiveConnection();

let audio = null;
let soundOn = localStorage.getItem("skynet.sound") !== "off";

/** Whether alerts beep. */
export function soundEnabled() {
  return soundOn;
}

/** Turns the alert sound on or off (remembered in this browser). */
export function setSound(on) {
  soundOn = on;
  localStorage.setItem("skynet.sound", on ? "on" : "off");
  if (on) unlockAudio();
}

/** Browsers allow sound only after a user gesture: call this from one (signing in, a click). */
export function unlockAudio() {
  audio = audio || new AudioContext();
  if (audio.state === "suspended") audio.resume().catch(() => {});
}

/** Two short tones (generated, no sound file). */
export function beep() {
  if (!soundOn || !audio || audio.state !== "running") return;
  const now = audio.currentTime;
  for (const [offset, frequency] of [[0, 880], [0.18, 660]]) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, now + offset);
    gain.gain.exponentialRampToValueAtTime(0.25, now + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.15);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(now + offset);
    oscillator.stop(now + offset + 0.16);
  }
}
