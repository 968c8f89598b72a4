// The runs page: every run with status and progress, the start form (built from
// GET /runs/scenarios, the server's 422 errors shown next to their field), stop and delete.

import { api, token } from "./api.js";
import { badge, empty, errorBox, h, mount, when } from "./ui.js";

export async function runsPage(main, ctx) {
  const list = h("section", { "aria-labelledby": "runs-h" }, h("h2", { id: "runs-h" }, "Runs"));
  const table = h("div", { id: "runs-table" }, empty("Loading runs…"));
  const formBox = h("section", { "aria-labelledby": "start-h", class: "card" });
  list.append(table);
  mount(main, h("h1", {}, "Runs"), formBox, list);

  startForm(formBox, () => refresh());

  async function refresh() {
    try {
      const runs = await api("/runs?limit=200");
      mount(table, runs.length ? runsTable(runs, refresh) : empty(
        "No runs yet. Start one with the form above (or `twinbed run compression`)."));
    } catch (e) {
      mount(table, errorBox(e, "cannot list runs"));
    }
  }
  await refresh();
  ctx.every(2000, refresh);
}

function runsTable(runs, refresh) {
  const canWrite = !!token.get();
  const rows = runs.map(({ config: c, status: s }) => {
    const pct = Math.round((100 * s.rounds_done) / c.rounds);
    const actions = [];
    if (s.status === "running") {
      actions.push(h("button", { type: "button", disabled: !canWrite, "data-action": "stop",
        title: canWrite ? "stop after the current round" : "enter the API token to stop runs",
        onclick: () => act("POST", `/runs/${c.id}/stop`) }, "Stop"));
    } else {
      actions.push(h("button", { type: "button", disabled: !canWrite, "data-action": "delete",
        title: canWrite ? "delete its records and twins" : "enter the API token to delete runs",
        onclick: () => { if (confirm(`Delete run ${c.id}, its records and twins?`)) act("DELETE", `/runs/${c.id}`); } }, "Delete"));
    }
    return h("tr", { "data-run": c.id },
      h("td", {}, h("a", { href: `#/run/${c.id}` }, c.id)),
      h("td", {}, badge(s.status), s.error ? h("span", { class: "muted" }, ` ${s.error}`) : null),
      h("td", {}, c.scenario), h("td", {}, c.algorithm), h("td", { class: "num" }, c.seed),
      h("td", {}, h("progress", { max: c.rounds, value: s.rounds_done, "aria-label": `${s.rounds_done} of ${c.rounds} rounds` }),
        ` ${s.rounds_done}/${c.rounds} (${pct} %)`),
      h("td", {}, when(s.started_wall)),
      h("td", {}, actions));
  });
  const msg = h("p", { role: "status", class: "muted", id: "runs-msg" });
  async function act(method, path) {
    try {
      await api(path, { method });
      msg.textContent = "";
    } catch (e) {
      mount(msg, errorBox(e));
    }
    refresh();
  }
  return [msg, h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["id", "status", "scenario", "algorithm", "seed", "progress", "started", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)))];
}

/** The start form: scenario, algorithm, seed, rounds and every parameter of the scenario, each
 *  with its default; a 422's errors go next to the field they name. */
async function startForm(box, started) {
  mount(box, h("h2", { id: "start-h" }, "Start a run"));
  if (!token.get()) {
    box.append(h("p", { class: "muted", id: "readonly-note" },
      "Read-only: enter the API token (printed by `make up`) at the top to start, stop or delete runs."));
    return;
  }
  let scenarios;
  try {
    scenarios = await api("/runs/scenarios");
  } catch (e) {
    box.append(errorBox(e, "cannot load the scenarios"));
    return;
  }
  const names = Object.keys(scenarios);
  const form = h("form", { id: "start-form", novalidate: true });
  const head = h("div", { class: "grid" });
  const params = h("fieldset", { class: "grid" });
  const status = h("p", { role: "status", id: "start-status" });
  const sel = (id, label, options) => field(id, label,
    h("select", { id, name: id }, options.map((o) => h("option", { value: o }, o))));
  const scenario = sel("scenario", "scenario", names);
  head.append(scenario.wrap, h("div", { id: "algo-slot" }),
    field("seed", "seed", h("input", { id: "seed", name: "seed", type: "number", value: 1, min: 0, step: 1 })).wrap,
    field("rounds", "rounds", h("input", { id: "rounds", name: "rounds", type: "number", value: 20, min: 1, step: 1 })).wrap);
  form.append(head, h("details", { open: true }, h("summary", {}, "Parameters (defaults shown; change what you need)"), params),
    h("button", { type: "submit", id: "start" }, "Start run"), status);
  box.append(form);

  function fill() {
    const sc = scenarios[scenario.input.value];
    mount(form.querySelector("#algo-slot"), sel("algorithm", "algorithm", sc.algorithms).wrap);
    const props = (sc.schema && sc.schema.properties) || {};
    mount(params, h("legend", {}, `${scenario.input.value} parameters`),
      Object.entries(sc.params).map(([name, dflt]) => paramField(name, dflt, props[name] || {})),
      h("div", { class: "field wide", "data-field": "params" },
        h("label", { for: "extra-params" }, "more overrides (JSON object)"),
        h("input", { id: "extra-params", type: "text", placeholder: '{"name": value}', spellcheck: "false" })));
  }
  scenario.input.addEventListener("change", fill);
  fill();

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    form.querySelectorAll(".field-error").forEach((e) => e.remove());
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const sc = scenarios[scenario.input.value];
    const overrides = {};
    for (const input of params.querySelectorAll("[data-param]")) {
      const name = input.dataset.param;
      const raw = input.value.trim();
      let value;
      try { value = JSON.parse(raw); } catch { value = raw; }
      if (JSON.stringify(value) !== JSON.stringify(sc.params[name])) overrides[name] = value;
    }
    const extra = form.querySelector("#extra-params").value.trim();
    if (extra) {
      let more;
      try { more = JSON.parse(extra); } catch { more = null; }
      if (!more || typeof more !== "object" || Array.isArray(more)) {
        showFieldError(form, { loc: ["params"], msg: "not a JSON object, e.g. {\"K\": 8}" });
        return;
      }
      Object.assign(overrides, more);
    }
    const body = {
      scenario: scenario.input.value, algorithm: form.querySelector("#algorithm").value,
      seed: num(form.querySelector("#seed").value), rounds: num(form.querySelector("#rounds").value),
      params: overrides,
    };
    status.textContent = "Starting…";
    try {
      const run = await api("/runs", { method: "POST", body });
      status.textContent = "";
      started();
      location.hash = `#/run/${run.config.id}`;
    } catch (e) {
      status.replaceChildren(errorBox(e, "not started"));
      for (const err of e.errors || []) showFieldError(form, err);
    }
  });
}

function num(v) {
  const n = Number(v);
  return v === "" || Number.isNaN(n) ? v : n;
}

function field(id, label, input) {
  const wrap = h("div", { class: "field", "data-field": id }, h("label", { for: id }, label), input);
  return { wrap, input };
}

function paramField(name, dflt, schema) {
  const id = `param-${name}`;
  const isNum = typeof dflt === "number";
  const input = h("input", {
    id, name, "data-param": name, value: typeof dflt === "string" ? dflt : JSON.stringify(dflt),
    type: "text", inputmode: isNum ? "decimal" : null, spellcheck: "false",
    "aria-describedby": `${id}-hint`,
  });
  const range = [schema.minimum ?? schema.exclusiveMinimum, schema.maximum ?? schema.exclusiveMaximum];
  const hint = [schema.unit || (schema.json_schema_extra || {}).unit, `default ${JSON.stringify(dflt)}`,
    range[0] !== undefined || range[1] !== undefined ? `range ${range[0] ?? "…"}–${range[1] ?? "…"}` : null]
    .filter(Boolean).join(", ");
  return h("div", { class: "field", "data-field": `params.${name}` },
    h("label", { for: id, title: schema.description || "" }, name),
    input, h("small", { id: `${id}-hint`, class: "muted" }, hint));
}

/** Put one server error next to its field (loc ["body", "params", "K"] -> params.K). */
function showFieldError(form, err) {
  const loc = (err.loc || []).filter((p) => p !== "body");
  let key = loc.join(".");
  let wrap = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
  if (!wrap && loc[0] === "params") {
    // an unknown parameter has no field of its own: show it next to the overrides box
    key = "params";
    wrap = form.querySelector('[data-field="params"]');
  }
  if (!wrap) wrap = form.querySelector("button[type=submit]").parentElement;
  const id = `err-${key.replace(/[^\w-]/g, "_")}`;
  const input = wrap.querySelector("input, select");
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${id}`.trim());
  }
  wrap.append(h("p", { class: "field-error", id, role: "alert" }, err.msg));
}
