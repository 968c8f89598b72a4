// The dashboard's shell: a hash router (#/runs, #/run/ID, #/twin/ID, #/compare, #/figures),
// the token box and the stack's health. Each page gets a context whose timers and live feeds
// stop when the user leaves the page.

import { token } from "./api.js";
import { comparePage } from "./compare.js";
import { figuresPage } from "./figures.js";
import { runPage } from "./run.js";
import { runsPage } from "./runs.js";
import { twinPage } from "./twin.js";
import { h, mount } from "./ui.js";

const main = document.getElementById("main");
let current = null;

function pageContext() {
  const timers = [];
  const leave = [];
  return {
    every(ms, fn) { timers.push(setInterval(fn, ms)); },
    onLeave(fn) { leave.push(fn); },
    close() { timers.forEach(clearInterval); leave.forEach((fn) => fn()); },
  };
}

async function route() {
  if (current) current.close();
  const ctx = (current = pageContext());
  const [path, qs] = (location.hash.slice(1) || "/runs").split("?");
  const query = new URLSearchParams(qs || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  document.querySelectorAll("nav a").forEach((a) => a.toggleAttribute("aria-current", a.getAttribute("href") === `#/${parts[0] || "runs"}`));
  mount(main);
  if (parts[0] === "run" && parts[1]) await runPage(main, ctx, parts[1]);
  else if (parts[0] === "twin" && parts[1]) await twinPage(main, ctx, parts[1]);
  else if (parts[0] === "compare") await comparePage(main, ctx, query);
  else if (parts[0] === "figures") await figuresPage(main, ctx);
  else await runsPage(main, ctx);
  document.title = `${main.querySelector("h1")?.textContent || "twinbed"} · twinbed`;
}

/** The token box: asked for once, kept for the session (sessionStorage). */
function authBox() {
  const box = document.getElementById("auth");
  if (token.get()) {
    mount(box, h("span", { id: "auth-state" }, "token set: you can start, stop and delete runs "),
      h("button", { type: "button", id: "forget-token", onclick: () => { token.set(""); authBox(); route(); } }, "Forget token"));
    return;
  }
  const input = h("input", { id: "token", type: "password", autocomplete: "off", placeholder: "API token (make up prints it)" });
  const form = h("form", { id: "token-form" }, h("label", { for: "token" }, "Read-only. Token: "), input,
    h("button", { type: "submit" }, "Use token"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    token.set(input.value.trim());
    authBox();
    route();
  });
  mount(box, form);
}

/** The controller's /health: says when Redis is down. */
async function health() {
  const el = document.getElementById("health");
  try {
    const resp = await fetch("/health");
    const body = await resp.json();
    el.className = body.redis ? "ok" : "bad";
    el.textContent = body.redis ? "stack healthy" : `Redis down: ${body.error || "no answer"}`;
  } catch {
    el.className = "bad";
    el.textContent = "controller unreachable";
  }
}

window.addEventListener("hashchange", route);
authBox();
health();
setInterval(health, 5000);
route();
