// The reproduced paper figures in the data directory, each with its claims table (the
// paper's number beside ours, the rule and the verdict), as `twinbed claims` counts them.

import { api } from "./api.js";
import { empty, errorBox, h, mount } from "./ui.js";

export async function figuresPage(main) {
  const body = h("div", { id: "figures" }, empty("Loading figures…"));
  mount(main, h("h1", {}, "Reproduced figures"), body);
  let data;
  try {
    data = await api("/figures");
  } catch (e) {
    mount(body, errorBox(e, "cannot list the figures"));
    return;
  }
  const withFigs = data.filter((s) => s.figures.length);
  if (!withFigs.length) {
    mount(body, empty("No reproduced figure in the data directory yet: run `twinbed reproduce SCENARIO --figure N`."));
    return;
  }
  mount(body, h("p", {}, "Verdicts computed from the data (", h("code", {}, "twinbed claims"), "): holds, differs (explained), differs."),
    withFigs.map((s) => h("section", { class: "card", "aria-labelledby": `fig-${s.scenario}` },
      h("h2", { id: `fig-${s.scenario}` }, s.scenario, " ", h("small", { class: "muted" },
        `${s.counts.holds} holds · ${s.counts["differs-explained"]} explained · ${s.counts.differs} differ · ${s.state}`)),
      s.broken.map((b) => h("div", { class: "error", role: "alert" }, b)),
      s.figures.map((f) => figure(s.scenario, f)))));
}

function figure(scenario, f) {
  return h("article", { class: "figure" },
    h("h3", {}, /^\d/.test(f.figure) ? `Fig. ${f.figure}` : f.figure),
    f.pngs.map((p) => h("img", { src: `/figures/${scenario}/${p}`, alt: `${scenario} ${p}`, loading: "lazy" })),
    f.command ? h("p", { class: "muted" }, "made by ", h("code", {}, f.command), f.seeds.length ? ` (seeds ${f.seeds.join(", ")})` : "") : null,
    f.claims.length ? h("div", { class: "scroll" }, h("table", { class: "claims" },
      h("thead", {}, h("tr", {}, ["claim", "paper", "ours", "rule", "verdict"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, f.claims.map((c) => h("tr", {},
        h("td", {}, c.what), h("td", {}, c.paper), h("td", {}, c.ours), h("td", {}, c.rule),
        h("td", {}, h("span", { class: `badge badge-${c.status}` }, c.status), c.reason ? h("div", { class: "muted" }, c.reason) : null))))))
      : empty("No claims file for this figure."));
}
