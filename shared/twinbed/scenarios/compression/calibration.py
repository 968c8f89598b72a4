"""Fit the paper's compression-complexity model (eqs. 1-2) to the real lossless codecs.

Eq. (2) with (1): T_comp(beta) = D (e^{eps beta} - e^{eps}) / f_S. The real codecs of
:mod:`twinbed.codecs` are measured on the physical process's own blocks (the data the sensors
send: D_k bits of int16 samples per block): per setting the achieved ratio beta (raw / encoded
bytes, mean over blocks) and the encode time (median over blocks of the best of ``repeats``).

A sensor that wants ratio beta uses the fastest setting reaching it, so the model is fitted to
the *Pareto frontier* (the settings no other setting beats in both ratio and time) with
beta > 1. For fixed eps, the least-squares f_S in log space is closed form
(ln f_S = mean(ln D + ln eta(beta_i, eps) - ln t_i)); eps minimizes the remaining RMS log
error (bounded scalar search). The fit's error is reported as the RMS of ln(t_model / t).
"""

from __future__ import annotations

import math
import statistics
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize_scalar

from twinbed.codecs import LADDER, calibrate
from twinbed.physical import BandLimitedSignal, to_bytes

__all__ = ["ComplexityFit", "Measured", "fit_complexity", "frontier", "measure"]


class Measured(NamedTuple):
    name: str
    ratio: float
    encode_s: float


class ComplexityFit(NamedTuple):
    epsilon: float
    f_s_hz: float
    rms_log_error: float
    D_bits: int
    points: list[Measured]  # the frontier the model was fitted to


def measure(seed: int = 0, sensors: int = 4, blocks: int = 10, n_samples: int = 250,
            repeats: int = 3, progress: bool = True) -> list[Measured]:
    """Every codec setting on ``blocks`` blocks of each of ``sensors`` channels."""
    from tqdm import tqdm

    sig = BandLimitedSignal(seed, sensors)
    per: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in LADDER}
    jobs = [(k, b) for k in range(sensors) for b in range(blocks)]
    for k, b in tqdm(jobs, disable=not progress, desc="codec blocks", leave=False):
        for pt in calibrate(to_bytes(sig.samples(k, b, n_samples)), repeats=repeats):
            per[pt.name][0].append(pt.ratio)
            per[pt.name][1].append(pt.encode_s)
    out = [Measured(n, float(np.mean(r)), float(statistics.median(t)))
           for n, (r, t) in per.items()]
    return sorted(out, key=lambda m: m.ratio)


def frontier(points: list[Measured]) -> list[Measured]:
    """Settings with beta > 1 that no other setting beats in both ratio and time."""
    pts = [p for p in points if p.ratio > 1.0]
    return sorted((p for p in pts if not any(
        q.ratio >= p.ratio and q.encode_s <= p.encode_s and (q.ratio, q.encode_s) !=
        (p.ratio, p.encode_s) for q in pts)), key=lambda p: p.ratio)


def _eta(beta: np.ndarray, eps: float) -> np.ndarray:
    return np.exp(eps * beta) - math.exp(eps)


def fit_complexity(points: list[Measured], D_bits: int) -> ComplexityFit:
    """Least squares in log time of eq. (2) on the frontier (see the module docstring)."""
    fr = frontier(points)
    if len(fr) < 2:
        raise ValueError(f"expected at least 2 frontier settings with ratio > 1, got {len(fr)}")
    beta = np.array([p.ratio for p in fr])
    lt = np.log([p.encode_s for p in fr])

    def resid(eps: float) -> tuple[np.ndarray, float]:
        base = math.log(D_bits) + np.log(_eta(beta, eps)) - lt  # = ln f_S if exact
        lf = float(np.mean(base))
        return base - lf, lf

    res = minimize_scalar(lambda e: float(np.mean(resid(e)[0] ** 2)), bounds=(1e-3, 30.0),
                          method="bounded", options={"xatol": 1e-10})
    r, lf = resid(float(res.x))
    return ComplexityFit(float(res.x), math.exp(lf), float(np.sqrt(np.mean(r**2))), D_bits, fr)
