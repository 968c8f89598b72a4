"""The Fig. 3 experiment on real training: measured accuracy per (samples, EMD), and the
alphas of eqs. (11)-(12) fitted to it (scipy ``curve_fit``, from the paper's alphas)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from twinbed.scenarios.fl_migration import fl
from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["ALPHAS", "fit_alphas", "measure", "utility_curve"]

ALPHAS = ("alpha1", "alpha2", "alpha3", "alpha4", "alpha5", "alpha6")


def utility_curve(nphi: np.ndarray, a1: float, a2: float, a3: float, a4: float, a5: float,
                  a6: float) -> np.ndarray:
    """Eqs. (11)-(12) as a function of stacked (samples, EMD)."""
    n, phi = nphi
    v = a4 * np.exp(-(((a5 + phi) / a6) ** 2))
    return v - a1 * np.exp(-a2 * np.maximum(a3 * n, 0.0) ** v)


def measure(sizes: Sequence[int], emds: Sequence[float], seeds: Sequence[int],
            p: FlMigrationParams, progress: bool = True) -> list[dict[str, Any]]:
    """Real FL accuracy for every (samples, EMD, seed) (see fl.fl_accuracy)."""
    from tqdm import tqdm


    data = fl.load_digits()
    grid = [(n, e, s) for s in seeds for e in emds for n in sizes]
    out = []
    for n, e, s in tqdm(grid, desc="fl-migration calibrate", disable=not progress, unit="run"):
        out.append({"seed": s, **fl.fl_accuracy(data, n, e, s, E_s=p.E_s, E_us=p.E_us, lr=p.lr)})
    return out


def fit_alphas(rows: list[dict[str, Any]], p: FlMigrationParams) -> dict[str, Any]:
    """Least-squares alphas of eqs. (11)-(12) for the measured accuracies; the fit error, and
    the error of the paper's own alphas on the same points."""

    n = np.array([r["n"] for r in rows], float)
    phi = np.array([r["emd_realized"] for r in rows], float)
    acc = np.array([r["accuracy"] for r in rows], float)
    x0 = [getattr(p, a) for a in ALPHAS]
    lo = [1e-6, 1e-6, 1e-8, 1e-6, -5.0, 1e-3]
    hi = [10.0, 1e3, 1.0, 1.0, 5.0, 100.0]
    with warnings.catch_warnings():  # a flat direction leaves no covariance; the fit stands
        warnings.simplefilter("ignore", OptimizeWarning)
        popt, _ = curve_fit(utility_curve, np.vstack([n, phi]), acc, p0=x0, bounds=(lo, hi),
                            maxfev=200_000)
    pred = utility_curve(np.vstack([n, phi]), *popt)
    paper = utility_curve(np.vstack([n, phi]), *x0)
    return {"alphas": dict(zip(ALPHAS, map(float, popt), strict=True)),
            "rmse": float(np.sqrt(np.mean((pred - acc) ** 2))),
            "max_abs_err": float(np.max(np.abs(pred - acc))),
            "paper_alphas_rmse": float(np.sqrt(np.mean((paper - acc) ** 2))),
            "points": len(rows)}
