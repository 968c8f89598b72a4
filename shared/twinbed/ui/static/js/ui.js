// Small DOM helpers shared by the pages: element builder, number format, empty and error states.

/** h("a", {href: "#/runs", class: "x"}, "text", child): an element. Attributes starting with
 *  "on" are listeners; null/false attributes are left out; children may be nested arrays. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A number for a table cell: 4 significant digits, exponent when very small or large. */
export function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

export function badge(status) {
  return h("span", { class: `badge badge-${status}` }, status);
}

/** The "nothing here yet" state, with what to do about it. */
export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** An error the user should see (Redis down, run failed, twin missing): an alert. */
export function errorBox(err, what = "") {
  const hint = err && err.status === 503 ? " The services are up but Redis is not: restart the stack (make up)." : "";
  return h("div", { class: "error", role: "alert" }, what ? `${what}: ` : "", err.message || String(err), hint);
}

/** Replace a container's children. */
export function mount(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return el;
}

export function when(wall) {
  return wall ? new Date(wall * 1000).toLocaleTimeString() : "–";
}
