// DOM helpers: elements built from data (text is always set as text, never parsed as HTML),
// times, messages to the user and small dialogs.

/**
 * A new element. `attrs`: properties and attributes (`class`, `dataset`, `on<event>` handlers,
 * anything else via setAttribute; null/false leave it out). `children`: nodes, strings, arrays.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key in element && typeof value !== "string") element[key] = value;
    else element.setAttribute(key, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (Array.isArray(child)) append(element, child);
    else if (child !== null && child !== undefined && child !== false) {
      element.append(child instanceof Node ? child : String(child));
    }
  }
}

/** Replaces `element`'s children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** Local date and time of Unix seconds, e.g. "2026-11-23 14:05:09". */
export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A time range: "2026-11-23 14:05:09 → 14:07:30" (the date once when both are on one day). */
export function formatSpan(start, end) {
  const [a, b] = [formatTime(start), formatTime(end)];
  return a.slice(0, 10) === b.slice(0, 10) ? `${a} → ${b.slice(11)}` : `${a} → ${b}`;
}

/** A duration in seconds as "45 s", "12 min", "3 h 20 min". */
export function formatDuration(seconds) {
  const s = Math.abs(seconds);
  if (s < 90) return `${Math.round(seconds)} s`;
  if (s < 5400) return `${Math.round(seconds / 60)} min`;
  const hours = Math.floor(s / 3600);
  return `${Math.sign(seconds) < 0 ? "-" : ""}${hours} h ${Math.round((s - hours * 3600) / 60)} min`;
}

/** Unix seconds of a <input type="datetime-local"> value (local time), or null when empty. */
export function inputTime(input) {
  return input.value ? new Date(input.value).getTime() / 1000 : null;
}

const toasts = () => document.getElementById("toasts");

/** A short message in the corner; kind "error" stays until closed. */
export function notify(message, kind = "info") {
  const close = () => item.remove();
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, message), h("button", { class: "link", title: "close", onclick: close }, "×"));
  toasts().append(item);
  if (kind !== "error") setTimeout(close, 5000);
  return item;
}

/** Shows an API or other error to the user (AbortErrors from left pages are ignored). */
export function showError(error, doing) {
  if (error && error.name === "AbortError") return;
  const message = error && error.message ? error.message : String(error);
  notify(doing ? `${doing}: ${message}` : message, "error");
}

/**
 * Runs `action` while `button` shows it is busy; the error, if any, goes into `output` (an element
 * under the form) or a toast. Resolves to the action's result, or undefined after an error.
 */
export async function busy(button, action, output) {
  button.disabled = true;
  button.classList.add("busy");
  if (output) fill(output);
  try {
    return await action();
  } catch (error) {
    if (error.name === "AbortError") return undefined;
    if (output) fill(output, h("p", { class: "error", role: "alert" }, error.message));
    else showError(error);
    return undefined;
  } finally {
    button.disabled = false;
    button.classList.remove("busy");
  }
}

/** Opens the shared modal dialog with `content`; resolves when it closes. */
export function openDialog(title, ...content) {
  const dialog = document.getElementById("dialog");
  fill(dialog,
    h("header", {}, h("h2", {}, title),
      h("button", { class: "link close", title: "close", onclick: () => dialog.close() }, "×")),
    h("div", { class: "dialog-body" }, content));
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
}

/** Closes the shared dialog. */
export function closeDialog() {
  document.getElementById("dialog").close();
}

/** Asks for a reason or case number (audited); resolves to the text, or null when cancelled. */
export function askReason(title, remembered = "") {
  return new Promise((resolve) => {
    let answer = null;
    const input = h("input", { name: "reason", required: true, minLength: 3, maxLength: 500, value: remembered,
      placeholder: "reason or case number" });
    const form = h("form", {
      class: "stack", onsubmit: (event) => {
        event.preventDefault();
        answer = input.value.trim();
        closeDialog();
      },
    }, h("label", {}, "Reason or case number (kept in the audit log)", input),
    h("div", { class: "row" }, h("button", { type: "submit" }, "Confirm"),
      h("button", { type: "button", class: "secondary", onclick: closeDialog }, "Cancel")));
    openDialog(title, form).then(() => resolve(answer));
    input.focus();
  });
}

/** A labelled form field. */
export function field(label, input, hint) {
  return h("label", {}, h("span", {}, label), input, hint ? h("small", {}, hint) : null);
}
