"""``twinbed reproduce fl-migration --figure {3,4,5,6,10}``: CSV + PNG + claims table.

Default budget (minutes on 2 cores): S in {9, 15, 21}, learned agents trained once per S over
the four EMDs (``steps`` each, 50-slot episodes) and every scheme evaluated for ``slots``
slots per (S, EMD). ``--full``: S = 9, 11, ..., 21, agents per (S, EMD) on 750-slot episodes,
750 evaluated slots (the paper's T); hours.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.agents import read_record
from twinbed.contract.naming import FigureResult, figure_files
from twinbed.report import Claim, pyplot, save_png, write_claims, write_csv
from twinbed.scenarios.fl_migration.algorithms import ALGORITHMS, LEARNED
from twinbed.scenarios.fl_migration.artifacts import AGENTS, AGENTS_PER_EMD
from twinbed.scenarios.fl_migration.calibration import fit_alphas, measure, utility_curve
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.training import PAPER_EMDS, EpisodeLog, train_scheme
from twinbed.scenarios.fl_migration.world import simulate

__all__ = ["Budget", "reproduce"]

BASELINES = {"actor-critic": 1, "nearest": 2, "nearest-random": 3, "ddpg": 4}
PAPER_RATIOS = {1: 0.1022, 2: 0.5070, 3: 0.6842, 4: 1.5025}


@dataclass(frozen=True)
class Budget:
    S_values: tuple[int, ...] = (9, 15, 21)
    emds: tuple[float, ...] = PAPER_EMDS
    steps: int = 4000
    episode_slots: int = 50
    slots: int = 30
    per_emd_agents: bool = False
    fl_sizes: tuple[int, ...] = (200, 500, 1000, 2000)
    fl_seeds: tuple[int, ...] = (0,)

    @staticmethod
    def full() -> Budget:
        return Budget(S_values=(9, 11, 13, 15, 17, 19, 21), steps=150_000, episode_slots=750,
                      slots=750, per_emd_agents=True, fl_sizes=(200, 400, 700, 1000, 1500, 2000),
                      fl_seeds=(0, 1, 2))


def _agents(p0: FlMigrationParams, b: Budget, seed: int, data_dir: Path, retrain: bool,
            progress: bool) -> dict[tuple[str, int, float | None], Path]:
    """Train (or reuse) every learned scheme's agent; write each one's episode log CSV."""

    out = {}
    for S in b.S_values:
        for emd in (b.emds if b.per_emd_agents else (None,)):
            for scheme in LEARNED:
                p = p0.model_copy(update={"S": S})
                spec = (AGENTS if emd is None else AGENTS_PER_EMD)[scheme]
                path = spec.user_path(data_dir, p.model_copy(update={"emd": emd or 0.0}), seed)
                log_csv = path.with_suffix(".episodes.csv")
                fresh = (path.exists() and log_csv.exists()
                         and read_record(path).get("steps") == b.steps
                         and read_record(path).get("meta", {}).get("episode_slots")
                         == b.episode_slots)
                if retrain or not fresh:
                    log = EpisodeLog()
                    train_scheme(p, scheme, seed, b.steps, data_dir, b.episode_slots, emd,
                                 progress=progress, log=log)
                    write_csv(log_csv, log.rows)
                out[(scheme, S, emd)] = path
    return out


def _evaluate(p0: FlMigrationParams, b: Budget, seed: int, data_dir: Path, progress: bool
              ) -> list[dict[str, Any]]:
    from tqdm import tqdm


    rows = []
    grid = [(S, e, a) for S in b.S_values for e in b.emds for a in ALGORITHMS]
    for S, emd, scheme in tqdm(grid, desc="fl-migration evaluate", disable=not progress):
        p = p0.model_copy(update={"S": S, "emd": emd, "emd_per_user": None})
        # --full plays the agent trained for this EMD; otherwise simulate loads the one
        # trained over all EMDs
        policy = (AGENTS_PER_EMD[scheme].load_for(p, seed, data_dir)
                  if b.per_emd_agents and scheme in LEARNED else None)
        recs = simulate(p, scheme, seed, b.slots, policy=policy, data_dir=data_dir)
        rows.append({"S": S, "emd": emd, "scheme": scheme,
                     **{k: float(np.mean([r[k] for r in recs]))
                        for k in ("objective", "reward", "utility", "cost_total", "cost_norm",
                                  "migrations", "gamma_mean")},
                     "feasible_share": float(np.mean([r["feasible"] for r in recs]))})
    return rows


def _gap(rows: list[dict[str, Any]], a: str, b_: str, key: str = "objective") -> float:
    """Mean over (S, EMD) of x_a - x_b (absolute: e^t crosses zero, ratios would explode)."""
    idx = {(r["S"], r["emd"], r["scheme"]): r[key] for r in rows}
    return float(np.mean([idx[(S, e, a)] - v for (S, e, s), v in idx.items() if s == b_]))


def _code_hash() -> str:
    """Hash of the modules an evaluation depends on (a changed scheme invalidates the cache)."""

    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("model.py", "allocation.py", "algorithms.py", "env.py", "world.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _ratio(rows: list[dict[str, Any]], a: str, b_: str, key: str = "objective") -> float:
    """Mean over (S, EMD) of (x_a - x_b) / |x_b|: "a is this many times higher than b"."""
    idx = {(r["S"], r["emd"], r["scheme"]): r[key] for r in rows}
    vals = [(idx[(S, e, a)] - idx[(S, e, b_)]) / abs(idx[(S, e, b_)])
            for (S, e, s) in idx if s == b_ and abs(idx[(S, e, b_)]) > 0]
    return float(np.mean(vals))


def _fig3(p: FlMigrationParams, b: Budget, out: Path, progress: bool) -> list[Claim]:

    rows = measure(b.fl_sizes, b.emds, b.fl_seeds, p, progress)
    fit = fit_alphas(rows, p)
    write_csv(out / "fig3.csv", rows)
    (out / "fig3_fit.json").write_text(json.dumps(fit, indent=1))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    n = np.linspace(min(b.fl_sizes), max(b.fl_sizes), 200)
    for i, e in enumerate(b.emds):
        pts = [r for r in rows if r["emd"] == e]
        col = f"C{i}"
        ax.scatter([r["n"] for r in pts], [r["accuracy"] for r in pts], color=col,
                   label=f"measured, EMD {e}")
        ax.plot(n, utility_curve(np.vstack([n, np.full_like(n, e)]), *fit["alphas"].values()),
                "--", color=col)
        ax.plot(n, utility_curve(np.vstack([n, np.full_like(n, e)]),
                                 *[getattr(p, k) for k in fit["alphas"]]), ":", color=col, alpha=.6)
    ax.set_xlabel("training samples of a user")
    ax.set_ylabel("accuracy / data utility")
    ax.set_title("Fig. 3: measured (dots), fitted eq. 11 (--), paper's alphas (:)", fontsize=9)
    ax.legend(fontsize=7)
    save_png(fig, out / "fig3.png")
    return [Claim("Fig. 3: eq. (11) fits measured accuracy", "fitted curves through the points",
                  f"RMSE {fit['rmse']:.4f} (paper's alphas on our data: "
                  f"{fit['paper_alphas_rmse']:.4f})",
                  "holds" if fit["rmse"] < 0.02 else "differs: see README"),
            Claim("fitted alphas (digits, MLP)", "0.8862 6.8382 0.0006 0.9172 -0.0231 0.8366",
                  " ".join(f"{v:.4g}" for v in fit["alphas"].values()), "our data, our model")]


def _episode_rows(paths: dict[tuple[str, int, float | None], Path], scheme: str
                  ) -> list[dict[str, Any]]:
    rows = []
    for (s, S, _), path in paths.items():
        if s != scheme:
            continue
        with path.with_suffix(".episodes.csv").open() as f:
            for r in csv.DictReader(f):
                rows.append({"S": S, **{k: float(v) for k, v in r.items()}})
    return rows


def _fig_curves(rows: list[dict[str, Any]], b: Budget, key: str, ylabel: str, path: Path,
                title: str) -> dict[tuple[int, float], float]:
    """One panel per EMD, one line per S (moving average over 5 episodes); returns the mean
    of the last quarter of episodes per (S, EMD)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(b.emds), figsize=(4 * len(b.emds), 3.2), squeeze=False)
    last = {}
    for j, e in enumerate(b.emds):
        ax = axes[0, j]
        for S in b.S_values:
            y = np.array([r[key] for r in rows if r["S"] == S and abs(r["emd"] - e) < 1e-9])
            if y.size == 0:
                continue
            k = min(5, y.size)
            ax.plot(np.convolve(y, np.ones(k) / k, mode="valid"), label=f"S={S}")
            last[(S, e)] = float(np.mean(y[-max(1, y.size // 4):]))
        ax.set_title(f"EMD {e}", fontsize=9)
        ax.set_xlabel("episode (this EMD)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_png(fig, path)
    return last


def reproduce(figure: int, out: Path, data_dir: Path, seed: int = 0, full: bool = False,
              retrain: bool = False, progress: bool = True, budget: Budget | None = None,
              params: FlMigrationParams | None = None) -> FigureResult:
    """Make figure ``figure`` (CSV, PNG, claims JSON and their table as ``-claims.txt``)."""
    b = budget or (Budget.full() if full else Budget())
    p0 = params or FlMigrationParams()
    out.mkdir(parents=True, exist_ok=True)
    claims: list[Claim] = []
    if figure == 3:
        claims = _fig3(p0, b, out, progress)
    elif figure in (4, 10):
        paths = _agents(p0, b, seed, data_dir, retrain, progress)
        rows = _episode_rows(paths, "ppo")
        write_csv(out / f"fig{figure}.csv", rows)
        if figure == 4:
            last = _fig_curves(rows, b, "reward_mean", "reward per slot (25)",
                               out / "fig4.png", "Fig. 4: PPO convergence (training episodes)")
            for S in b.S_values:
                found = [last.get((S, e)) for e in b.emds]
                vals = [v for v in found if v is not None]
                if len(vals) == len(found):
                    claims.append(Claim(f"Fig. 4, S={S}: converged reward falls with EMD",
                                        "EMD 0.0 highest, then decreasing",
                                        "EMD " + "/".join(f"{e:g}" for e in b.emds) + ": "
                                        + ", ".join(f"{v:.3f}" for v in vals),
                                        "holds" if np.all(np.diff(vals) <= 0) else "differs"))
            by_S = [np.mean([last[(S, e)] for e in b.emds if (S, e) in last]) for S in b.S_values]
            claims.append(Claim("Fig. 4: more edge servers, higher converged reward",
                                "increasing in S",
                                ", ".join(f"S={S}: {v:.3f}"
                                          for S, v in zip(b.S_values, by_S, strict=True)),
                                "holds" if np.all(np.diff(by_S) >= 0) else "differs"))
        else:
            last = _fig_curves(rows, b, "utility_mean", "data utility (11)", out / "fig10.png",
                               "Fig. 10: PPO data utility over training episodes")
            for e in b.emds:
                first = [r["utility_mean"] for r in rows if abs(r["emd"] - e) < 1e-9][:5]
                conv = np.mean([last[(S, e)] for S in b.S_values if (S, e) in last])
                claims.append(Claim(f"Fig. 10, EMD {e}: utility rises then settles",
                                    "rises from its start value",
                                    f"first episodes {np.mean(first):.4f} -> last {conv:.4f}",
                                    "holds" if conv >= np.mean(first) else "differs"))
    elif figure in (5, 6):
        paths = _agents(p0, b, seed, data_dir, retrain, progress)
        # Figs. 5 and 6 share one evaluation: reuse it when made with this budget and params
        cache = out / "evaluation.json"
        key = {"budget": repr(b), "params": p0.model_dump(mode="json"), "seed": seed,
               "code": _code_hash(),
               "agents": sorted((q.name, q.stat().st_mtime_ns) for q in paths.values())}
        cached = json.loads(cache.read_text()) if cache.exists() and not retrain else None
        if cached and cached.get("key") == key:
            rows = cached["rows"]
        else:
            rows = _evaluate(p0, b, seed, data_dir, progress)
            cache.write_text(json.dumps({"key": key, "rows": rows}))
        write_csv(out / f"fig{figure}.csv", rows)
        plt = pyplot()
        fig, axes = plt.subplots(1, len(b.emds), figsize=(4 * len(b.emds), 3.4), squeeze=False)
        for j, e in enumerate(b.emds):
            ax = axes[0, j]
            ax2 = ax.twinx() if figure == 6 else None
            for i, a in enumerate(ALGORITHMS):
                pts = [r for r in rows if r["scheme"] == a and r["emd"] == e]
                xs = [r["S"] for r in pts]
                if figure == 5:
                    ax.plot(xs, [r["objective"] for r in pts], "o-", color=f"C{i}", label=a)
                elif ax2 is not None:
                    ax.plot(xs, [r["utility"] for r in pts], "o--", color=f"C{i}", label=a)
                    ax2.plot(xs, [r["cost_total"] for r in pts], "s-", color=f"C{i}")
            ax.set_title(f"EMD {e}", fontsize=9)
            ax.set_xlabel("edge servers S")
            ax.set_ylabel("objective (22)" if figure == 5 else "data utility (--)")
            if ax2 is not None:
                ax2.set_ylabel("total cost (-)")
                ax2.set_yscale("log")
            ax.legend(fontsize=6)
        fig.suptitle("Fig. 5: objective vs edge servers" if figure == 5 else
                     "Figs. 6-9: data utility and energy cost vs edge servers", fontsize=10)
        save_png(fig, out / f"fig{figure}.png")
        for a, k in BASELINES.items():
            got = _ratio(rows, "ppo", a)
            claims.append(Claim(f"proposed vs baseline {k} ({a}), mean (e_ppo - e_b)/|e_b|",
                                f"{PAPER_RATIOS[k]:.4f}", f"{got:.4f}",
                                "holds (ppo above)" if got > 0 else "differs: see README"))
        for a in ("ppo", *BASELINES):
            gap = _gap(rows, "greedy-optimum", a)
            rgap = _gap(rows, "greedy-optimum", a, "reward")
            claims.append(Claim(f"greedy-optimum minus {a}, mean over (S, EMD)",
                                "(not in the paper)",
                                f"objective {gap:+.4f}, reward {rgap:+.4f}", ""))
        for a in ALGORITHMS:
            lo = np.mean([r["objective"] for r in rows if r["scheme"] == a
                          and r["S"] == min(b.S_values)])
            hi = np.mean([r["objective"] for r in rows if r["scheme"] == a
                          and r["S"] == max(b.S_values)])
            claims.append(Claim(f"{a}: objective grows with S", "increases with S",
                                f"S={min(b.S_values)}: {lo:.4f}, S={max(b.S_values)}: {hi:.4f}",
                                "holds" if hi > lo else "differs"))
    else:
        raise ValueError(f"expected a figure in (3, 4, 5, 6, 10), got {figure}")
    files = figure_files(out, figure)  # the naming scheme: fig<N>.csv, .png, -claims.json
    write_claims(files.claims, claims)
    result = FigureResult("fl-migration", figure, files, claims,
                          f"seed {seed}, {'paper budget' if full else 'default budget'}")
    files.claims.with_suffix(".txt").write_text(result.table() + "\n")
    return result
