"""``twinbed reproduce compression --figure {3,4,5,6}``: the paper's sweeps, every scheme.

Samples: each point is evaluated on ``draws`` Rician channel draws (default 20, tests 5); draw
d uses ``rng(seed, "figure", d)`` at every point and for every scheme (common random numbers),
so the draws are the independent samples ("seeds" in the CSV: the draw indices) and every
difference between schemes is bootstrapped as pairs. Every plotted number carries its 95 %
bootstrap confidence interval (:mod:`twinbed.stats`), drawn as a band or error bar; the paper's
stated numbers are drawn on the same axes (black stars / dash-dot, "paper: ...").

Verdicts are computed (:mod:`twinbed.claims`), never typed: a stated percentage holds when the
95 % interval of our reduction lies within the paper's number +- :data:`TOL_PCT_POINTS`; an
ordering when the interval of the paired difference excludes 0; "falls" when the fitted slope's
interval lies below 0. Per figure: ``figN.csv`` (one row per point and scheme, with ``_lo`` /
``_hi`` columns and the seeds), ``figN.png`` and ``figN-claims.json``.

* Fig. 3, beta_max in [1, 3]: up to 30.9 % below baseline 4, 8.3 % below baselines 1 and 3,
  saturation near beta = 1.54;
* Fig. 4, p_k in [1.6 mW, 100 mW]: 54.6 % below baseline 4 at 1.6 mW, 12.0 % below baselines 1
  and 3 at 100 mW;
* Fig. 5, B in [100 Hz, 100 kHz]: 8.9 % below baselines 2 and 3 at 100 Hz, 8.9 % below 1 and 3
  at 100 kHz;
* Fig. 6, uniform and D_k, p_k, f_k^S non-uniform (v = 0.25, 0.75, 1.25, 1.75): equal
  completion times, larger T for non-uniform D and p, faster compressors compress more.

Figs. 3-5 also check "proposed within 0.5 % of centralized".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinbed import claims as cl
from twinbed import stats
from twinbed.contract.naming import FigureResult, figure_files
from twinbed.report import band, errorbars, paper_points, paper_vline, pyplot, save_png, write_csv
from twinbed.scenarios.compression import model
from twinbed.scenarios.compression.algorithms import ALGORITHMS
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.seeding import rng

__all__ = ["FIGURES", "REASONS", "SCHEME_LABELS", "TOL_PCT_POINTS", "Sweep", "reproduce",
           "sweep"]

SCHEME_LABELS = {
    "stackelberg": "proposed (Alg. 1)",
    "fixed-f": "baseline 1 (fixed f)",
    "fixed-b": "baseline 2 (fixed b)",
    "fixed-bf": "baseline 3 (fixed b, f)",
    "no-compression": "baseline 4 (no compression)",
    "centralized": "baseline 5 (centralized)",
}
SCHEMES = tuple(SCHEME_LABELS)
WEIGHTS = (0.25, 0.75, 1.25, 1.75)

#: A stated reduction holds when our 95 % interval lies within the paper's number +- this many
#: percentage points: the paper prints one decimal read off its own averaged curves (its number
#: of channel draws is not stated), so we allow the reading slack of a figure, not more.
TOL_PCT_POINTS = 2.0
#: "Saturates when beta_max passes 1.54": +- one step of the 21-point beta_max grid.
TOL_SATURATION = 0.1
#: "All sensors finish at the same time": max_k T_k - min_k T_k within this % of max_k T_k.
TOL_TOGETHER_PCT = 0.1
#: "Proposed within 0.5 % of centralized" (the paper's number).
GAP_PCT = 0.5

_WHY = "shared/twinbed/scenarios/compression/README.md#why-the-transmission-share-claims-differ"
REASONS: dict[str, cl.Reason] = {
    "fig3/red-b4-max": cl.Reason(
        "our transmission time is a smaller share of T than the paper's; baseline 4's gap grows "
        "as the rate falls (46.6 % at 1.6 mW, 54.2 % at 0.4 mW), and no reading of the stated "
        "parameters matches both this group and the f-optimization claims", _WHY),
    "fig3/saturation": cl.Reason(
        "the same cause: our sensors' equilibrium ratios are lower because transmission is a "
        "smaller share of T; where it is larger (our 12.6 mW, Fig. 4) the mean beta is the "
        "paper's 1.54", _WHY),
    "fig4/red-b4-1.6mW": cl.Reason(
        "the same smaller transmission share as Fig. 3's baseline-4 gap", _WHY),
    "fig5/red-b3-100Hz": cl.Reason(
        "baselines 2 and 3 coincide at 100 Hz only if T_DT is negligible there, i.e. with the "
        "paper's larger transmission share", _WHY),
}


def _draws(p: CompressionParams, seed: int, n: int) -> list[np.ndarray]:
    return [model.draw_channel_gain(p, rng(seed, "figure", d)) for d in range(n)]


def _evaluate(p: CompressionParams, H: np.ndarray, s: model.SensorArrays,
              scheme: str) -> tuple[model.Timings, np.ndarray, int]:
    a = ALGORITHMS[scheme](p, H, s)
    beta = a.beta
    if beta is None:
        r = model.rate_bps(a.b_hz, H, s.p_w, p.N0_w_per_hz)
        beta = model.best_response(r, s.f_s_hz, p.epsilon, p.beta_max)
    beta = np.asarray(beta, float)
    return model.timings(p, beta, a.b_hz, a.f_hz, H, s), beta, a.iterations


@dataclass(frozen=True)
class Sweep:
    """Per-draw samples of a sweep: ``T[scheme]``, ``beta[scheme]``, ``iters[scheme]`` have
    shape (draws, points); draw d of every point and scheme shares channel d."""

    xs: list[float]
    T: dict[str, np.ndarray]
    beta: dict[str, np.ndarray]
    iters: dict[str, np.ndarray]

    @property
    def seeds(self) -> list[int]:
        return list(range(next(iter(self.T.values())).shape[0]))

    def i(self, x: float) -> int:
        return next(j for j, v in enumerate(self.xs) if math.isclose(v, x))

    def reduction(self, x: float, base: str) -> stats.Estimate:
        """How much lower the proposed scheme's mean T_max is than ``base``'s at x [%]."""
        j = self.i(x)
        return stats.reduction_ci(self.T["stackelberg"][:, j], self.T[base][:, j],
                                  label="draws")

    def reduction_curve(self, base: str) -> list[stats.Estimate]:
        return [self.reduction(x, base) for x in self.xs]

    def gap_pct(self) -> stats.Estimate:
        """Per draw, the largest excess of proposed over centralized across the sweep [%]."""
        g = 100.0 * (self.T["stackelberg"] / self.T["centralized"] - 1.0)
        return stats.mean_ci(g.max(axis=1), label="draws")


def sweep(
    xs: Sequence[float],
    make: Callable[[float], CompressionParams],
    draws: int,
    seed: int,
    schemes: Sequence[str] = SCHEMES,
    progress: bool = True,
) -> Sweep:
    """T_max, mean beta and Algorithm-1 iterations per draw, point and scheme."""
    from tqdm import tqdm

    shape = (draws, len(xs))
    T = {sc: np.zeros(shape) for sc in schemes}
    B = {sc: np.zeros(shape) for sc in schemes}
    it = {sc: np.zeros(shape) for sc in schemes}
    bar = tqdm(total=len(xs) * draws, disable=not progress, desc="points x draws", leave=False)
    for j, x in enumerate(xs):
        p = make(x)
        s = model.sensor_arrays(p)
        for d, H in enumerate(_draws(p, seed, draws)):
            for sc in schemes:
                t, beta, n = _evaluate(p, H, s, sc)
                T[sc][d, j], B[sc][d, j], it[sc][d, j] = float(np.max(t.T_total)), \
                    float(np.mean(beta)), n
            bar.update(1)
    bar.close()
    return Sweep([float(x) for x in xs], T, B, it)


def _rows(sw: Sweep) -> list[dict[str, Any]]:
    rows = []
    for sc in sw.T:
        for j, x in enumerate(sw.xs):
            rows.append({"x": x, "scheme": sc,
                         **stats.mean_ci(sw.T[sc][:, j], label="draws").columns("T_max_s"),
                         **stats.mean_ci(sw.beta[sc][:, j], label="draws").columns("beta_mean"),
                         "iterations_mean": float(sw.iters[sc][:, j].mean()),
                         "draws": len(sw.seeds), "seeds": sw.seeds})
    return rows


def _plot_sweep(sw: Sweep, xlabel: str, path: Path, paper: Sequence[tuple[str, float, float]],
                reductions: Sequence[str], *, logx: bool = False, logy: bool = False,
                xscale: float = 1.0, vline: tuple[float, str] | None = None) -> Path:
    """T_max and mean beta of every scheme with 95 % bands; a third panel with the proposed
    scheme's reduction vs the baselines the paper quotes, and the paper's numbers on it."""
    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(6.4, 8.6), sharex=True)
    x = (np.array(sw.xs) * xscale).tolist()
    for sc in sw.T:
        style = "--" if sc == "centralized" else "-"
        for ax, arr in ((ax1, sw.T[sc]), (ax2, sw.beta[sc])):
            est = [stats.mean_ci(arr[:, j], label="draws") for j in range(len(sw.xs))]
            band(ax, x, est, SCHEME_LABELS[sc], ls=style, marker="o", ms=3)
    for base in reductions:
        band(ax3, x, sw.reduction_curve(base), f"vs {SCHEME_LABELS[base]}", marker="o", ms=3)
    for label, px, py in paper:
        paper_points(ax3, [px * xscale], [py], label)
    if vline is not None:
        paper_vline(ax1, vline[0], vline[1])
    ax1.set_ylabel("max T_k^total [s]")
    ax2.set_ylabel("mean beta")
    ax3.set_ylabel("proposed below baseline [%]")
    ax3.set_xlabel(xlabel)
    n = len(sw.seeds)
    ax1.set_title(f"mean of {n} channel draws, 95 % bootstrap CI", fontsize=8)
    if logx:
        ax1.set_xscale("log")
    if logy:
        ax1.set_yscale("log")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=6)
    ax3.legend(fontsize=6)
    return save_png(fig, path)


def _red_claim(sw: Sweep, fig: int, x: float, base: str, paper: float, where: str,
               short: str) -> cl.Claim:
    return cl.claim(f"fig{fig}/red-{short}", f"fig{fig} reduction vs {SCHEME_LABELS[base]} "
                                             f"{where} [%]",
                    cl.near(sw.reduction(x, base), paper, TOL_PCT_POINTS, unit="%"), REASONS)


def _gap_claim(sw: Sweep, fig: int) -> cl.Claim:
    return cl.claim(f"fig{fig}/centralized-gap", f"fig{fig} proposed above centralized, "
                                                 "largest over the sweep [%]",
                    cl.at_most(sw.gap_pct(), GAP_PCT, unit="%", fmt=".2g"), REASONS)


# -- the four figures ---------------------------------------------------------------------------
def fig3(base: CompressionParams, draws: int, seed: int, out: Path,
         progress: bool = True) -> list[cl.Claim]:
    xs = [float(x) for x in np.round(np.linspace(1.0, 3.0, 21), 10)]
    sw = sweep(xs, lambda x: base.model_copy(update={"beta_max": x}), draws, seed,
               progress=progress)
    write_csv(out / "fig3.csv", _rows(sw))
    # the paper's "up to": our largest reduction vs baseline 4 over the sweep (at the point
    # where the mean reduction peaks; that point is chosen on the same data, so the interval is
    # slightly optimistic, which can only favour "holds")
    red4 = sw.reduction_curve("no-compression")
    x_best = xs[int(np.argmax([e.value for e in red4]))]
    _plot_sweep(sw, "beta_max", out / "fig3.png",
                [("30.9 % max vs baseline 4", x_best, 30.9),
                 ("8.3 % vs baselines 1, 3 at beta_max = 3", xs[-1], 8.3)],
                ("no-compression", "fixed-f", "fixed-bf"),
                vline=(1.54, "saturates at beta_max = 1.54"))
    # exact saturation point of each draw: T stops changing once beta_max exceeds the largest
    # unconstrained equilibrium ratio max_k beta_k* (at beta_max = 3 no sensor is capped)
    p3 = base.model_copy(update={"beta_max": xs[-1]})
    s3 = model.sensor_arrays(p3)
    kinks = [float(np.max(_evaluate(p3, H, s3, "stackelberg")[1])) for H in _draws(p3, seed, draws)]
    return [
        cl.claim("fig3/red-b4-max", f"fig3 max reduction vs baseline 4 (at beta_max = "
                                    f"{x_best:g}) [%]",
                 cl.near(sw.reduction(x_best, "no-compression"), 30.9, TOL_PCT_POINTS, unit="%",
                         paper_text="up to 30.9 %"), REASONS),
        _red_claim(sw, 3, xs[-1], "fixed-f", 8.3, "at beta_max = 3", "b1-3"),
        _red_claim(sw, 3, xs[-1], "fixed-bf", 8.3, "at beta_max = 3", "b3-3"),
        cl.claim("fig3/saturation", "fig3 T saturates when beta_max passes max_k beta_k* "
                                    "(mean over draws)",
                 cl.near(stats.mean_ci(kinks, label="draws"), 1.54, TOL_SATURATION), REASONS),
        _gap_claim(sw, 3),
    ]


def fig4(base: CompressionParams, draws: int, seed: int, out: Path,
         progress: bool = True) -> list[cl.Claim]:
    xs = [float(x) for x in np.geomspace(1.6e-3, 100e-3, 10)]
    sw = sweep(xs, lambda x: base.model_copy(update={"p_dbm": 10 * math.log10(x) + 30}),
               draws, seed, progress=progress)
    write_csv(out / "fig4.csv", _rows(sw))
    _plot_sweep(sw, "p_k [mW]", out / "fig4.png",
                [("54.6 % vs baseline 4 at 1.6 mW", xs[0], 54.6),
                 ("12.0 % vs baselines 1, 3 at 100 mW", xs[-1], 12.0)],
                ("no-compression", "fixed-f", "fixed-bf"), logy=True, xscale=1e3)
    return [
        _red_claim(sw, 4, xs[0], "no-compression", 54.6, "at 1.6 mW", "b4-1.6mW"),
        _red_claim(sw, 4, xs[-1], "fixed-f", 12.0, "at 100 mW", "b1-100mW"),
        _red_claim(sw, 4, xs[-1], "fixed-bf", 12.0, "at 100 mW", "b3-100mW"),
        _gap_claim(sw, 4),
        cl.claim("fig4/T-falls", "fig4 proposed T_max falls with p_k (slope per decade of p_k)",
                 cl.falls(stats.slope_ci(np.log10(xs), sw.T["stackelberg"]),
                          paper="T falls as p_k grows", per="decade of p_k [s]"), REASONS),
    ]


def fig5(base: CompressionParams, draws: int, seed: int, out: Path,
         progress: bool = True) -> list[cl.Claim]:
    xs = [float(x) for x in np.geomspace(100.0, 100e3, 10)]
    sw = sweep(xs, lambda x: base.model_copy(update={"B_hz": x}), draws, seed,
               progress=progress)
    write_csv(out / "fig5.csv", _rows(sw))
    lo, hi = xs[0], xs[-1]
    _plot_sweep(sw, "B [Hz]", out / "fig5.png",
                [("8.9 % vs baselines 2, 3 at 100 Hz", lo, 8.9),
                 ("8.9 % vs baselines 1, 3 at 100 kHz", hi, 8.9)],
                ("fixed-f", "fixed-b", "fixed-bf"), logx=True)
    return [
        _red_claim(sw, 5, lo, "fixed-b", 8.9, "at B = 100 Hz", "b2-100Hz"),
        _red_claim(sw, 5, lo, "fixed-bf", 8.9, "at B = 100 Hz", "b3-100Hz"),
        _red_claim(sw, 5, hi, "fixed-f", 8.9, "at B = 100 kHz", "b1-100kHz"),
        _red_claim(sw, 5, hi, "fixed-bf", 8.9, "at B = 100 kHz", "b3-100kHz"),
        _gap_claim(sw, 5),
        cl.claim("fig5/T-falls", "fig5 proposed T_max falls with B (slope per decade of B)",
                 cl.falls(stats.slope_ci(np.log10(xs), sw.T["stackelberg"]),
                          paper="T falls as B grows", per="decade of B [s]"), REASONS),
    ]


def fig6_arrays(base: CompressionParams, scenario: str) -> model.SensorArrays:
    """Sensor constants of Fig. 6's scenarios: ``uniform`` or D_k, p_k, f_k^S times v_k."""
    s = model.sensor_arrays(base)
    v = np.asarray(WEIGHTS, float)
    if base.K != len(v):
        raise ValueError(f"Fig. 6 has K = {len(v)} sensors, got K = {base.K}")
    if scenario == "uniform":
        return s
    field = {"D": "D_bits", "p": "p_w", "f_s": "f_s_hz"}[scenario]
    return s._replace(**{field: getattr(s, field) * v})


FIG6_SCENARIOS = ("uniform", "D", "p", "f_s")


def fig6(base: CompressionParams, draws: int, seed: int, out: Path,
         progress: bool = True) -> list[cl.Claim]:
    from tqdm import tqdm

    base = base.model_copy(update={"K": len(WEIGHTS)})
    Hs = _draws(base, seed, draws)
    K = base.K
    # per scenario: (draws, 4 quantities, K) and per-draw T_max / spread
    parts: dict[str, np.ndarray] = {}
    Tmax: dict[str, np.ndarray] = {}
    spread: dict[str, np.ndarray] = {}
    for scen in tqdm(FIG6_SCENARIOS, disable=not progress, leave=False, desc="scenarios"):
        s = fig6_arrays(base, scen)
        acc, tm, sp = [], [], []
        for H in Hs:
            t, beta, _ = _evaluate(base, H, s, "stackelberg")
            acc.append(np.stack([t.T_comp, t.T_tr, t.T_DT, beta]))
            tm.append(float(np.max(t.T_total)))
            sp.append(100.0 * float(np.ptp(t.T_total) / np.max(t.T_total)))
        parts[scen], Tmax[scen], spread[scen] = np.array(acc), np.array(tm), np.array(sp)
    seeds = list(range(draws))
    rows: list[dict[str, Any]] = []
    T_est = {scen: stats.mean_ci(Tmax[scen], label="draws") for scen in FIG6_SCENARIOS}
    beta_est: dict[str, list[stats.Estimate]] = {}
    for scen in FIG6_SCENARIOS:
        P = parts[scen]
        beta_est[scen] = [stats.mean_ci(P[:, 3, k], label="draws") for k in range(K)]
        for k in range(K):
            rows.append({"scenario": scen, "sensor": k + 1,
                         "T_comp_s": float(P[:, 0, k].mean()), "T_tr_s": float(P[:, 1, k].mean()),
                         "T_DT_s": float(P[:, 2, k].mean()), **beta_est[scen][k].columns("beta"),
                         **T_est[scen].columns("T_max_s"), "draws": draws, "seeds": seeds})
    write_csv(out / "fig6.csv", rows)

    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(7.0, 8.0))
    labels = [f"{r['scenario']}\nk={r['sensor']}" for r in rows]
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for key, lab in (("T_comp_s", "T_comp"), ("T_tr_s", "T_tr"), ("T_DT_s", "T_DT")):
        vals = np.array([r[key] for r in rows])
        ax1.bar(x, vals, bottom=bottom, label=lab)
        bottom += vals
    ax1.set_ylabel(f"time [s] (proposed, mean of {draws} draws)")
    ax1.set_xticks(x, labels, fontsize=6)
    ax1.legend(fontsize=7)
    xb = np.arange(len(FIG6_SCENARIOS))
    ax2.bar(xb, [T_est[s].value for s in FIG6_SCENARIOS], color="0.8")
    errorbars(ax2, xb.tolist(), [T_est[s] for s in FIG6_SCENARIOS], "T_max, 95 % CI", color="black")
    ax2.set_xticks(xb, ["uniform", "D non-uniform", "p non-uniform", "f_S non-uniform"],
                   fontsize=7)
    ax2.set_ylabel("max T_k^total [s]")
    ax2.legend(fontsize=7)
    for scen in FIG6_SCENARIOS:
        errorbars(ax3, [w + 0.02 * FIG6_SCENARIOS.index(scen) for w in WEIGHTS], beta_est[scen],
                  scen, ls="-", ms=4)
    ax3.set_xlabel("weight v_k of sensor k (D_k, p_k or f_k^S times v_k)")
    ax3.set_ylabel("beta_k, 95 % CI")
    ax3.legend(fontsize=7)
    save_png(fig, out / "fig6.png")

    worst = np.max(np.stack([spread[s] for s in FIG6_SCENARIOS]), axis=0)  # per draw
    return [
        cl.claim("fig6/together", "fig6 all sensors finish together: largest spread "
                                  "max_k T_k - min_k T_k over the 4 scenarios [% of T_max]",
                 cl.at_most(stats.mean_ci(worst, label="draws"), TOL_TOGETHER_PCT, unit="%",
                            paper="same completion time", fmt=".2g"), REASONS),
        cl.claim("fig6/D-raises-T", "fig6 non-uniform D_k raises T_max over uniform [s]",
                 cl.greater(stats.diff_ci(Tmax["D"], Tmax["uniform"], label="draws"),
                            "T(D non-uniform)", "T(uniform)", unit="s"), REASONS),
        cl.claim("fig6/p-raises-T", "fig6 non-uniform p_k raises T_max over uniform [s]",
                 cl.greater(stats.diff_ci(Tmax["p"], Tmax["uniform"], label="draws"),
                            "T(p non-uniform)", "T(uniform)", unit="s"), REASONS),
        cl.claim("fig6/fs-beta-rises", "fig6 f_S non-uniform: faster compressors compress more "
                                       "(slope of beta_k over v_k)",
                 cl.rises(stats.slope_ci(WEIGHTS, parts["f_s"][:, 3, :]),
                          paper="beta_k grows with f_k^S", per="unit of v_k"), REASONS),
    ]


FIGURES: dict[int, Callable[..., list[cl.Claim]]] = {3: fig3, 4: fig4, 5: fig5, 6: fig6}


def reproduce(figure: int, draws: int, seed: int, out: Path,
              base: CompressionParams | None = None, progress: bool = True) -> FigureResult:
    """Run one figure, write its CSV, PNG and claims JSON to ``out``."""
    if figure not in FIGURES:
        raise ValueError(f"expected a figure in {sorted(FIGURES)}, got {figure}")
    if draws < 1:
        raise ValueError(f"expected draws >= 1, got {draws}")
    out.mkdir(parents=True, exist_ok=True)
    files = figure_files(out, figure)
    claims = FIGURES[figure](base or CompressionParams(), draws, seed, out, progress=progress)
    cl.write(files.claims, claims, scenario="compression", figure=figure, seeds=range(draws),
             command=f"twinbed reproduce compression --figure {figure} --draws {draws} "
                     f"--seed {seed}")
    return FigureResult("compression", figure, files, claims,
                        f"{draws} channel draws as samples, root seed {seed}")
