// A live MJPEG preview (multipart/x-mixed-replace) read with fetch, so that it can carry the
// Authorization header an <img src> cannot send; each JPEG part is shown in an <img>.

import { describe } from "./api.js";

const CRLF2 = [13, 10, 13, 10];

/** Finds `needle` (bytes) in `bytes` from `start`; -1 when absent. */
function indexOf(bytes, needle, start) {
  outer: for (let i = start; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Splits a multipart byte stream into its parts' bodies. Each part has headers with a
 * Content-Length (Skynet's preview always sends one), a blank line, then that many bytes.
 */
export class PartReader {
  constructor() {
    this.buffer = new Uint8Array(0);
  }

  /** Adds `chunk` and returns the bodies completed by it. */
  push(chunk) {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    this.buffer = joined;
    const bodies = [];
    for (;;) {
      const end = indexOf(this.buffer, CRLF2, 0);
      if (end < 0) break;
      const headers = new TextDecoder().decode(this.buffer.subarray(0, end));
      const match = /content-length:\s*(\d+)/i.exec(headers);
      if (!match) throw new Error("preview part without Content-Length");
      const start = end + CRLF2.length;
      const length = Number(match[1]);
      if (this.buffer.length < start + length) break;
      bodies.push(this.buffer.slice(start, start + length));
      this.buffer = this.buffer.slice(start + length);
    }
    return bodies;
  }
}

/**
 * Streams `url` into `img` until `signal` aborts; calls `onFrame()` after each frame is shown.
 * Rejects with the HTTP error or network failure.
 */
export async function playMjpeg(url, token, img, signal, onFrame = () => {}) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal });
  if (!response.ok) {
    throw new Error(describe(response.status, await response.json().catch(() => null)));
  }
  const reader = response.body.getReader();
  const parts = new PartReader();
  let shown = null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const body of parts.push(value)) {
        const next = URL.createObjectURL(new Blob([body], { type: "image/jpeg" }));
        img.src = next;
        if (shown) URL.revokeObjectURL(shown);
        shown = next;
        onFrame();
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
