// The application shell: signing in and out, the header (pages by role, live state, alert count,
// sound), and the hash router that shows one page at a time (#/wall, #/investigate, ...).

import { may, resume, session, setUnauthorizedHandler, signIn, signOut } from "./api.js";
import { alerts } from "./alerts.js";
import { busy, field, fill, h, showError } from "./dom.js";
import { live, setSound, soundEnabled, unlockAudio } from "./live.js";
import * as analyses from "./analyses.js";
import * as browse from "./browse.js";
import * as feeds from "./feeds.js";
import * as investigate from "./investigate.js";
import * as manage from "./manage.js";
import * as trajectory from "./trajectory.js";
import * as wall from "./wall.js";

/** Page name -> [title, module, may the user open it]. */
const PAGES = {
  wall: ["Live wall", wall, () => may("view_cameras")],
  investigate: ["Investigate", investigate, () => may("search")],
  trajectory: ["Trajectory", trajectory, () => may("search")],
  analyses: ["Analyses", analyses, () => analyses.allowed().length > 0],
  sightings: ["Sightings", browse, () => may("search")],
  feeds: ["Feeds", feeds, () => feeds.allowed()],
  manage: ["Manage", manage, () => manage.sections().length > 0],
};

const view = document.getElementById("view");
const header = document.getElementById("header");
let page = null; // AbortController of the page shown
let signedIn = null; // AbortController of the header's listeners while signed in

function allowedPages() {
  return Object.keys(PAGES).filter((name) => PAGES[name][2]());
}

function route() {
  if (!session()) return;
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const allowed = allowedPages();
  const name = allowed.includes(path) ? path : allowed[0];
  if (!name) {
    fill(view, h("p", { class: "error" }, "Your role may not open any page."));
    return;
  }
  if (page) page.abort();
  page = new AbortController();
  for (const link of header.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.page === name);
  document.title = `${PAGES[name][0]} · Skynet`;
  view.dataset.page = name;
  Promise.resolve(PAGES[name][1].render(view, page.signal, new URLSearchParams(query || "")))
    .catch((error) => showError(error, PAGES[name][0]));
}

function showHeader(me) {
  signedIn = new AbortController();
  const { signal } = signedIn;
  const state = h("span", { class: "live-state", title: "live events" }, "live: connecting");
  const counter = h("a", { class: "alert-count", href: "#/wall", title: "unacknowledged alerts" }, "0");
  const sound = h("button", { class: "link", title: "alert sound" });
  const showSound = () => { sound.textContent = soundEnabled() ? "sound: on" : "sound: off"; };
  sound.addEventListener("click", () => {
    setSound(!soundEnabled());
    showSound();
  });
  showSound();
  live.addEventListener("state", (event) => {
    const { state: now, reason } = event.detail;
    state.textContent = now === "open" ? "live: connected" : `live: ${now}${reason ? ` (${reason})` : ""}`;
    state.dataset.state = now;
  }, { signal });
  alerts.addEventListener("change", () => {
    const open = alerts.open;
    counter.textContent = String(open);
    counter.classList.toggle("has-alerts", open > 0);
    if (alerts.alerts[0]?.fresh) {
      counter.classList.remove("flash");
      void counter.offsetWidth; // restart the animation
      counter.classList.add("flash");
    }
  }, { signal });
  const logout = h("button", { class: "secondary", name: "logout" }, "Log out");
  logout.addEventListener("click", () => busy(logout, () => end()));
  fill(header,
    h("a", { class: "brand", href: "#/" }, "Skynet"),
    h("nav", {}, allowedPages().map((name) => h("a", { href: `#/${name}`, dataset: { page: name } }, PAGES[name][0]))),
    h("div", { class: "status" }, state, may("handle_alerts") ? h("span", {}, "alerts ", counter) : null, sound,
      h("span", { class: "who" }, `${me.user} · ${me.role}`), logout));
  header.hidden = false;
}

function start(me) {
  showHeader(me);
  if (may("handle_alerts")) {
    live.start(me.token);
    alerts.load().catch((error) => showError(error, "alerts"));
  }
  route();
}

async function end(message) {
  if (page) page.abort();
  if (signedIn) signedIn.abort();
  page = null;
  live.stop();
  alerts.clear();
  await signOut();
  header.hidden = true;
  showLogin(message);
}

function showLogin(message) {
  const user = h("input", { name: "user", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const token = h("input", { name: "token", autocomplete: "off", placeholder: "skynet_…" });
  const errors = h("div", { class: "form-errors" },
    message ? h("p", { class: "error", role: "alert" }, message) : null);
  const button = h("button", { type: "submit" }, "Sign in");
  const tokenButton = h("button", { type: "submit", class: "secondary" }, "Sign in with token");
  const signInWith = (credentials, pressed) => busy(pressed, async () => {
    unlockAudio();
    const me = await signIn(credentials);
    if (!location.hash) location.hash = "#/wall";
    start(me);
  }, errors);
  const form = h("form", { class: "card stack", name: "login", onsubmit: (event) => {
    event.preventDefault();
    signInWith({ user: user.value.trim(), password: password.value }, button);
  } }, h("h2", {}, "Sign in"), field("User", user), field("Password", password), button);
  const tokenForm = h("details", { class: "token-login" }, h("summary", {}, "Sign in with an API token"),
    h("form", { class: "stack", name: "token-login", onsubmit: (event) => {
      event.preventDefault();
      if (token.value.trim()) signInWith({ token: token.value.trim() }, tokenButton);
    } }, field("API token (from skynet users token NAME)", token), tokenButton));
  fill(view, h("div", { class: "login" }, form, tokenForm, errors));
  view.dataset.page = "login";
  document.title = "Sign in · Skynet";
  user.focus();
}

setUnauthorizedHandler((error) => {
  if (session()) end(`Your session has ended: ${error.message}`);
});
window.addEventListener("hashchange", route);
window.addEventListener("pointerdown", unlockAudio, { once: true });

resume().then((me) => (me ? start(me) : showLogin()),
  (error) => showLogin(error.status === 401 ? `Your session has ended: ${error.message}` : error.message));
