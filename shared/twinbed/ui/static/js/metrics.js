// Which per-round metrics a run's charts show, taken from its round records: the scenario's
// headline metrics and modeled round duration first, then AoI, fidelity, violations, reward,
// wall time and the count of missing parties. Per-party lists become their mean.

const ALWAYS = /(aoi|fidelity|violation|reward|latency|T_max)/i;
const SKIP = new Set(["round", "slot", "modeled_start_s", "t", "frame"]);

/** One number per round for `key` (null where the round lacks it). */
export function series(rounds, key) {
  return rounds.map((r) => value(r, key));
}

function value(r, key) {
  if (key === "missing parties") return Array.isArray(r.missing) ? r.missing.length : null;
  const v = r[key];
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (Array.isArray(v)) {
    const xs = v.filter((x) => typeof x === "number" && Number.isFinite(x));
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  }
  return null;
}

/** Every chartable key of the records, in display order; `info` is the scenario's entry of
 *  GET /runs/scenarios (headline, duration_key). */
export function chartKeys(rounds, info = {}) {
  const seen = new Set();
  for (const r of rounds) {
    for (const [k, v] of Object.entries(r)) {
      if (SKIP.has(k) || typeof v === "boolean") continue;
      if (typeof v === "number" || (Array.isArray(v) && v.some((x) => typeof x === "number"))) seen.add(k);
    }
  }
  const first = [...(info.headline || []), info.duration_key].filter((k) => k && seen.has(k));
  const rest = [...seen].filter((k) => !first.includes(k));
  const main = [...first, ...rest.filter((k) => ALWAYS.test(k) && !Array.isArray(rounds.at(-1)?.[k]))];
  if (seen.has("wall_s")) main.push("wall_s");
  if (rounds.some((r) => Array.isArray(r.missing))) main.push("missing parties");
  const uniq = [...new Set(main)];
  return { main: uniq, more: [...seen].filter((k) => !uniq.includes(k)).sort() };
}

export function label(key, rounds) {
  return rounds.some((r) => Array.isArray(r[key])) ? `${key} (mean over parties)` : key;
}
