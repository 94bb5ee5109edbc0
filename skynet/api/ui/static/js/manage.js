// Management: the sections the signed-in role may use, one module each.

import { may } from "./api.js";
import { fill, h } from "./dom.js";
import * as audit from "./audit.js";
import * as cameras from "./cameras.js";
import * as jobs from "./jobs.js";
import * as users from "./users.js";
import * as watchlist from "./watchlist.js";

/** Section name -> [title, module, permission needed to see it]. */
const SECTIONS = {
  watchlist: ["Watch-list", watchlist, "handle_alerts"],
  cameras: ["Cameras", cameras, "view_cameras"],
  jobs: ["Re-index jobs", jobs, "start_jobs"],
  users: ["Users", users, "manage_users"],
  audit: ["Audit log", audit, "read_audit"],
};

/** The sections the current user may open. */
export function sections() {
  return Object.keys(SECTIONS).filter((name) => may(SECTIONS[name][2]));
}

export function render(container, signal, params) {
  const allowed = sections();
  const current = allowed.includes(params.get("section")) ? params.get("section") : allowed[0];
  const body = h("section", { class: "manage-section", dataset: { section: current } });
  fill(container, h("div", { class: "manage" },
    h("h2", {}, "Manage"),
    h("nav", { class: "tabs" }, allowed.map((name) => h("a", { href: `#/manage?section=${name}`,
      class: name === current ? "active" : "" }, SECTIONS[name][0]))),
    body));
  if (current) SECTIONS[current][1].render(body, signal, params);
}
