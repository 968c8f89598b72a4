// Two or more finished runs of one scenario (different algorithms or seeds) on shared axes:
// one chart per metric, one line per run.

import { api } from "./api.js";
import { LineChart } from "./charts.js";
import { chartKeys, label, series } from "./metrics.js";
import { empty, errorBox, h, mount } from "./ui.js";

export async function comparePage(main, ctx, query) {
  const picker = h("div", { id: "compare-picker" });
  const charts = h("div", { class: "charts", id: "compare-charts" });
  mount(main, h("h1", {}, "Compare runs"), picker, charts);
  let runs, scenarios;
  try {
    [runs, scenarios] = await Promise.all([api("/runs?limit=500"), api("/runs/scenarios")]);
  } catch (e) {
    mount(picker, errorBox(e, "cannot list runs"));
    return;
  }
  const finished = runs.filter((r) => r.status.status !== "running" && r.status.rounds_done > 0);
  const names = [...new Set(finished.map((r) => r.config.scenario))].sort();
  if (!names.length) {
    mount(picker, empty("No finished run with rounds yet: finish two runs of one scenario to compare them."));
    return;
  }
  const scenario = names.includes(query.get("scenario")) ? query.get("scenario") : names[0];
  const chosen = new Set((query.get("runs") || "").split(",").filter(Boolean));
  const mine = finished.filter((r) => r.config.scenario === scenario);
  const sel = h("select", { id: "compare-scenario" }, names.map((n) => h("option", { value: n, selected: n === scenario }, n)));
  sel.addEventListener("change", () => { location.hash = `#/compare?scenario=${encodeURIComponent(sel.value)}`; });
  const boxes = mine.map((r) => h("label", { class: "check" },
    h("input", { type: "checkbox", value: r.config.id, checked: chosen.has(r.config.id), "data-run": r.config.id,
      onchange: (ev) => {
        if (ev.target.checked) chosen.add(r.config.id); else chosen.delete(r.config.id);
        location.hash = `#/compare?scenario=${encodeURIComponent(scenario)}&runs=${[...chosen].join(",")}`;
      } }),
    ` ${r.config.algorithm} · seed ${r.config.seed} · ${r.status.rounds_done} rounds (${r.config.id})`));
  mount(picker, h("label", { for: "compare-scenario" }, "Scenario: "), sel,
    h("fieldset", {}, h("legend", {}, "Runs (finished) to compare"), boxes));
  const picked = mine.filter((r) => chosen.has(r.config.id));
  if (picked.length < 2) {
    charts.append(empty("Pick two or more runs."));
    return;
  }
  let views;
  try {
    views = await Promise.all(picked.map((r) => api(`/runs/${r.config.id}`)));
  } catch (e) {
    charts.append(errorBox(e, "cannot load a run"));
    return;
  }
  const all = views.flatMap((v) => v.rounds || []);
  const keys = chartKeys(all, scenarios[scenario] || {});
  const rounds = Math.max(...views.map((v) => (v.rounds || []).length));
  const x = [...Array(rounds).keys()];
  for (const k of keys.main) {
    const c = new LineChart(charts, { title: label(k, all),
      series: views.map((v, i) => ({ label: `${v.config.algorithm} s${v.config.seed}`, color: i })) });
    c.set(x, views.map((v) => {
      const ys = series(v.rounds || [], k);
      return x.map((i) => (i < ys.length ? ys[i] : null));
    }));
  }
}
