// The camera map as SVG, drawn from camera positions alone (Web Mercator, like web maps), so it
// works with no internet; a tile server URL template ({z}/{x}/{y}) may be configured in the browser
// and is then drawn underneath. A trajectory's GeoJSON adds the path, implausible moves (dashed,
// red, with their speed) and numbered stops. Zoom and pan redraw the map, so text keeps its size.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 800;
const HEIGHT = 480;
const PAD = 48;
const TILE = 256;
const EARTH_M = 40075016.686;
const MIN_SPAN_M = 400;
const FIT_SPAN_M = 1500; // a trajectory opens at least this wide, so nearby cameras show too
const STOP_RADIUS = 12;
const TILE_KEY = "skynet.tileUrl";

/** The configured tile URL template, or "" (no tiles: offline). */
export function tileUrl() {
  return localStorage.getItem(TILE_KEY) || "";
}

/** Sets (or clears, with "") the tile URL template, e.g. https://tiles.example/{z}/{x}/{y}.png */
export function setTileUrl(template) {
  if (template) localStorage.setItem(TILE_KEY, template);
  else localStorage.removeItem(TILE_KEY);
}

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Web Mercator of [longitude, latitude] in world units (0..1 both ways). */
export function mercator([lon, lat]) {
  const phi = (Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180;
  return [(lon + 180) / 360, (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2];
}

/** The view {cx, cy, scale} (world units, px per world unit) fitting `points` ([lon, lat]), at least
 * `minSpan` metres across. */
export function fit(points, minSpan = MIN_SPAN_M) {
  const world = points.map(mercator);
  const xs = world.map((p) => p[0]);
  const ys = world.map((p) => p[1]);
  const lat = points.reduce((sum, p) => sum + p[1], 0) / points.length;
  const span = minSpan / (EARTH_M * Math.cos((lat * Math.PI) / 180));
  const spanX = Math.max(Math.max(...xs) - Math.min(...xs), span);
  const spanY = Math.max(Math.max(...ys) - Math.min(...ys), span);
  return { cx: (Math.min(...xs) + Math.max(...xs)) / 2, cy: (Math.min(...ys) + Math.max(...ys)) / 2,
    scale: Math.min((WIDTH - 2 * PAD) / spanX, (HEIGHT - 2 * PAD) / spanY) };
}

/** Drawing coordinates of [lon, lat] in `view`. */
function projector(view) {
  return (point) => {
    const [x, y] = mercator(point);
    return [WIDTH / 2 + (x - view.cx) * view.scale, HEIGHT / 2 + (y - view.cy) * view.scale];
  };
}

function positioned(cameras) {
  return cameras.filter((c) => c.latitude !== null && c.longitude !== null);
}

function stopPoints(trajectory) {
  return (trajectory ? trajectory.geojson.features : [])
    .filter((f) => f.properties.role === "stop").map((f) => f.geometry.coordinates);
}

/**
 * The map of `cameras` (API camera objects) and, when given, a trajectory (the API's trajectory
 * answer), with zoom (buttons, mouse wheel) and panning (drag). It opens fitted to the trajectory's
 * stops, or to every camera without one.
 */
export function mapWidget(cameras, trajectory) {
  const everything = [...positioned(cameras).map((c) => [c.longitude, c.latitude]), ...stopPoints(trajectory)];
  const fitStops = () => fit(stopPoints(trajectory).length ? stopPoints(trajectory) : everything, FIT_SPAN_M);
  let view = everything.length ? fitStops() : null;
  const box = document.createElement("div");
  box.className = "map-widget";
  const redraw = () => box.replaceChildren(drawMap(cameras, trajectory, view), controls);
  const zoom = (factor, at = [WIDTH / 2, HEIGHT / 2]) => {
    const anchor = [view.cx + (at[0] - WIDTH / 2) / view.scale, view.cy + (at[1] - HEIGHT / 2) / view.scale];
    const scale = view.scale * factor;
    view = { scale, cx: anchor[0] - (at[0] - WIDTH / 2) / scale, cy: anchor[1] - (at[1] - HEIGHT / 2) / scale };
    redraw();
  };
  const button = (text, title, action) => {
    const b = document.createElement("button");
    Object.assign(b, { type: "button", textContent: text, title, className: "secondary small" });
    b.addEventListener("click", action);
    return b;
  };
  const controls = document.createElement("div");
  controls.className = "map-controls";
  if (view) {
    controls.append(button("+", "zoom in", () => zoom(2)), button("−", "zoom out", () => zoom(0.5)),
      button("Fit stops", "fit the trajectory's stops", () => { view = fitStops(); redraw(); }),
      button("All cameras", "fit every camera", () => { view = fit(everything); redraw(); }));
    const toDrawing = (event) => {
      const rect = box.querySelector("svg").getBoundingClientRect();
      return [((event.clientX - rect.left) / rect.width) * WIDTH, ((event.clientY - rect.top) / rect.height) * HEIGHT];
    };
    box.addEventListener("wheel", (event) => {
      if (!event.target.closest("svg")) return;
      event.preventDefault();
      zoom(event.deltaY < 0 ? 1.25 : 0.8, toDrawing(event));
    }, { passive: false });
    let drag = null;
    box.addEventListener("pointerdown", (event) => {
      if (event.target.closest("svg")) drag = { from: toDrawing(event), view };
    });
    box.addEventListener("pointermove", (event) => {
      if (!drag || !event.buttons) return;
      const [x, y] = toDrawing(event);
      view = { ...drag.view, cx: drag.view.cx - (x - drag.from[0]) / view.scale,
        cy: drag.view.cy - (y - drag.from[1]) / view.scale };
      redraw();
    });
    box.addEventListener("pointerup", () => { drag = null; });
  }
  redraw();
  return box;
}

/** An <svg> map of `cameras` and the trajectory (or null) seen through `view` (null: nothing to show). */
export function drawMap(cameras, trajectory, view) {
  const placed = positioned(cameras);
  const features = trajectory ? trajectory.geojson.features : [];
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "map", role: "img",
    "aria-label": "camera map" });
  svg.append(el("rect", { width: WIDTH, height: HEIGHT, class: "map-bg" }));
  if (!view) {
    svg.append(el("text", { x: WIDTH / 2, y: HEIGHT / 2, class: "map-note", "text-anchor": "middle" },
      "No camera has a position yet."));
    return svg;
  }
  const project = projector(view);
  if (tileUrl()) svg.append(tiles(view, tileUrl()));
  else svg.append(graticule());
  svg.append(defs());
  for (const feature of features) {
    if (feature.geometry.type === "LineString") svg.append(line(feature, project));
  }
  const stopsAt = new Map();
  for (const feature of features.filter((f) => f.properties.role === "stop")) {
    const key = feature.geometry.coordinates.join(",");
    stopsAt.set(key, [...(stopsAt.get(key) || []), feature]);
  }
  const stops = layOutStops([...stopsAt.values()], project);
  const around = ([x, y], r) => ({ x1: x - r, x2: x + r, y1: y - r, y2: y + r });
  const labels = new Labels([...stops.map(({ x, y }) => around([x, y], STOP_RADIUS)),
    ...placed.map((c) => around(project([c.longitude, c.latitude]), 6))]);
  for (const camera of placed) svg.append(cameraMark(camera, project, labels));
  for (const stop of stops) svg.append(stopMark(stop));
  svg.append(scaleBar(view));
  return svg;
}

function defs() {
  const d = el("defs");
  for (const [id, cls] of [["arrow", "arrow"], ["arrow-bad", "arrow bad"]]) {
    const marker = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
      orient: "auto-start-reverse" });
    marker.append(el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: cls }));
    d.append(marker);
  }
  return d;
}

function graticule() {
  const g = el("g", { class: "graticule" });
  for (let x = 0; x <= WIDTH; x += 80) g.append(el("line", { x1: x, y1: 0, x2: x, y2: HEIGHT }));
  for (let y = 0; y <= HEIGHT; y += 80) g.append(el("line", { x1: 0, y1: y, x2: WIDTH, y2: y }));
  g.append(el("text", { x: 8, y: HEIGHT - 8, class: "map-note" }, "no map tiles (offline): camera positions only"));
  return g;
}

function tiles(view, template) {
  const g = el("g", { class: "tiles" });
  const zoom = Math.max(0, Math.min(19, Math.round(Math.log2(view.scale / TILE))));
  const n = 2 ** zoom;
  const size = view.scale / n; // px per tile
  const left = view.cx - WIDTH / 2 / view.scale;
  const top = view.cy - HEIGHT / 2 / view.scale;
  for (let tx = Math.floor(left * n); tx < (left + WIDTH / view.scale) * n; tx++) {
    for (let ty = Math.max(0, Math.floor(top * n)); ty < Math.min(n, (top + HEIGHT / view.scale) * n); ty++) {
      const x = ((tx % n) + n) % n;
      const href = template.replace("{z}", zoom).replace("{x}", x).replace("{y}", ty);
      g.append(el("image", { href, x: (tx / n - left) * view.scale, y: (ty / n - top) * view.scale,
        width: size + 0.5, height: size + 0.5 }));
    }
  }
  return g;
}

/** `points` with the first and last pulled in by `by` px, so arrows end at a stop circle's edge. */
function trimmed(points, by) {
  const pull = (from, to) => {
    const length = Math.hypot(to[0] - from[0], to[1] - from[1]);
    if (length <= 2 * by) return from;
    return [from[0] + ((to[0] - from[0]) * by) / length, from[1] + ((to[1] - from[1]) * by) / length];
  };
  const out = points.slice();
  out[0] = pull(points[0], points[1]);
  out[out.length - 1] = pull(points[points.length - 1], points[points.length - 2]);
  return out;
}

function line(feature, project) {
  const p = feature.properties;
  const coordinates = trimmed(feature.geometry.coordinates.map(project), STOP_RADIUS + 2);
  const path = el("polyline", { points: coordinates.map((c) => c.join(",")).join(" "),
    class: p.implausible ? "implausible" : "path", "marker-end": `url(#${p.implausible ? "arrow-bad" : "arrow"})` });
  const g = el("g", { class: p.implausible ? "move implausible" : "move" });
  g.append(path);
  if (p.implausible) {
    const [a, b] = [coordinates[0], coordinates[coordinates.length - 1]];
    const speed = p.speed_kmh === null ? "overlapping in time" : `${Math.round(p.speed_kmh)} km/h`;
    const label = `implausible: ${(p.distance_m / 1000).toFixed(1)} km, ${speed}`;
    path.append(el("title", {}, label));
    g.append(el("text", { x: (a[0] + b[0]) / 2 + 8, y: (a[1] + b[1]) / 2, class: "move-label" }, label));
  }
  return g;
}

/** Places text labels where they do not cover one another (rough boxes: 7 px per character). */
class Labels {
  constructor(taken = []) {
    this.boxes = taken;
  }

  /** Attributes placing `text` near (x, y) off every label and mark so far (overlapping when it must). */
  place(x, y, text) {
    const width = text.length * 7 + 4;
    const tries = [];
    for (const dy of [4, 28, -18, 44, -34]) {
      tries.push([x + 16, y + dy, "start"], [x - 16, y + dy, "end"]);
    }
    for (const [tx, ty, anchor] of tries) {
      const box = { x1: anchor === "start" ? tx : tx - width, x2: anchor === "start" ? tx + width : tx,
        y1: ty - 12, y2: ty + 3 };
      if (this.boxes.every((b) => box.x2 < b.x1 || box.x1 > b.x2 || box.y2 < b.y1 || box.y1 > b.y2)) {
        this.boxes.push(box);
        return { x: tx, y: ty, "text-anchor": anchor };
      }
    }
    return { x: tries[0][0], y: tries[0][1], "text-anchor": "start" };
  }
}

function cameraMark(camera, project, labels) {
  const [x, y] = project([camera.longitude, camera.latitude]);
  const g = el("g", { class: "camera-mark", "data-camera-id": camera.id });
  g.append(el("rect", { x: x - 5, y: y - 5, width: 10, height: 10 }));
  g.append(el("text", labels.place(x, y, camera.name), camera.name));
  g.append(el("title", {}, `${camera.name} (${camera.id})`));
  return g;
}

/** Where to draw each group of stops (those at one camera): at the camera, or moved aside off the
 * circles placed before it. */
function layOutStops(groups, project) {
  const placed = [];
  for (const group of groups) {
    const [x0, y0] = project(group[0].geometry.coordinates);
    let [x, y] = [x0, y0];
    while (placed.some((p) => Math.hypot(p.x - x, p.y - y) < 2 * STOP_RADIUS + 2)) {
      x += 2 * STOP_RADIUS + 4;
      y -= 6;
    }
    placed.push({ group, x, y, x0, y0 });
  }
  return placed;
}

/** A numbered circle for the stops at one camera, with a leader line when it was moved aside. */
function stopMark({ group, x, y, x0, y0 }) {
  const numbers = group.map((f) => f.properties.index + 1).join(",");
  const g = el("g", { class: "stop-mark", "data-stops": numbers });
  if (x !== x0 || y !== y0) g.append(el("line", { x1: x0, y1: y0, x2: x, y2: y, class: "leader" }));
  g.append(el("circle", { cx: x, cy: y, r: STOP_RADIUS }));
  g.append(el("text", { x, y: y + 4, "text-anchor": "middle" }, numbers));
  const names = group.map((f) => `stop ${f.properties.index + 1}: ${f.properties.camera_name || f.properties.camera_id}`);
  g.append(el("title", {}, names.join("\n")));
  return g;
}

function scaleBar(view) {
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - 2 * view.cy))) * 180) / Math.PI;
  const metresPerPixel = (EARTH_M * Math.cos((lat * Math.PI) / 180)) / view.scale;
  const target = metresPerPixel * 120;
  const magnitude = 10 ** Math.floor(Math.log10(target));
  const metres = [1, 2, 5, 10].map((m) => m * magnitude).filter((m) => m <= target).pop();
  const px = metres / metresPerPixel;
  const g = el("g", { class: "scale-bar", transform: `translate(${WIDTH - px - 16}, ${HEIGHT - 16})` });
  g.append(el("path", { d: `M 0 -6 V 0 H ${px} V -6` }));
  g.append(el("text", { x: px / 2, y: -10, "text-anchor": "middle" },
    metres >= 1000 ? `${metres / 1000} km` : `${metres} m`));
  return g;
}
