// One run, live: its per-round metrics as charts that grow, and the table of its twins kept
// current by the run's server-sent events (GET /twins/events?run_id=...: one connection).

import { api, apiAll, token } from "./api.js";
import { LineChart } from "./charts.js";
import { chartKeys, label, series } from "./metrics.js";
import { badge, empty, errorBox, fmt, h, mount, when } from "./ui.js";

export async function runPage(main, ctx, runId) {
  const head = h("div", { id: "run-head" });
  const charts = h("div", { class: "charts", id: "run-charts" });
  const more = h("div", { id: "more-metrics" });
  const twins = h("div", { id: "twins-table" }, empty("Loading twins…"));
  mount(main, h("h1", {}, "Run ", h("code", {}, runId)), head,
    h("section", { "aria-labelledby": "metrics-h" }, h("h2", { id: "metrics-h" }, "Per-round metrics"), charts, more),
    h("section", { "aria-labelledby": "twins-h" }, h("h2", { id: "twins-h" }, "Twins"), twins));

  let view;
  try {
    view = await api(`/runs/${encodeURIComponent(runId)}`);
  } catch (e) {
    mount(main, h("h1", {}, "Run ", h("code", {}, runId)),
      errorBox(e, e.status === 404 ? "no such run (deleted?)" : "cannot load the run"),
      h("p", {}, h("a", { href: "#/runs" }, "Back to the runs")));
    return;
  }
  const scenarios = await api("/runs/scenarios").catch(() => ({}));
  const info = scenarios[view.config.scenario] || {};
  const shown = new Map();  // metric key -> LineChart
  const live = { closed: false };
  const bound = { algorithm: null, rounds: [] };  // GET /runs/<id>/bound, once
  const boundNote = h("p", { class: "muted", id: "bound-note" });
  charts.before(boundNote);

  function render(v) {
    view = v;
    const { config: c, status: s } = v;
    const key = `${s.status}|${s.error}|${!!token.get()}`;
    if (head.dataset.key === key) {  // only the count moved: keep the focus where it is
      head.querySelector("#rounds-done").textContent = `${s.rounds_done}/${c.rounds}`;
    } else {
      head.dataset.key = key;
      mount(head,
        h("p", { class: "summary" }, badge(s.status), ` ${c.scenario} · ${c.algorithm} · seed ${c.seed} · `,
          h("span", { id: "rounds-done" }, `${s.rounds_done}/${c.rounds}`), " rounds · started ", when(s.started_wall)),
        s.error ? h("div", { class: "error", role: "alert" },
          `${s.status === "degraded" ? "Run degraded" : "Run failed"}: ${s.error}`) : null,
        s.status === "running" ? h("button", { type: "button", id: "stop", disabled: !token.get(),
          title: token.get() ? "stop after the current round" : "enter the API token to stop runs",
          onclick: stop }, "Stop run") : null,
        h("a", { class: "button", href: `#/compare?scenario=${encodeURIComponent(c.scenario)}&runs=${c.id}` }, "Compare with other runs"),
        h("details", {}, h("summary", {}, "Parameters"), h("pre", {}, JSON.stringify(c.params, null, 1))));
    }
    const rounds = v.rounds || [];
    if (!rounds.length) {
      if (!charts.children.length) charts.append(empty(s.status === "running" ? "Waiting for the first round…" : "This run recorded no round."));
      return;
    }
    charts.querySelectorAll(".empty").forEach((e) => e.remove());
    const keys = chartKeys(rounds, info);
    for (const k of keys.main) ensure(k, rounds);
    const x = rounds.map((r) => r.round);
    for (const [k, chart] of shown) {
      const ys = [series(rounds, k)];
      if (hasBound(k)) {
        const b = series(bound.rounds, k);
        ys.push(x.map((r) => b[r] ?? null));
      }
      chart.set(x, ys);
    }
    moreSelect(keys.more, rounds);
  }

  function hasBound(k) {
    return bound.rounds.some((r) => typeof r[k] === "number");
  }

  /** A chart for metric k (again, with the bound's dashed line, once the bound is known). */
  function ensure(k, rounds) {
    const old = shown.get(k);
    const withBound = hasBound(k);
    if (old && old.series.length === (withBound ? 2 : 1)) return;
    const lines = [{ label: k }];
    if (withBound) lines.push({ label: `bound: ${bound.algorithm}`, bound: true });
    const chart = new LineChart(charts, { title: label(k, rounds), series: lines });
    if (old) {
      old.el.replaceWith(chart.el);
      old.destroy();
    }
    shown.set(k, chart);
  }

  async function loadBound() {
    try {
      const b = await api(`/runs/${encodeURIComponent(runId)}/bound`);
      Object.assign(bound, b);
      boundNote.textContent = b.rounds.length
        ? `Dashed black: the bound, ${b.algorithm} played in-process on the same seeded world (first ${b.rounds.length} rounds).`
        : `No bound drawn: ${b.reason}.`;
    } catch (e) {
      boundNote.replaceChildren(errorBox(e, "bound not computed"));
      return;
    }
    for (const k of [...shown.keys()]) ensure(k, view.rounds || []);
    render(view);
  }

  function moreSelect(keys, rounds) {
    if (more.dataset.keys === keys.join(",")) return;
    more.dataset.keys = keys.join(",");
    if (!keys.length) return mount(more);
    const sel = h("select", { id: "add-metric" }, h("option", { value: "" }, "add a chart…"), keys.map((k) => h("option", { value: k }, k)));
    sel.addEventListener("change", () => {
      if (!sel.value) return;
      ensure(sel.value, view.rounds || []);
      render(view);
    });
    mount(more, h("label", { for: "add-metric" }, "More metrics: "), sel);
  }

  async function stop() {
    try {
      await api(`/runs/${runId}/stop`, { method: "POST" });
    } catch (e) {
      head.append(errorBox(e, "not stopped"));
    }
  }

  render(view);
  loadBound();
  ctx.every(1000, async () => {
    if (view.status.status !== "running" && live.closed) return;
    try {
      render(await api(`/runs/${encodeURIComponent(runId)}`));
    } catch (e) {
      mount(head, errorBox(e, "lost the run"));
    }
    if (view.status.status !== "running") live.closed = true;
  });
  twinsTable(twins, ctx, runId, () => view.status.status === "running");
}

const COLS = ["twin", "kind", "version", "round", "AoI modeled [s]", "AoI wall [s]", "fidelity"];

/** A short reading of a twin's fidelity record, whatever the scenario stores in it. */
export function fidelityText(f) {
  if (!f || !Object.keys(f).length) return "–";
  if (f.available === false) return "oracle missing";
  if (f.exact === true) return "exact";
  for (const k of ["rmse", "nrmse", "val_r2", "accuracy_minus_rho", "err_sq", "max_abs_err"]) {
    if (typeof f[k] === "number") return `${k} ${fmt(f[k])}`;
  }
  return Object.entries(f).map(([k, v]) => `${k} ${fmt(v)}`).join(", ");
}

async function twinsTable(box, ctx, runId, running) {
  const rows = new Map();
  const tbody = h("tbody");
  const note = h("p", { class: "muted", role: "status", id: "twins-live" });
  function upsert(t) {
    let tr = rows.get(t.id);
    if (tr && Number(tr.dataset.version) > t.version) return;  // an older event
    const values = [t.kind, t.version, t.round, fmt(t.aoi_modeled_s), fmt(t.aoi_wall_s), fidelityText(t.fidelity)];
    if (!tr) {
      const name = t.id.slice(runId.length + 1);
      tr = h("tr", { "data-twin": t.id }, h("td", {}, h("a", { href: `#/twin/${encodeURIComponent(t.id)}` }, name)),
        values.map((_, i) => h("td", { class: i >= 1 && i <= 4 ? "num" : null })));
      tbody.append(tr);
      rows.set(t.id, tr);
    }
    // update the cells in place: a row replaced on every event would detach the link under a
    // click in progress (several events a second arrive while a run is live)
    tr.dataset.version = t.version;
    values.forEach((v, i) => { tr.cells[i + 1].textContent = v; });
  }
  // Live runs: subscribe first, list second, so no update falls between the two (the feed
  // follows the run's twins from their next version; upsert keeps the newest version of each).
  // The subscription starts on the server as the stream opens, so list after "open", and once
  // more a moment later to cover an update that raced the subscription.
  const live = running();
  const es = live ? new EventSource(`/twins/events?run_id=${encodeURIComponent(runId)}`) : null;
  if (es) {
    es.addEventListener("twin", (ev) => upsert(JSON.parse(ev.data)));  // into the unmounted table
    await new Promise((ok) => { es.addEventListener("open", ok, { once: true }); setTimeout(ok, 2000); });
  }
  const list = async () => (await apiAll(`/twins?run_id=${encodeURIComponent(runId)}`)).forEach(upsert);
  try {
    await list();
  } catch (e) {
    if (es) es.close();
    mount(box, errorBox(e, "cannot list the twins"));
    return;
  }
  mount(box, note, h("div", { class: "scroll" }, h("table", { id: "twins" },
    h("thead", {}, h("tr", {}, COLS.map((c) => h("th", { scope: "col" }, c)))), tbody)));
  if (!rows.size && !running()) box.append(empty("This run has no twins (deleted, or no round reached the cloud)."));
  if (!es) return;
  setTimeout(() => list().catch(() => {}), 1500);
  note.textContent = "live: updates as they happen";
  es.addEventListener("open", () => { note.textContent = "live: updates as they happen"; });
  es.addEventListener("error", () => { note.textContent = "live feed interrupted; retrying…"; });
  ctx.onLeave(() => es.close());
  ctx.every(2000, () => {
    if (!running()) {
      es.close();
      note.textContent = "run finished: table final";
    }
  });
}
