"""``twinbed reproduce semantic --figure N``: Figs. 3-7 of the paper, CSV + PNG + claims table.

Every figure point evaluates every scheme on the same cycles (run seeds ``seed + 10000 + i``):
the agents (``sac``, ``ppo``, trained for that point's parameters), ``random``, ``no-semantic``
and ``per-slot-optimum``; the table shows each learned scheme's gap to the per-slot optimum.
The metric is the paper's total DT synchronization latency T[n] = sum_k t_k[n] averaged over
slots (s), beside the mean reward (22).

Default budget (minutes on 2 shared cores): ``STEPS_DEFAULT`` training steps per agent,
``EPISODES_DEFAULT`` evaluation cycles and three points per sweep (first, middle, last);
``--full``: the paper's 20 x 5000 steps per agent, every point, 20 cycles. ``--trained``
(``agents_from``): no training here; each point evaluates the checkpoints ``twinbed train
semantic`` saved for its parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.agents import read_record
from twinbed.contract.naming import FigureResult, figure_files
from twinbed.report import Claim, pyplot, save_png, write_claims, write_csv
from twinbed.scenarios.semantic.learned import AGENTS, check_agent, load_agent
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.policies import decider
from twinbed.scenarios.semantic.train import reward_reference, train_agent
from twinbed.scenarios.semantic.world import SemanticWorld, outcome_of

__all__ = ["EPISODES_DEFAULT", "STEPS_DEFAULT", "evaluate_schemes", "reproduce"]

STEPS_DEFAULT = 2000
STEPS_FULL = 100_000  # Table III: 20 epochs x 5000 steps
EPISODES_DEFAULT = 4
SCHEMES = ("sac", "ppo", "random", "no-semantic", "per-slot-optimum")
LEARNED = ("sac", "ppo")
STYLE = {"sac": "o-", "ppo": "s-", "random": "^--", "no-semantic": "v--", "per-slot-optimum": "k:"}


def evaluate_schemes(p: SemanticParams, schemes: Mapping[str, Any], episodes: int, seed: int
                     ) -> dict[str, dict[str, float]]:
    """Mean per-slot T, reward, phi and violations of each scheme over ``episodes`` cycles.

    ``schemes`` maps a name to None (a baseline), a checkpoint path or a loaded SB3 model."""
    out: dict[str, dict[str, float]] = {}
    for name, agent in schemes.items():
        if isinstance(agent, (str, Path)):
            agent = load_agent(agent, p, name)
        recs = []
        for i in range(episodes):
            run_seed = seed + i
            pol = decider(p, name, run_seed, agent)
            world = SemanticWorld(p, run_seed)
            recs += [outcome_of(p, s, pol(s)) for s in map(world.slot, range(p.N))]
        out[name] = {"T_s": float(np.mean([r.T_s for r in recs])),
                     "reward": float(np.mean([r.reward for r in recs])),
                     "phi": float(np.mean([np.mean(r.phi) for r in recs])),
                     "violations": float(np.mean([r.violations for r in recs]))}
    return out


@dataclass(frozen=True)
class Trained:
    """An agent a figure evaluates: its checkpoint, training steps and learning curve
    (timesteps, mean training episode return in the learner's reward units)."""

    path: Path
    steps: int
    curve: list[tuple[int, float]]


def _train_point(p: SemanticParams, algos: tuple[str, ...], steps: int, seed: int, out: Path,
                 tag: str, agents_from: Path | None = None) -> dict[str, Trained]:
    """Train each learner for this point, or, with ``agents_from`` (a data dir), take the
    checkpoints ``twinbed train semantic`` saved there for these parameters (else the shipped
    ones, as a run would)."""
    res: dict[str, Trained] = {}
    for a in algos:
        if agents_from is not None:
            path = AGENTS[a].check(agents_from, p, 0).path
            check_agent(path, p, a)
            rec = read_record(path)
            res[a] = Trained(path, int(rec["steps"]),
                             [(c["timesteps"], c["mean_reward"]) for c in rec["curve"]])
            continue
        r = train_agent(p, a, steps, seed, out, path=out / "agents" / f"{tag}-{a}.zip",
                        eval_episodes=1)
        res[a] = Trained(r.path, r.steps, [(c.timesteps, c.mean_reward) for c in r.curve])
    return res


_SWEEPS: dict[int, tuple[str, str, list[float], tuple[str, ...]]] = {
    # figure: (parameter, x label, values, schemes the paper plots)
    4: ("K", "number of UDs K", [2, 4, 6, 8, 10], SCHEMES),
    5: ("D_mid_bits", "required sensed data D (Mbit, window +-0.1)",
        [0.5e6, 0.6e6, 0.7e6, 0.8e6, 0.9e6],
        SCHEMES),
    6: ("phi_min", "semantic extraction factor threshold phi_min", [0.2, 0.4, 0.6, 0.8],
        ("sac", "ppo", "per-slot-optimum")),
    7: ("f_u_max_hz", "UD computation resource f_u^max (GHz)", [0.6e9, 0.8e9, 1.0e9, 1.2e9, 1.4e9],
        ("sac", "ppo", "random", "per-slot-optimum")),
}


def _params_at(fig: int, x: float) -> SemanticParams:
    d = SemanticParams()
    if fig == 4:
        return SemanticParams(K=int(x))
    if fig == 5:  # sensing rate held at its default value, so sensing time grows with D
        return SemanticParams(D_min_bits=x - 0.1e6, D_max_bits=x + 0.1e6, v_s_bps=d.v_s)
    if fig == 6:
        return SemanticParams(phi_min=x)
    return SemanticParams(f_u_max_hz=x)


def _gap(v: float, ref: float) -> str:
    return f"{100 * (v / ref - 1):+.1f} %"


def _sweep(fig: int, out: Path, steps: int, episodes: int, seed: int, full: bool,
           agents_from: Path | None = None) -> tuple[list[dict[str, Any]], list[Claim]]:
    name, xlabel, xs, schemes = _SWEEPS[fig]
    if not full:
        xs = [xs[0], xs[len(xs) // 2], xs[-1]]
    rows: list[dict[str, Any]] = []
    from tqdm import tqdm

    for x in tqdm(xs, desc=f"fig {fig}", unit="point"):
        p = _params_at(fig, x)
        learned = tuple(s for s in schemes if s in LEARNED)
        trained = _train_point(p, learned, steps, seed, out, f"fig{fig}-{name}={x:g}", agents_from)
        ev = evaluate_schemes(p, {s: (trained[s].path if s in trained else None) for s in schemes},
                              episodes, seed + 10_000)
        for s in schemes:
            rows.append({"figure": fig, name: x, "scheme": s, **ev[s],
                         "train_steps": trained[s].steps if s in trained else 0,
                         "gap_to_optimum_pct":
                             100 * (ev[s]["T_s"] / ev["per-slot-optimum"]["T_s"] - 1)})
    plt = pyplot()
    fig_, ax = plt.subplots(figsize=(6, 4))
    scale = {"D_mid_bits": 1e-6, "f_u_max_hz": 1e-9}.get(name, 1.0)
    for s in schemes:
        r = [row for row in rows if row["scheme"] == s]
        ax.plot([row[name] * scale for row in r], [row["T_s"] for row in r], STYLE[s], label=s)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("total DT synchronization latency T (s / slot)")
    ax.legend()
    save_png(fig_, out / f"fig{fig}.png")
    return rows, _sweep_claims(fig, name, rows, schemes)


def _sweep_claims(fig: int, name: str, rows: list[dict[str, Any]], schemes: tuple[str, ...]
                  ) -> list[Claim]:
    def T(s: str) -> list[float]:
        return [r["T_s"] for r in rows if r["scheme"] == s]

    claims: list[Claim] = []
    direction = {4: "increases with K", 5: "increases with D", 6: "increases with phi_min",
                 7: "decreases with f_u^max"}[fig]
    sign = -1 if fig == 7 else 1
    for s in schemes:
        t = T(s)
        mono = all(sign * (b - a) >= -1e-9 for a, b in zip(t, t[1:], strict=False))
        claims.append(Claim(f"{s}: latency {direction}", "yes",
                            " -> ".join(f"{v:.3g}" for v in t), "holds" if mono else "differs"))
    n = len(T(schemes[0]))
    sac, others = T("sac"), [s for s in schemes if s not in ("sac", "per-slot-optimum")]
    wins = sum(all(sac[i] <= T(o)[i] for o in others) for i in range(n))
    claims.append(Claim("sac lowest latency among " + ", ".join(others), "every point",
                        f"{wins}/{n} points", "holds" if wins == n else "differs"))
    if "no-semantic" in schemes:
        hi = sum(all(T("no-semantic")[i] >= T(o)[i] for o in schemes) for i in range(n))
        claims.append(Claim("no-semantic highest latency", "every point", f"{hi}/{n} points",
                            "holds" if hi == n else "differs"))
    bench = [o for o in others]
    red = max(100 * (1 - sac[i] / T(o)[i]) for i in range(n) for o in bench)
    claims.append(Claim("sac reduction vs benchmarks, best case", "up to 13.2 %",
                        f"up to {red:.1f} %", "qualitative" if red > 0 else "differs"))
    vs_best = [100 * (1 - sac[i] / min(T(o)[i] for o in bench)) for i in range(n)]
    claims.append(Claim("sac reduction vs the best benchmark at each point", "up to 13.2 %",
                        ", ".join(f"{v:.1f} %" for v in vs_best),
                        "qualitative" if max(vs_best) > 0 else "differs"))
    opt = T("per-slot-optimum")
    for s in (x for x in schemes if x != "per-slot-optimum"):
        gaps = [100 * (T(s)[i] / opt[i] - 1) for i in range(n)]
        claims.append(Claim(f"{s}: gap to per-slot-optimum", "(not in paper)",
                            ", ".join(f"{g:+.1f} %" for g in gaps), "lower bound holds"
                            if min(gaps) >= -1e-6 else "below the bound: fading-blind reward"))
    return claims


def _fig3(out: Path, steps: int, episodes: int, seed: int, agents_from: Path | None = None
          ) -> tuple[list[dict[str, Any]], list[Claim]]:
    p = SemanticParams()
    trained = _train_point(p, LEARNED, steps, seed, out, "fig3", agents_from)
    rows: list[dict[str, Any]] = []
    b = reward_reference(p)
    for a, res in trained.items():  # the learners saw (r - b)/|b| per slot: undo it
        rows += [{"scheme": a, "timesteps": t, "episode_reward": r * abs(b) + p.N * b,
                  "train_steps": res.steps}
                 for t, r in res.curve]
    ev = evaluate_schemes(p, {"sac": trained["sac"].path, "ppo": trained["ppo"].path,
                              "random": None, "no-semantic": None, "per-slot-optimum": None},
                          episodes, seed + 10_000)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for a in LEARNED:
        r = [row for row in rows if row["scheme"] == a]
        ax.plot([row["timesteps"] for row in r], [row["episode_reward"] for row in r], label=a)
    for s in ("random", "no-semantic", "per-slot-optimum"):
        ax.axhline(ev[s]["reward"] * p.N, ls=STYLE[s][-2:] if s != "per-slot-optimum" else ":",
                   color={"random": "C2", "no-semantic": "C3", "per-slot-optimum": "k"}[s], label=s)
        rows.append({"scheme": s, "timesteps": max(t.steps for t in trained.values()),
                     "episode_reward": ev[s]["reward"] * p.N})
    ax.set_xlabel("training steps")
    ax.set_ylabel(f"episode reward ({p.N} slots; learners: stochastic, fading-averaged)")
    ax.legend()
    save_png(fig, out / "fig3.png")
    R = {s: ev[s]["reward"] * p.N for s in ev}
    claims = [
        Claim("sac final reward above ppo", "yes", f"{R['sac']:.1f} vs {R['ppo']:.1f}",
              "holds" if R["sac"] >= R["ppo"] else "differs"),
        Claim("random lowest reward after convergence (of sac, ppo, random)", "yes",
              f"random {R['random']:.1f}", "holds" if R["random"] <= min(R["sac"], R["ppo"])
              else "differs"),
    ] + [Claim(f"{s}: reward gap to per-slot-optimum", "(not in paper)",
               f"{R[s]:.1f} vs {R['per-slot-optimum']:.1f} "
               f"({_gap(R[s], R['per-slot-optimum'])})", "")
         for s in ("sac", "ppo", "random", "no-semantic")]
    return rows, claims


def reproduce(figure: int, out: Path, *, full: bool = False, steps: int | None = None,
              episodes: int | None = None, seed: int = 0, agents_from: Path | None = None
              ) -> FigureResult:
    """Write fig<N>.csv, fig<N>.png, fig<N>-claims.json to ``out``; return them with the
    claims (``result.table()`` is what the CLI prints).

    With ``agents_from`` (a data dir) the learners are not trained here: every point uses the
    checkpoint ``twinbed train semantic`` saved for its parameters (an error names the command
    for a missing one) and the table says how many steps each was trained for."""
    steps = steps or (STEPS_FULL if full else STEPS_DEFAULT)
    episodes = episodes or (20 if full else EPISODES_DEFAULT)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if figure == 3:
        rows, claims = _fig3(out, steps, episodes, seed, agents_from)
    elif figure in _SWEEPS:
        rows, claims = _sweep(figure, out, steps, episodes, seed, full, agents_from)
    else:
        raise ValueError(f"expected a figure in 3..7, got {figure}")
    files = figure_files(out, figure)
    write_csv(files.csv, rows)
    write_claims(files.claims, claims)
    budget = (f"{steps} training steps per agent" if agents_from is None else
              "agents from `twinbed train semantic`: " + ", ".join(sorted(
                  {f"{r['scheme']} {r['train_steps']}" for r in rows if r.get("train_steps")}))
              + " steps")
    detail = ""
    if figure != 3:
        name = _SWEEPS[figure][0]
        lines = [f"{name:>12} {'scheme':>17} {'T (s/slot)':>11} {'reward':>10} {'phi':>6} "
                 f"{'gap to opt':>10}"]
        for r in rows:
            lines.append(f"{r[name]:12.4g} {r['scheme']:>17} {r['T_s']:11.4f} {r['reward']:10.3f} "
                         f"{r['phi']:6.3f} {r['gap_to_optimum_pct']:+9.1f}%")
        detail = "\n".join(lines)
    return FigureResult("semantic", figure, files, claims,
                        f"{budget}, {episodes} evaluation cycles", detail)
