"""``twinbed reproduce fl-migration --figure {3,4,5,6,10}``: CSV + PNG + computed claims.

Default budget (a quarter of an hour of CPU on 2 cores, most of it training): Figs. 4 and 10
train PPO for S in {9, 21} (``curve_S``) on instance seeds 0-4 (``curve_seeds``), ``steps`` each
over the four EMDs on 50-slot episodes; Figs. 5-9 play the agents of seed 0 (PPO, actor-critic,
DDPG, trained for S in {9, 15, 21}) and the baselines on held-out trajectory seeds 101-105
(``eval_seeds``), ``slots`` slots per (S, EMD, scheme, trajectory). ``--full``: S = 9, 11, ...,
21, agents per (S, EMD) on 750-slot episodes at 150,000 steps, 750 evaluated slots (the paper's
T), 10 trajectory seeds; days on this machine.

Every plotted number is a mean over seeds with its 95 % bootstrap interval
(:mod:`twinbed.stats`), drawn as a band (training curves) or error bars (schemes vs S); the
CSVs carry the seeds and the ``_lo``/``_hi`` columns. Every claim of the paper about these
figures is a predicate of :mod:`twinbed.claims`, the rule printed beside the verdict; a reason
(README.md) is attached only when the data says a claim differs.

The paper's "x times higher" (Fig. 5): it reads (e_ppo - e_b) / e_b. The objective (22) is
beta1 * utility - beta2 * mean Norm, and on this testbed e_b crosses 0 between S = 9 and 21
(e.g. nearest -0.117 -> +0.025), so that ratio flips sign and explodes near 0: its mean says
nothing. The ordering is judged on the paired difference e_ppo - e_b in objective units
(bootstrap over trajectory seeds, the same episodes for every scheme); its size is shown, beside
the paper's four numbers, as a ratio over the objective's floor -beta2 (Norm < 1, utility >= 0,
so e > -beta2 and the denominator e_b + beta2 never changes sign):
(e_ppo - e_b) / (e_b + beta2). That size is not judged against the paper's: the paper's
denominator is a different (and here undefined) quantity.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from twinbed import claims as cl
from twinbed import stats
from twinbed.agents import read_record
from twinbed.contract.naming import FigureResult, figure_files
from twinbed.report import band, errorbars, paper_points, pyplot, save_png, write_csv
from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.algorithms import ALGORITHMS, LEARNED
from twinbed.scenarios.fl_migration.artifacts import AGENTS, AGENTS_PER_EMD
from twinbed.scenarios.fl_migration.calibration import ALPHAS, fit_alphas, measure, utility_curve
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.training import PAPER_EMDS, EpisodeLog, train_scheme
from twinbed.scenarios.fl_migration.world import Policy, decide_slot, load_policy, slot_record

__all__ = ["BASELINES", "PAPER_RATIOS", "REASONS", "Budget", "reproduce"]

BASELINES = {"actor-critic": 1, "nearest": 2, "nearest-random": 3, "ddpg": 4}
#: "on average 0.1022, 0.5070, 0.6842 and 1.5025 times higher than Baselines 1-4" (Sec. V-B)
PAPER_RATIOS = {1: 0.1022, 2: 0.5070, 3: 0.6842, 4: 1.5025}
METRICS = ("objective", "reward", "utility", "cost_total", "cost_norm", "migrations",
           "gamma_mean", "feasible")

#: Fig. 3: eq. (11) "fits" measured accuracy when the RMSE over the measured points is at most
#: this (accuracy units; the points span ~0.93-0.98, so 0.02 is a third of their range).
TOL_FIT_RMSE = 0.02
#: Fig. 4 "converges": the fitted change of the reward per slot over the last quarter of the
#: training episodes lies within +- this share of the converged level (the paper: "still
#: fluctuate slightly").
SETTLE_SHARE = 0.02
#: Figs. 6-9 "the costs in these four figures are the same": total cost at EMD 0.6 within +- this
#: many % of that at EMD 0.
TOL_SAME_COST_PCT = 10.0
#: Figs. 6-9 Baseline 3 "maintains its data utility at the same level" over S: utility at the
#: largest S within +- this many % of that at the smallest.
TOL_SAME_UTILITY_PCT = 5.0
#: moving average (episodes) of the drawn training curves (the claims use the raw episodes)
SMOOTH = 5

_README = "shared/twinbed/scenarios/fl_migration/README.md"
_REPRO = f"{_README}#reproduced-default-budget"
REASONS: dict[str, cl.Reason] = {
    "fig3/paper-alphas": cl.Reason(
        "digits with a 64-32-10 MLP, not MNIST with ResNet-18: accuracy rises with data as eq. "
        "(11) says but hardly depends on the EMD, while the paper's v(0.6) = 0.57 caps it at "
        "57 %", f"{_README}#readings-and-reconstructions-every-gap-and-why"),
    "fig4/converges": cl.Reason(
        "the reward is dominated by the barrier terms ((1/f) ln(slack), ~0.7 per server and "
        "constraint), whose spread between episodes (user trajectories, the EMD drawn per "
        "episode) is larger than what the agent gains at this budget", _REPRO),
    "fig4/rises": cl.Reason(
        "the allocation is exact from the first episode and 'stay' is nearly optimal under "
        "Table II's migration costs, so an untrained policy already earns most of the reward; "
        "the default budget is 3 % of the paper's", _REPRO),
    "fig5/ppo-above-b1": cl.Reason(
        "A2C ties PPO in reward at this budget (17.805 vs 17.815 per slot) and has the higher "
        "objective at every S (S = 9: -0.059 vs -0.086)", _REPRO),
    "fig5/ppo-above-b4": cl.Reason(
        "the objective (22) averages Norm over all S servers, so packing twins onto few "
        "servers (empty ones count Norm(0) = 0) raises e^t: DDPG does, and pays in reward "
        "(barriers) and total energy", _REPRO),
    "fig5/ppo-best-every-emd": cl.Reason(
        "the same two baselines (A2C, DDPG) as fig5/ppo-above-b1 and -b4", _REPRO),
    "fig6/b3-costlier": cl.Reason(
        "measured, with the same association: nearest-random's total energy is 3-7 % below "
        "nearest's (S = 9, EMD 0.2: 11,916 vs 12,829; compute 4,686 vs 3,785 from its higher "
        "gamma 0.51 vs 0.23, migration 7,208 vs 9,022, the latter not traced further); it pays "
        "in feasibility instead (C2/C3 met in 73 % of slots at S = 9)", _REPRO),
    "fig10/grows-with-S": cl.Reason(
        "each slot's new data (200-1000 samples) nearly saturates eq. (11), so the history "
        "the allocation keeps moves the utility only in the second or third decimal: PPO keeps "
        "little (gamma 0.06 at S = 9 and 21), nearest 0.20, nearest-random 0.51, utilities "
        "0.717 / 0.728 / 0.752; PPO's converged utility is 0.898 at S = 9 and 0.896 at S = 21 "
        "(EMD 0, 5 training seeds)", _REPRO),
    "fig10/rises": cl.Reason(
        "the allocation (problem 26) is exact from the first episode and each slot's new data "
        "nearly saturates eq. (11) (see fig10/grows-with-S), so the association the agent "
        "learns hardly moves the utility: first episodes 0.8985, last quarter 0.8978 (S = 9, "
        "EMD 0, 5 seeds)", _REPRO),
}


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
    curve_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # instance/training seeds, Figs. 4 and 10
    curve_S: tuple[int, ...] = (9, 21)  # the S of Figs. 4 and 10 (PPO trained per S and seed)
    eval_seeds: tuple[int, ...] = (101, 102, 103, 104, 105)  # trajectory seeds, Figs. 5-9

    @staticmethod
    def full() -> Budget:
        return Budget(S_values=(9, 11, 13, 15, 17, 19, 21), steps=150_000, episode_slots=750,
                      slots=750, per_emd_agents=True, fl_sizes=(200, 400, 700, 1000, 1500, 2000),
                      fl_seeds=(0, 1, 2), eval_seeds=tuple(range(101, 111)),
                      curve_S=(9, 11, 13, 15, 17, 19, 21))


def _log_rows(path: Path) -> int:
    with path.open() as f:
        return sum(1 for _ in csv.DictReader(f))


def _agents(p0: FlMigrationParams, b: Budget, seeds: tuple[int, ...], schemes: tuple[str, ...],
            data_dir: Path, retrain: bool, progress: bool
            ) -> dict[tuple[str, int, float | None, int], Path]:
    """Train (or reuse) the agents of ``schemes`` for every S and instance seed in ``seeds``;
    write each one's episode log CSV. Keys: (scheme, S, EMD or None, seed)."""

    out = {}
    n_train = b.steps // b.episode_slots  # complete training episodes
    for seed in seeds:
        for S in b.S_values:
            for emd in (b.emds if b.per_emd_agents else (None,)):
                for scheme in schemes:
                    p = p0.model_copy(update={"S": S})
                    spec = (AGENTS if emd is None else AGENTS_PER_EMD)[scheme]
                    path = spec.user_path(data_dir, p.model_copy(update={"emd": emd or 0.0}),
                                          seed)
                    log_csv = path.with_suffix(".episodes.csv")
                    fresh = (path.exists() and log_csv.exists()
                             and read_record(path).get("steps") == b.steps
                             and read_record(path).get("meta", {}).get("episode_slots")
                             == b.episode_slots
                             and _log_rows(log_csv) == n_train)
                    if retrain or not fresh:
                        log = EpisodeLog()
                        res = train_scheme(p, scheme, seed, b.steps, data_dir, b.episode_slots,
                                           emd, progress=progress, log=log)
                        if res.resumed_from:  # the log lacks the episodes before the kill:
                            log = EpisodeLog()  # train again from the start (no checkpoint)
                            train_scheme(p, scheme, seed, b.steps, data_dir, b.episode_slots,
                                         emd, progress=progress, log=log)
                        # the training episodes only (train() then logs its evaluation's)
                        write_csv(log_csv, log.rows[:n_train])
                    out[(scheme, S, emd, seed)] = path
    return out


def _policies(p: FlMigrationParams, b: Budget, seed: int, data_dir: Path, S: int, emd: float
              ) -> dict[str, Policy]:
    q = p.model_copy(update={"S": S, "emd": emd, "emd_per_user": None})
    if b.per_emd_agents:  # --full plays the agent trained for this EMD
        return {a: AGENTS_PER_EMD[a].load_for(q, seed, data_dir) for a in LEARNED}
    return {a: load_policy(q, a, seed, data_dir) for a in LEARNED}


def _evaluate(p0: FlMigrationParams, b: Budget, seed: int, data_dir: Path, progress: bool
              ) -> list[dict[str, Any]]:
    """One row per (S, EMD, scheme, trajectory seed): per-slot means over ``b.slots`` slots on
    the instance of ``seed``. Every scheme plays the same trajectories (common random numbers),
    so differences between schemes are paired by trajectory seed."""
    from tqdm import tqdm

    rows = []
    grid = [(S, e) for S in b.S_values for e in b.emds]
    for S, emd in tqdm(grid, desc="fl-migration evaluate", disable=not progress):
        q = p0.model_copy(update={"S": S, "emd": emd, "emd_per_user": None})
        inst = model.draw_instance(q, seed)
        policies = _policies(p0, b, seed, data_dir, S, emd)
        for traj in b.eval_seeds:
            for scheme in ALGORITHMS:
                st = model.first_state(q, inst, traj)
                recs = []
                for _ in range(b.slots):
                    assoc, gamma = decide_slot(q, inst, st, scheme, traj, policies.get(scheme))
                    recs.append(slot_record(q, inst, st, assoc, gamma))
                    st = model.next_state(q, st, assoc, traj)
                rows.append({"S": S, "emd": emd, "scheme": scheme, "seed": traj,
                             **{k: float(np.mean([r[k] for r in recs])) for k in METRICS}})
    return rows


def _code_hash() -> str:
    """Hash of the modules an evaluation depends on (a changed scheme invalidates the cache)."""

    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("model.py", "allocation.py", "algorithms.py", "env.py", "world.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _seeds_text(seeds: tuple[int, ...] | list[int]) -> list[int]:
    return [int(s) for s in seeds]


# -- Fig. 3 ---------------------------------------------------------------------------------------
def _fig3(p: FlMigrationParams, b: Budget, out: Path, progress: bool) -> list[cl.Claim]:
    rows = measure(b.fl_sizes, b.emds, b.fl_seeds, p, progress)
    fit = fit_alphas(rows, p)
    write_csv(out / "fig3-runs.csv", rows)
    agg = []
    for e in b.emds:
        for size in b.fl_sizes:
            pts = [r for r in rows if r["n"] == size and r["emd"] == e]
            acc = np.array([r["accuracy"] for r in pts])
            agg.append({"n": size, "emd": e,
                        **stats.mean_ci(acc, label="seeds").columns("accuracy"),
                        "seeds": sorted({int(r["seed"]) for r in pts})})
    write_csv(out / "fig3.csv", agg)
    (out / "fig3_fit.json").write_text(json.dumps(fit, indent=1))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    n = np.linspace(min(b.fl_sizes), max(b.fl_sizes), 200)
    paper_alphas = [getattr(p, k) for k in ALPHAS]
    for i, e in enumerate(b.emds):
        col = f"C{i}"
        pts = [r for r in agg if r["emd"] == e]
        errorbars(ax, [r["n"] for r in pts],
                  [stats.Estimate(r["accuracy"], r["accuracy_lo"], r["accuracy_hi"],
                                  len(b.fl_seeds), "") for r in pts],
                  f"measured, EMD {e} ({len(b.fl_seeds)} seed(s), 95 % CI)", color=col)
        nphi = np.vstack([n, np.full_like(n, e)])
        ax.plot(n, utility_curve(nphi, *fit["alphas"].values()), "--", color=col)
        # the paper's stated alphas (Sec. V / Table II) drawn as the paper's
        paper_points(ax, list(n[::20]), list(utility_curve(nphi, *paper_alphas)[::20]),
                     f"eq. (11) with Table II's alphas, EMD {e}", color=col, ms=7)
    ax.set_xlabel("training samples of a user")
    ax.set_ylabel("accuracy / data utility")
    ax.set_title("Fig. 3: measured (error bars), fitted eq. 11 (--), paper's alphas (stars)",
                 fontsize=9)
    ax.legend(fontsize=6)
    save_png(fig, out / "fig3.png")
    npts = len(rows)
    return [
        cl.claim("fig3/fit", "Fig. 3: eq. (11) with fitted alphas fits the measured accuracy "
                 f"(RMSE over {npts} runs)",
                 cl.at_most(stats.Estimate.exact(fit["rmse"], npts), TOL_FIT_RMSE,
                            paper="dashed lines through the points", fmt=".4f"), REASONS),
        cl.claim("fig3/paper-alphas", "Fig. 3: eq. (11) with the paper's alphas predicts the "
                 f"measured accuracy (RMSE over {npts} runs)",
                 cl.at_most(stats.Estimate.exact(fit["paper_alphas_rmse"], npts), TOL_FIT_RMSE,
                            paper="Table II alphas fit the points", fmt=".4f"), REASONS),
    ]


# -- Figs. 4 and 10 -------------------------------------------------------------------------------
def _episode_rows(paths: dict[tuple[str, int, float | None, int], Path], scheme: str
                  ) -> list[dict[str, Any]]:
    rows = []
    for (s, S, _, seed), path in paths.items():
        if s != scheme:
            continue
        with path.with_suffix(".episodes.csv").open() as f:
            for r in csv.DictReader(f):
                rows.append({"S": S, "seed": seed, **{k: float(v) for k, v in r.items()}})
    return rows


def _series(rows: list[dict[str, Any]], key: str, S: int, seed: int,
            emd: float | None = None) -> np.ndarray:
    """One training run's per-episode ``key`` in training order (of one EMD if given)."""
    return np.array([r[key] for r in rows if r["S"] == S and r["seed"] == seed
                     and (emd is None or abs(r["emd"] - emd) < 1e-9)], float)


def _converged(y: np.ndarray) -> float:
    """The converged level of a run: the mean of its last quarter of episodes."""
    return float(np.mean(y[-max(1, y.size // 4):]))


def _curves(rows: list[dict[str, Any]], b: Budget, key: str, seeds: tuple[int, ...]
            ) -> dict[tuple[int, float], np.ndarray]:
    """(S, EMD) -> (seeds, k) per-episode ``key`` of the k first episodes of that EMD in each
    run (k: the fewest any seed has); moving average over SMOOTH episodes for the plot."""
    out = {}
    for S in b.S_values:
        for e in b.emds:
            ys = [_series(rows, key, S, s, e) for s in seeds]
            k = min(y.size for y in ys)
            if k >= 1:
                out[(S, e)] = np.stack([y[:k] for y in ys])
    return out


def _window(k: int) -> int:
    """The moving-average window of a drawn curve of k episodes (SMOOTH, shorter for short
    curves so that a band keeps several points)."""
    return max(1, min(SMOOTH, k // 4))


def _smooth(Y: np.ndarray) -> np.ndarray:
    w = _window(Y.shape[1])
    return np.stack([np.convolve(y, np.ones(w) / w, mode="valid") for y in Y])


def _curve_figure(rows: list[dict[str, Any]], b: Budget, seeds: tuple[int, ...], key: str,
                  ylabel: str, path: Path, title: str) -> list[dict[str, Any]]:
    """One panel per (S, EMD) (a row per S, so that each axis zooms in on its band): the mean
    over seeds with its 95 % CI; the CSV rows."""
    curves = _curves(rows, b, key, seeds)
    plt = pyplot()
    fig, axes = plt.subplots(len(b.S_values), len(b.emds),
                             figsize=(3.6 * len(b.emds), 2.6 * len(b.S_values)), squeeze=False)
    out = []
    for i, S in enumerate(b.S_values):
        for j, e in enumerate(b.emds):
            ax = axes[i, j]
            if (S, e) not in curves:
                continue
            k = curves[(S, e)].shape[1]
            Y = _smooth(curves[(S, e)])
            est = [stats.mean_ci(Y[:, t], label="seeds") for t in range(Y.shape[1])]
            x = list(range(_window(k), k + 1))  # the window's last episode
            band(ax, x, est, f"{len(seeds)} seeds, 95 % CI", color=f"C{i}")
            out += [{"S": S, "emd": e, "episode_of_emd": xi, **es.columns(key),
                     "smoothed_over": _window(k),
                     "seeds": _seeds_text(seeds)} for xi, es in zip(x, est, strict=True)]
            ax.set_title(f"S = {S}, EMD {e}", fontsize=9)
            if i == len(b.S_values) - 1:
                ax.set_xlabel(f"episode of this EMD (mean of up to {SMOOTH})", fontsize=8)
            if j == 0:
                ax.set_ylabel(ylabel, fontsize=8)
            ax.legend(fontsize=6)
    fig.suptitle(f"{title}: mean of {len(seeds)} training seeds, 95 % CI", fontsize=10)
    save_png(fig, path)
    return out


def _runs_matrix(rows: list[dict[str, Any]], key: str, S: int, seeds: tuple[int, ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(episodes x, (seeds, episodes) Y) of the runs at S, all EMDs, in training order."""
    ys = [_series(rows, key, S, s) for s in seeds]
    k = min(y.size for y in ys)
    return np.arange(1, k + 1, dtype=float), np.stack([y[:k] for y in ys])


def _per_seed_levels(rows: list[dict[str, Any]], key: str, b: Budget, seeds: tuple[int, ...],
                     by: str, S: int | None = None) -> np.ndarray:
    """(seeds, points) converged levels: over S (the mean of the four EMDs' levels, so that
    which EMDs a run drew last does not matter) or over EMD (at S)."""
    if by == "S":
        return np.array([[float(np.mean([_converged(_series(rows, key, s_, sd, e))
                                         for e in b.emds])) for s_ in b.S_values]
                         for sd in seeds])
    assert S is not None
    return np.array([[_converged(_series(rows, key, S, sd, e)) for e in b.emds]
                     for sd in seeds])


def _fig4(rows: list[dict[str, Any]], b: Budget, seeds: tuple[int, ...], out: Path
          ) -> list[cl.Claim]:
    csv_rows = _curve_figure(rows, b, seeds, "reward_mean", "reward per slot (25)",
                             out / "fig4.png", "Fig. 4: PPO training (reward per episode)")
    write_csv(out / "fig4.csv", csv_rows)
    claims = []
    rises, settles = [], []
    for S in b.S_values:
        x, Y = _runs_matrix(rows, "reward_mean", S, seeds)
        rises.append(cl.rises(stats.slope_ci(x, Y), per="episode", fmt=".2g"))
        level = float(np.mean(Y[:, -max(1, Y.shape[1] // 4):]))
        ch = stats.change_ci(x.tolist(), Y, last=0.25)
        settles.append(cl.settles(ch, SETTLE_SHARE * abs(level), fmt=".2g"))
    claims.append(cl.claim("fig4/rises", "Fig. 4: PPO's reward rises over training (fitted "
                           f"slope over all episodes, every S of {list(b.S_values)})",
                           cl.all_of(*rises, paper="rises, converges quickly"), REASONS))
    claims.append(cl.claim("fig4/converges", "Fig. 4: ... and settles (change over the last "
                           f"quarter within +- {SETTLE_SHARE:.0%} of its level, every S)",
                           cl.all_of(*settles, paper="fluctuates slightly once converged"),
                           REASONS))
    Ls = _per_seed_levels(rows, "reward_mean", b, seeds, "S")
    claims.append(cl.claim("fig4/grows-with-S", "Fig. 4: more edge servers, higher converged "
                           "reward (slope over S)",
                           cl.rises(stats.slope_ci(np.array(b.S_values, float), Ls),
                                    paper="higher with S", per="server"), REASONS))
    emds = np.array(b.emds, float)
    falls = [cl.falls(stats.slope_ci(emds, _per_seed_levels(rows, "reward_mean", b, seeds, "EMD",
                                                             S)), per="unit of EMD", fmt=".2g")
             for S in b.S_values]
    claims.append(cl.claim("fig4/falls-with-emd", "Fig. 4: converged reward falls with the EMD "
                           f"(slope over EMD, every S of {list(b.S_values)})",
                           cl.all_of(*falls, paper="highest at EMD 0, then decreasing"),
                           REASONS))
    return claims


def _fig10(rows: list[dict[str, Any]], b: Budget, seeds: tuple[int, ...], out: Path
           ) -> list[cl.Claim]:
    csv_rows = _curve_figure(rows, b, seeds, "utility_mean", "data utility (11)",
                             out / "fig10.png", "Fig. 10: PPO data utility over training")
    write_csv(out / "fig10.csv", csv_rows)
    curves = _curves(rows, b, "utility_mean", seeds)
    rises = []
    for e in b.emds:
        # runs: the trainings (seed, S), independent of each other
        Ys = [curves[(S, e)] for S in b.S_values if (S, e) in curves]
        k = min(Y.shape[1] for Y in Ys)
        Y = np.concatenate([Y[:, :k] for Y in Ys])
        if k >= 2:
            rises.append(cl.rises(stats.slope_ci(np.arange(1, k + 1, dtype=float), Y),
                                  per=f"episode of EMD {e}", fmt=".2g"))
    Ls = _per_seed_levels(rows, "utility_mean", b, seeds, "S")
    return [
        cl.claim("fig10/rises", "Fig. 10: PPO's data utility rises over training (slope over "
                 "each EMD's episodes, every EMD)",
                 cl.all_of(*rises, paper="rises rapidly, then stabilizes") if rises else
                 cl.fact(False, paper="rises", ours="too few episodes",
                         rule="needs 2 episodes per EMD"), REASONS),
        cl.claim("fig10/grows-with-S", "Fig. 10: more edge servers, higher converged utility "
                 "(slope over S)",
                 cl.rises(stats.slope_ci(np.array(b.S_values, float), Ls),
                          paper="largest at large S", per="server", fmt=".2g"), REASONS),
    ]


# -- Figs. 5-9 ------------------------------------------------------------------------------------
def _cells(rows: list[dict[str, Any]], scheme: str, key: str, seeds: tuple[int, ...],
           S: int | None = None, emd: float | None = None) -> np.ndarray:
    """Per trajectory seed: the mean of ``key`` over the (S, EMD) cells selected."""
    out = []
    for sd in seeds:
        v = [r[key] for r in rows if r["scheme"] == scheme and r["seed"] == sd
             and (S is None or r["S"] == S) and (emd is None or abs(r["emd"] - emd) < 1e-9)]
        out.append(float(np.mean(v)))
    return np.array(out)


def _diff(a: np.ndarray, b_: np.ndarray) -> stats.Estimate:
    return stats.diff_ci(a, b_, label="trajectory seeds")  # paired: the same trajectories


def _summary_rows(rows: list[dict[str, Any]], b: Budget) -> list[dict[str, Any]]:
    seeds = b.eval_seeds
    out = []
    for S in b.S_values:
        for e in b.emds:
            for a in ALGORITHMS:
                row: dict[str, Any] = {"S": S, "emd": e, "scheme": a}
                for k in METRICS:
                    row.update(stats.mean_ci(_cells(rows, a, k, seeds, S, e),
                                             label="trajectory seeds").columns(k))
                row["seeds"] = _seeds_text(seeds)
                out.append(row)
    return out


def _size(rows: list[dict[str, Any]], p: FlMigrationParams, a: str, seeds: tuple[int, ...]
          ) -> stats.Estimate:
    """(e_a - e_ppo-baseline) over the floor: mean over cells of (e_ppo - e_b) / (e_b + beta2)
    per trajectory seed (see the module's docstring), with its interval."""
    per_seed = []
    for sd in seeds:
        cells = {(r["S"], r["emd"], r["scheme"]): r["objective"] for r in rows if r["seed"] == sd}
        per_seed.append(float(np.mean([(cells[(S, e, "ppo")] - v) / (v + p.beta2)
                                       for (S, e, s), v in cells.items() if s == a])))
    return stats.mean_ci(np.array(per_seed), label="trajectory seeds")


def _fig5_claims(rows: list[dict[str, Any]], b: Budget, p: FlMigrationParams
                 ) -> tuple[list[cl.Claim], list[dict[str, Any]]]:
    seeds = b.eval_seeds
    ppo = _cells(rows, "ppo", "objective", seeds)
    claims, compare = [], []
    for a, k in BASELINES.items():
        d = _diff(ppo, _cells(rows, a, "objective", seeds))
        size = _size(rows, p, a, seeds)
        compare.append({"baseline": k, "scheme": a, **d.columns("objective_diff"),
                        **size.columns("size_over_floor"), "paper_times_higher": PAPER_RATIOS[k],
                        "seeds": _seeds_text(seeds)})
        # the verdict: the paired difference's interval (greater); the size over the floor
        # is printed beside it, not judged (the paper's denominator is undefined here)
        judged = cl.greater(d, "PPO", a, paper=f"{PAPER_RATIOS[k]} x higher", fmt=".3g")
        claims.append(cl.claim(
            f"fig5/ppo-above-b{k}", f"Fig. 5: PPO's objective above baseline {k} ({a}), mean "
            "over S and EMD",
            replace(judged, ours=f"{judged.ours}; size over the floor {size.text('.3g')} x"),
            REASONS))
    every = [cl.greater(_diff(_cells(rows, "ppo", "objective", seeds, emd=e),
                              _cells(rows, a, "objective", seeds, emd=e)), "PPO", a)
             for e in b.emds for a in BASELINES]
    claims.append(cl.claim("fig5/ppo-best-every-emd", "Fig. 5: PPO above every baseline at every "
                           f"EMD ({len(every)} paired comparisons, mean over S)",
                           cl.all_of(*every, paper="outperforms the baselines for any phi"),
                           REASONS))
    xs = np.array(b.S_values, float)
    for a in ALGORITHMS:
        Y = np.array([[float(np.mean(_cells(rows, a, "objective", (sd,), S=S)))
                       for S in b.S_values] for sd in seeds])
        claims.append(cl.claim(f"fig5/grows-with-S-{a}", f"Fig. 5: {a}'s objective grows with S "
                               "(slope over S, mean over EMD)",
                               cl.rises(stats.slope_ci(xs, Y), paper="increases with S",
                                        per="server", fmt=".2g"), REASONS))
    return claims, compare


def _by_S(rows: list[dict[str, Any]], a: str, key: str, seeds: tuple[int, ...],
          S_values: tuple[int, ...], emd: float | None = None) -> np.ndarray:
    return np.array([[float(np.mean(_cells(rows, a, key, (sd,), S=S, emd=emd)))
                      for S in S_values] for sd in seeds])


def _fig6_claims(rows: list[dict[str, Any]], b: Budget) -> list[cl.Claim]:
    seeds = b.eval_seeds
    e0, e1 = b.emds[0], b.emds[-1]

    def pooled(key: str, emd: float) -> np.ndarray:  # mean over S and schemes, per seed
        return np.mean([_cells(rows, a, key, seeds, emd=emd) for a in ALGORITHMS], axis=0)

    xs = np.array(b.S_values, float)
    util_by_emd = np.stack([pooled("utility", e) for e in b.emds], axis=1)
    rising = [a for a in ALGORITHMS if a not in ("nearest-random", "greedy-optimum")]
    b3u = _cells(rows, "nearest-random", "utility", seeds, S=b.S_values[-1])
    b3u0 = _cells(rows, "nearest-random", "utility", seeds, S=b.S_values[0])
    ppo_cost = _cells(rows, "ppo", "cost_total", seeds)
    return [
        cl.claim("fig6/cost-same-over-emd", f"Figs. 6-9: the costs are the same at every EMD "
                 f"(total cost at EMD {e1} vs {e0}, all schemes)",
                 cl.close(stats.reduction_ci(pooled("cost_total", e1), pooled("cost_total", e0),
                                             label="trajectory seeds"), TOL_SAME_COST_PCT,
                          paper="the same in the four figures"), REASONS),
        cl.claim("fig6/utility-falls-with-emd", "Figs. 6-9: the data utility falls with the EMD "
                 "(slope over EMD, all schemes)",
                 cl.falls(stats.slope_ci(np.array(b.emds, float), util_by_emd),
                          paper="decreases with phi", per="unit of EMD"), REASONS),
        cl.claim("fig6/utility-rises-with-S", "Figs. 6-9: except Baseline 3, utility rises with "
                 f"S (slope over S, each of {', '.join(rising)})",
                 cl.all_of(*(cl.rises(stats.slope_ci(xs, _by_S(rows, a, "utility", seeds,
                                                               b.S_values)),
                                      per="server", fmt=".2g") for a in rising),
                           paper="low at small S, then increases"), REASONS),
        cl.claim("fig6/b3-utility-flat", "Figs. 6-9: Baseline 3 (nearest-random) keeps its "
                 f"utility over S (at S={b.S_values[-1]} vs S={b.S_values[0]})",
                 cl.close(stats.reduction_ci(b3u, b3u0, label="trajectory seeds"),
                          TOL_SAME_UTILITY_PCT, paper="the same level at every S"), REASONS),
        cl.claim("fig6/b3-costlier", "Figs. 6-9: Baseline 3 costs more than Baseline 2 (total "
                 "cost, mean over S and EMD)",
                 cl.greater(_diff(_cells(rows, "nearest-random", "cost_total", seeds),
                                  _cells(rows, "nearest", "cost_total", seeds)),
                            "nearest-random", "nearest", paper="much higher cost"), REASONS),
        cl.claim("fig6/ppo-cheaper", "Figs. 6-9: PPO costs less than Baselines 2, 3 and 4 "
                 "(total cost, mean over S and EMD)",
                 cl.all_of(*(cl.greater(_diff(_cells(rows, a, "cost_total", seeds), ppo_cost),
                                        a, "PPO") for a in ("nearest", "nearest-random", "ddpg")),
                           paper="ours and Baseline 1 expend less cost"), REASONS),
    ]


def _estimates(srows: list[dict[str, Any]], key: str, n: int) -> list[stats.Estimate]:
    return [stats.Estimate(r[key], r[f"{key}_lo"], r[f"{key}_hi"], n, "") for r in srows]


def _plot_fig5(srows: list[dict[str, Any]], compare: list[dict[str, Any]], b: Budget,
               path: Path) -> None:
    n = len(b.eval_seeds)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(b.emds) + 2, figsize=(4 * (len(b.emds) + 2), 3.6),
                             squeeze=False)
    for j, e in enumerate(b.emds):
        ax = axes[0, j]
        for i, a in enumerate(ALGORITHMS):
            pts = [r for r in srows if r["scheme"] == a and r["emd"] == e]
            errorbars(ax, [r["S"] + 0.15 * (i - 2.5) for r in pts],
                      _estimates(pts, "objective", n), a, fmt="o-", color=f"C{i}", ms=3)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"EMD {e}", fontsize=9)
        ax.set_xlabel("edge servers S")
        ax.set_ylabel("objective (22) per slot")
        ax.legend(fontsize=6)
    ks = [c["baseline"] for c in compare]
    ax = axes[0, len(b.emds)]
    errorbars(ax, ks, _estimates(compare, "objective_diff", n), "PPO - baseline (paired)",
              color="C0")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xticks(ks, [f"B{k}\n{c['scheme']}" for k, c in zip(ks, compare, strict=True)],
                  fontsize=7)
    ax.set_ylabel("e_ppo - e_b (objective units)")
    ax.set_title("difference, mean over S and EMD", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[0, len(b.emds) + 1]
    errorbars(ax, ks, _estimates(compare, "size_over_floor", n),
              "ours: (e_ppo - e_b) / (e_b + beta2)", color="C0")
    paper_points(ax, ks, [PAPER_RATIOS[k] for k in ks], "'times higher', (e_ppo - e_b) / e_b")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xticks(ks, [f"B{k}" for k in ks])
    ax.set_ylabel("times higher")
    ax.set_title("size: ours over the floor -beta2; paper's", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(f"Fig. 5: objective vs edge servers ({n} trajectory seeds, 95 % CI)",
                 fontsize=10)
    save_png(fig, path)


def _plot_fig6(srows: list[dict[str, Any]], b: Budget, path: Path) -> None:
    n = len(b.eval_seeds)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(b.emds), figsize=(4.3 * len(b.emds), 3.6), squeeze=False)
    for j, e in enumerate(b.emds):
        ax = axes[0, j]
        ax2 = ax.twinx()
        for i, a in enumerate(ALGORITHMS):
            pts = [r for r in srows if r["scheme"] == a and r["emd"] == e]
            xs = [r["S"] + 0.15 * (i - 2.5) for r in pts]
            errorbars(ax, xs, _estimates(pts, "utility", n), a, fmt="o--", color=f"C{i}", ms=3)
            errorbars(ax2, xs, _estimates(pts, "cost_total", n), None, fmt="s-", color=f"C{i}",
                      ms=3)
        ax.set_title(f"EMD {e}", fontsize=9)
        ax.set_xlabel("edge servers S")
        ax.set_ylabel("data utility (--)")
        ax2.set_ylabel("total cost (-)")
        ax2.set_yscale("log")
        ax.legend(fontsize=6)
    fig.suptitle(f"Figs. 6-9: data utility and energy cost vs edge servers ({n} trajectory "
                 "seeds, 95 % CI)", fontsize=10)
    save_png(fig, path)


def _evaluation(p0: FlMigrationParams, b: Budget, seed: int, data_dir: Path, retrain: bool,
                progress: bool, out: Path) -> list[dict[str, Any]]:
    paths = _agents(p0, b, (seed,), tuple(LEARNED), data_dir, retrain, progress)
    # Figs. 5 and 6 share one evaluation: reuse it when made with this budget and params
    cache = out / "evaluation.json"
    key = {"budget": repr(b), "params": p0.model_dump(mode="json"), "seed": seed,
           "code": _code_hash(),
           "agents": sorted((q.name, q.stat().st_mtime_ns) for q in paths.values())}
    key = json.loads(json.dumps(key))  # as stored (tuples become lists)
    cached = json.loads(cache.read_text()) if cache.exists() and not retrain else None
    if cached and cached.get("key") == key:
        rows: list[dict[str, Any]] = cached["rows"]
    else:
        rows = _evaluate(p0, b, seed, data_dir, progress)
        cache.write_text(json.dumps({"key": key, "rows": rows}))
    return rows


def reproduce(figure: int, out: Path, data_dir: Path, seed: int = 0, full: bool = False,
              retrain: bool = False, progress: bool = True, budget: Budget | None = None,
              params: FlMigrationParams | None = None) -> FigureResult:
    """Make figure ``figure``: ``fig<N>.csv``, ``.png``, ``-claims.json`` (computed verdicts,
    ``twinbed-claims/1``) and the claims table as ``-claims.txt``."""
    if figure not in (3, 4, 5, 6, 10):
        raise ValueError(f"expected a figure in (3, 4, 5, 6, 10), got {figure}")
    b = budget or (Budget.full() if full else Budget())
    p0 = params or FlMigrationParams()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if figure == 3:
        claims, seeds, note = _fig3(p0, b, out, progress), b.fl_seeds, \
            f"{len(b.fl_seeds)} FL seed(s)"
    elif figure in (4, 10):
        # the curves' seeds: seed, seed + 1, ... (seed's agents are Figs. 5-9's)
        seeds = tuple(seed + s - b.curve_seeds[0] for s in b.curve_seeds)
        bc = replace(b, S_values=b.curve_S)
        paths = _agents(p0, bc, seeds, ("ppo",), data_dir, retrain, progress)
        rows = _episode_rows(paths, "ppo")
        write_csv(out / f"fig{figure}-episodes.csv", rows)
        claims = (_fig4 if figure == 4 else _fig10)(rows, bc, seeds, out)
        note = (f"PPO, S in {list(bc.S_values)}, {len(seeds)} training seeds {list(seeds)}, "
                f"{b.steps} steps each")
    else:
        rows = _evaluation(p0, b, seed, data_dir, retrain, progress, out)
        srows = _summary_rows(rows, b)
        write_csv(out / f"fig{figure}.csv", srows)
        seeds = b.eval_seeds
        if figure == 5:
            claims, compare = _fig5_claims(rows, b, p0)
            write_csv(out / "fig5-compare.csv", compare)
            _plot_fig5(srows, compare, b, out / "fig5.png")
        else:
            claims = _fig6_claims(rows, b)
            _plot_fig6(srows, b, out / "fig6.png")
        note = (f"instance seed {seed}, {len(seeds)} trajectory seeds {list(seeds)}, "
                f"{b.slots} slots each")
    files = figure_files(out, figure)  # the naming scheme: fig<N>.csv, .png, -claims.json
    flags = (" --full" if full else "") + (f" --seed {seed}" if seed else "")
    cl.write(files.claims, claims, scenario="fl-migration", figure=figure,
             seeds=_seeds_text(seeds),
             command=f"twinbed reproduce fl-migration --figure {figure}{flags}")
    result = FigureResult("fl-migration", figure, files, claims,
                          note + (", paper budget" if full else ", default budget"))
    files.claims.with_suffix(".txt").write_text(result.table() + "\n")
    return result
