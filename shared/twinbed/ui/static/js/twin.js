// One twin: its state drawn the way its kind is best seen, live from the twin's server-sent
// events, and its history as a timeline (version, AoI, fidelity and the state's numbers).
//   a sensor's signal (compression, semantic)  -> the twin's samples against the oracle's
//   positions (network twin, semantic UDs, fl-migration users and servers) -> a map
//   coalitions (federated)                      -> which partial-DTs each edge server serves
//   a model's accuracy (fl-migration)           -> the accuracy over the timeline

import { api } from "./api.js";
import { LineChart, PALETTE } from "./charts.js";
import { fidelityText } from "./run.js";
import { empty, errorBox, fmt, h, mount } from "./ui.js";

export async function twinPage(main, ctx, twinId) {
  const title = h("h1", {}, "Twin ", h("code", {}, twinId));
  let twin;
  try {
    twin = await api(`/twins/${encodeURIComponent(twinId)}`);
  } catch (e) {
    mount(main, title, errorBox(e, e.status === 404 ? "twin missing (its run was deleted, or it never synced)" : "cannot load the twin"),
      h("p", {}, h("a", { href: "#/runs" }, "Back to the runs")));
    return;
  }
  const summary = h("p", { class: "summary", id: "twin-summary" });
  const statePane = h("div", { class: "charts", id: "twin-state" });
  const timeline = h("div", { class: "charts", id: "twin-timeline" });
  mount(main, title,
    h("p", {}, h("a", { href: `#/run/${twin.run_id}` }, `← run ${twin.run_id}`)), summary,
    h("section", { "aria-labelledby": "state-h" }, h("h2", { id: "state-h" }, "State"), statePane),
    h("section", { "aria-labelledby": "timeline-h" }, h("h2", { id: "timeline-h" }, "History"), timeline));

  // the state first (one twin and its oracle entry), then the history: up to 1,000 versions,
  // which on a loaded machine take seconds to arrive and must not hold the state back
  const view = { twin, history: null, charts: new Map() };  // null: still loading
  await draw(view, summary, statePane, timeline);
  try {
    const history = await api(`/twins/${encodeURIComponent(twinId)}/history?limit=1000`);
    view.history = history;
  } catch (e) {
    view.history = [];
    timeline.append(errorBox(e, "cannot load the history"));
  }
  await draw(view, summary, statePane, timeline);

  const es = new EventSource(`/twins/${encodeURIComponent(twinId)}/events`);
  let pending = null;  // redraw at most twice a second, however fast the twin updates
  es.addEventListener("twin", (ev) => {
    const t = JSON.parse(ev.data);
    view.twin = t;
    view.history.push(t);
    if (view.history.length > 1000) view.history.shift();
    pending ??= setTimeout(async () => {
      await draw(view, summary, statePane, timeline);
      pending = null;
    }, 500);
  });
  ctx.onLeave(() => es.close());
}

async function draw(view, summary, statePane, timeline) {
  const t = view.twin;
  mount(summary, `${t.kind} · version `, h("strong", { id: "twin-version" }, t.version), ` · round ${t.round} · AoI modeled ${fmt(t.aoi_modeled_s)} s · AoI wall ${fmt(t.aoi_wall_s)} s · fidelity ${fidelityText(t.fidelity)}`);
  await drawState(view, statePane);
  drawTimeline(view, timeline);
}

function chart(view, parent, key, opts) {
  if (!view.charts.has(key)) view.charts.set(key, new LineChart(parent, opts));
  return view.charts.get(key);
}

// -- the state, by kind ----------------------------------------------------------------------

async function drawState(view, pane) {
  const s = view.twin.state;
  pane.querySelectorAll(".empty, .map, .coalitions").forEach((e) => e.remove());
  let drew = false;
  const signal = samplesOf(s);
  if (signal) {
    drew = true;
    let oracle = null;
    try {
      const o = await api(`/twins/${encodeURIComponent(view.twin.id)}/oracle`);
      if (o.available) oracle = int16(o.bytes_b64);
    } catch { oracle = null; }
    const n = Math.min(signal.length, 400);
    const x = [...Array(n).keys()];
    const c = chart(view, pane, "signal", { title: `signal: twin vs oracle (first ${n} samples${signal.channels > 1 ? ", channel 0" : ""})`, xLabel: "sample",
      series: [{ label: "twin", color: 1 }, { label: "oracle", bound: true }] });
    const ref = oracle && oracle.length === signal.flat.length ? channel0(oracle, signal) : null;
    c.set(x, [signal.slice(0, n), ref ? ref.slice(0, n) : x.map(() => null)]);
    if (!ref) pane.append(empty("The oracle's entry is gone (trimmed) or never existed: only the twin is drawn."));
  }
  const pts = positions(view.twin);
  if (pts.length) {
    drew = true;
    pane.append(map(pts, trail(view.history ?? [])));
  }
  if (Array.isArray(s.partial_dts) || Array.isArray(s.coalition)) {
    drew = true;
    pane.append(coalitions(s));
  }
  if (!drew) pane.append(h("pre", { class: "empty" }, JSON.stringify(s, null, 1).slice(0, 4000)));
}

/** The twin's samples as one channel (channel 0 of a multichannel signal), or null. */
function samplesOf(s) {
  let flat = null;
  let channels = 1;
  let rows = null;
  if (Array.isArray(s.samples) && s.samples.length) {
    rows = s.samples;
    if (Array.isArray(rows[0])) {
      channels = rows[0].length;
      flat = rows.flat();
    } else flat = rows;
  } else if (typeof s.samples_int16_b64 === "string") {
    flat = [...int16(s.samples_int16_b64)];
  }
  if (!flat) return null;
  const one = channels > 1 ? flat.filter((_, i) => i % channels === 0) : flat;
  return Object.assign(one, { flat, channels });
}

function channel0(oracle, signal) {
  return signal.channels > 1 ? [...oracle].filter((_, i) => i % signal.channels === 0) : [...oracle];
}

function int16(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Int16Array(bytes.buffer, 0, Math.floor(bytes.length / 2));
}

/** Points to put on a map: [{x, y, label, group}] from whatever position fields a kind has. */
function positions(t) {
  const s = t.state;
  if (Array.isArray(s.users) && s.users.length && typeof s.users[0] === "object" && "x" in s.users[0]) {
    return s.users.map((u) => ({ x: u.x, y: u.y, label: `user ${u.user}: error ${fmt(u.error)}`, group: 0 }));
  }
  for (const key of ["pos_m", "xy"]) {
    if (Array.isArray(s[key]) && s[key].length >= 2 && typeof s[key][0] === "number") {
      return [{ x: s[key][0], y: s[key][1], label: t.id.split(".").pop(), group: 0 }];
    }
  }
  if (Array.isArray(s.user_xy)) return s.user_xy.map((p, i) => ({ x: p[0], y: p[1], label: `user ${i}`, group: 0 }));
  return [];
}

function trail(history) {
  return history.map(positions).filter((p) => p.length === 1).map((p) => p[0]);
}

/** An SVG scatter of positions (and the path a single entity took), equal axes. */
function map(points, path) {
  const all = [...points, ...path];
  const xs = all.map((p) => p.x), ys = all.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(x1 - x0, y1 - y0) || 1;
  const W = 320, pad = 24;
  const px = (x) => pad + ((x - x0) / span) * (W - 2 * pad);
  const py = (y) => W - pad - ((y - y0) / span) * (W - 2 * pad);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${W}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `positions: ${points.length} point(s); x ${fmt(x0)}…${fmt(x1)}, y ${fmt(y0)}…${fmt(y1)} m`);
  const el = (tag, attrs) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.append(e);
    return e;
  };
  el("rect", { x: pad, y: pad, width: W - 2 * pad, height: W - 2 * pad, fill: "none", stroke: "#999" });
  if (path.length > 1) {
    el("polyline", { points: path.map((p) => `${px(p.x)},${py(p.y)}`).join(" "), fill: "none", stroke: PALETTE[5], "stroke-width": 1.5 });
  }
  for (const p of points) {
    const c = el("circle", { cx: px(p.x), cy: py(p.y), r: 5, fill: PALETTE[p.group % PALETTE.length] });
    const tt = document.createElementNS(ns, "title");
    tt.textContent = `${p.label} (${fmt(p.x)}, ${fmt(p.y)})`;
    c.append(tt);
  }
  const t = el("text", { x: pad, y: W - 6, "font-size": 11 });
  t.textContent = `x ${fmt(x0)}…${fmt(x0 + span)} m, y ${fmt(y0)}…${fmt(y0 + span)} m`;
  return h("figure", { class: "map" }, h("figcaption", {}, path.length > 1 ? "position and its path" : "positions"), svg);
}

/** Federated coalitions: which partial-DTs (and the edge server) each coalition holds. */
function coalitions(s) {
  const parts = Array.isArray(s.partial_dts) ? s.partial_dts : [s];
  const rows = parts.map((p) => h("tr", {}, h("td", { class: "num" }, p.k), h("td", { class: "num" }, p.es),
    h("td", {}, (p.coalition || []).join(", ") || "–"), h("td", { class: "num" }, fmt(p.quality)), h("td", { class: "num" }, fmt(p.val_r2))));
  return h("figure", { class: "coalitions" }, h("figcaption", {}, "coalitions (partial-DT k served by edge server es, with its coalition)"),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["k", "es", "coalition", "quality", "val R²"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))));
}

// -- the history timeline -------------------------------------------------------------------

// State fields drawn first when a twin has many: a model's accuracy (fl-migration), a
// partial-DT's quality and validation R² (federated).
const FIRST = ["accuracy", "val_r2", "quality", "error", "err_sq"];

function drawTimeline(view, pane) {
  const hs = view.history;
  pane.querySelectorAll(".empty").forEach((e) => e.remove());
  if (hs === null) {
    pane.append(empty("Loading the history…"));
    return;
  }
  if (!hs.length) {
    pane.append(empty("No history kept for this twin."));
    return;
  }
  const x = hs.map((t) => t.version);
  chart(view, pane, "round", { title: "round of each version", xLabel: "version", series: [{ label: "round" }] })
    .set(x, [hs.map((t) => t.round)]);
  chart(view, pane, "aoi-modeled", { title: "AoI modeled [s]", xLabel: "version", series: [{ label: "AoI modeled" }] })
    .set(x, [hs.map((t) => t.aoi_modeled_s)]);
  chart(view, pane, "aoi-wall", { title: "AoI wall [s]", xLabel: "version", series: [{ label: "AoI wall", color: 1 }] })
    .set(x, [hs.map((t) => t.aoi_wall_s)]);
  const numeric = (obj) => Object.keys(obj || {}).filter((k) => typeof obj[k] === "number" && !["round", "slot", "t", "frame", "k", "es"].includes(k));
  const fk = [...new Set(hs.flatMap((t) => numeric(t.fidelity)))];
  for (const k of fk) {
    chart(view, pane, `fid-${k}`, { title: `fidelity: ${k}`, xLabel: "version", series: [{ label: k, color: 2 }] })
      .set(x, [hs.map((t) => (typeof t.fidelity[k] === "number" ? t.fidelity[k] : null))]);
  }
  const rank = (k) => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);
  const sk = [...new Set(hs.flatMap((t) => numeric(t.state)))].sort((a, b) => rank(a) - rank(b)).slice(0, 6);
  for (const k of sk) {
    chart(view, pane, `state-${k}`, { title: `state: ${k}`, xLabel: "version", series: [{ label: k, color: 3 }] })
      .set(x, [hs.map((t) => (typeof t.state[k] === "number" ? t.state[k] : null))]);
  }
}
