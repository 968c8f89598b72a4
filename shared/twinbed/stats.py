"""Numbers with 95 % confidence intervals: what every figure reports and every claim is judged on.

An :class:`Estimate` is a point estimate, the bounds of its 95 % confidence interval, how many
independent samples it rests on and how the interval was computed. The functions below make one
from the samples of a figure point (one value per seed, draw or run):

=====================  ==========================================================================
``mean_ci(x)``         mean, bootstrap (BCa) interval over the samples
``diff_ci(a, b)``      mean(a) - mean(b); ``paired=True`` (default) when a[i], b[i] share seed i
``ratio_ci(a, b)``     mean(a) / mean(b); undefined (NaN) when mean(b)'s interval includes 0
``reduction_ci(a, b)`` 100 (1 - mean(a) / mean(b)): "a is X % below b"
``slope_ci(x, y)``     least-squares slope of y over x (y: one curve, or one row per seed)
``change_ci(x, y)``    fitted change over the last part of a curve ("settles", "converges")
``iqm_ci(scores)``     interquartile mean, stratified-bootstrap interval (rliable), RL scores
``iqm_curve(scores)``  the same at every step of a learning curve
=====================  ==========================================================================

Rules (why these methods):

- The sample unit is whatever is independent: a seed, a channel draw, a training run. Paired
  samples (common random numbers: draw i of scheme A and of scheme B see the same channel)
  are bootstrapped as pairs, so a difference's interval reflects the difference's noise only.
- Percentile intervals with bias correction (BCa, scipy) for means; where BCa is degenerate
  (e.g. two distinct values), the percentile interval. All samples equal gives the exact
  interval [v, v]; a single sample gives (-inf, inf): one sample says nothing about noise,
  so no claim that needs an interval can hold on it.
- RL scores: the interquartile mean over runs (and tasks) with rliable's stratified
  bootstrap, as Agarwal et al. (NeurIPS 2021) recommend for few runs.
- Resampling is seeded (``seed=0`` by default): the same data gives the same interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CONFIDENCE",
    "RESAMPLES",
    "Estimate",
    "bootstrap_ci",
    "change_ci",
    "diff_ci",
    "iqm_ci",
    "iqm_curve",
    "mean_ci",
    "ratio_ci",
    "reduction_ci",
    "slope_ci",
]

CONFIDENCE = 0.95
RESAMPLES = 4000


@dataclass(frozen=True)
class Estimate:
    """A number with its 95 % confidence interval [lo, hi], from ``n`` independent samples."""

    value: float
    lo: float
    hi: float
    n: int
    method: str

    @staticmethod
    def exact(value: float, n: int = 1, method: str = "exact (no sampling noise)") -> Estimate:
        """A quantity computed without sampling noise (an analytic value, a deterministic run)."""
        v = float(value)
        return Estimate(v, v, v, n, method)

    @staticmethod
    def undefined(n: int, why: str) -> Estimate:
        nan = float("nan")
        return Estimate(nan, nan, nan, n, f"undefined: {why}")

    @property
    def defined(self) -> bool:
        """False when the value or an interval end is NaN (e.g. a ratio over ~0)."""
        return not any(math.isnan(v) for v in (self.value, self.lo, self.hi))

    def excludes(self, x: float) -> bool:
        """True when x lies outside the interval (never for an undefined estimate)."""
        return self.defined and (x < self.lo or x > self.hi)

    def text(self, fmt: str = ".3g", unit: str = "") -> str:
        """``"20.4 [19.8, 21] %"``: the value, its interval and the unit."""
        if not self.defined:
            return f"undefined ({self.method.removeprefix('undefined: ')})"
        u = f" {unit}" if unit else ""
        if self.lo == self.hi == self.value:
            return f"{self.value:{fmt}}{u}"
        return f"{self.value:{fmt}} [{self.lo:{fmt}}, {self.hi:{fmt}}]{u}"

    def columns(self, name: str) -> dict[str, float]:
        """CSV columns ``name``, ``name_lo``, ``name_hi``."""
        return {name: self.value, f"{name}_lo": self.lo, f"{name}_hi": self.hi}


def _finite(x: Any, name: str = "samples") -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        raise ValueError(f"{name}: expected at least one sample, got none")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: expected finite samples, got {a[~np.isfinite(a)][:3]}")
    return a


def bootstrap_ci(statistic: Callable[..., Any], *samples: Any, paired: bool = True,
                 seed: int = 0, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                 label: str = "") -> Estimate:
    """``statistic(*samples, axis=-1)`` with a bootstrap interval (scipy, BCa).

    ``statistic`` must be vectorized (reduce along ``axis``). ``paired``: the samples are
    resampled together (same indices), as for common random numbers; otherwise each
    independently. ``label`` says in the method what the samples are ("draws", "seeds")."""
    from scipy import stats as st

    arrs = [_finite(s).ravel() for s in samples]
    if paired and len({a.size for a in arrs}) > 1:
        raise ValueError(f"paired samples need equal sizes, got {[a.size for a in arrs]}")
    n = min(a.size for a in arrs)
    value = float(statistic(*arrs, axis=-1))
    unit = f" {label}" if label else " samples"
    if n == 1:
        return Estimate(value, -math.inf, math.inf, 1, f"one{unit.rstrip('s')}: no interval")
    if all(np.ptp(a) == 0 for a in arrs):
        return Estimate(value, value, value, n, f"all {n}{unit} equal")
    kw = dict(paired=paired, vectorized=True, confidence_level=confidence,
              n_resamples=resamples, rng=np.random.default_rng(seed))
    method = "BCa"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns (and returns NaN) on degenerate BCa
        ci = st.bootstrap(tuple(arrs), statistic, method="BCa", **kw).confidence_interval
        if not (np.isfinite(ci.low) and np.isfinite(ci.high)):
            method = "percentile"
            ci = st.bootstrap(tuple(arrs), statistic, method="percentile",
                              **kw).confidence_interval
    lo, hi = float(ci.low), float(ci.high)
    # a statistic's value can fall outside a skewed percentile interval by a rounding hair
    return Estimate(value, min(lo, value), max(hi, value), n,
                    f"bootstrap {method}{', paired' if paired and len(arrs) > 1 else ''}, "
                    f"{n}{unit}")


def mean_ci(samples: Any, **kw: Any) -> Estimate:
    """Mean of the samples with a bootstrap interval."""
    return bootstrap_ci(np.mean, samples, **kw)


def diff_ci(a: Any, b: Any, *, paired: bool = True, **kw: Any) -> Estimate:
    """mean(a) - mean(b). Paired: the interval of the mean of the differences a[i] - b[i]."""
    return bootstrap_ci(lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                        a, b, paired=paired, **kw)


def _denominator_ok(b: Any, kw: dict[str, Any]) -> tuple[bool, str]:
    est = mean_ci(b, **{k: v for k, v in kw.items() if k != "paired"})
    if est.lo <= 0 <= est.hi:
        return False, (f"the denominator's 95 % interval {est.text()} includes 0; divide by a "
                       "quantity that stays on one side of 0, or compare differences")
    return True, ""


def ratio_ci(a: Any, b: Any, *, paired: bool = True, **kw: Any) -> Estimate:
    """mean(a) / mean(b), undefined when the interval of mean(b) includes 0."""
    ok, why = _denominator_ok(b, kw)
    if not ok:
        return Estimate.undefined(np.asarray(b).size, why)
    return bootstrap_ci(lambda x, y, axis=-1: np.mean(x, axis=axis) / np.mean(y, axis=axis),
                        a, b, paired=paired, **kw)


def reduction_ci(a: Any, b: Any, *, paired: bool = True, **kw: Any) -> Estimate:
    """100 (1 - mean(a) / mean(b)) in percent: how much lower a is than b."""
    ok, why = _denominator_ok(b, kw)
    if not ok:
        return Estimate.undefined(np.asarray(b).size, why)
    return bootstrap_ci(
        lambda x, y, axis=-1: 100.0 * (1.0 - np.mean(x, axis=axis) / np.mean(y, axis=axis)),
        a, b, paired=paired, **kw)


def _slopes(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Least-squares slope of every curve Y[..., :] over x."""
    xc = x - x.mean()
    return np.sum(xc * (Y - Y.mean(axis=-1, keepdims=True)), axis=-1) / np.sum(xc * xc)


def _center(name: str) -> Callable[..., Any]:
    if name == "mean":
        return lambda Y, axis: np.mean(Y, axis=axis)
    if name == "iqm":
        from scipy.stats import trim_mean

        return lambda Y, axis: trim_mean(Y, 0.25, axis=axis)
    raise ValueError(f"center: expected 'mean' or 'iqm', got {name!r}")


def slope_ci(x: Sequence[float] | np.ndarray, y: Any, *, center: str = "mean", seed: int = 0,
             confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> Estimate:
    """Least-squares slope of y over x (per unit of x; pass log10(x) for a log axis).

    ``y`` is one curve (shape ``(points,)``) or one curve per seed/run (``(runs, points)``).
    Several runs: the slope of the runs' ``center`` curve ("mean" or "iqm"), interval by
    bootstrapping whole runs (a run's points are not independent of each other). One curve:
    the ordinary least-squares t-interval (points as independent noisy samples of a line);
    a curve of two points has no interval."""
    from scipy import stats as st

    xs = _finite(x, "x").ravel()
    Y = _finite(y, "y")
    if Y.ndim == 1:
        Y = Y[None, :]
    if Y.ndim != 2 or Y.shape[1] != xs.size:
        raise ValueError(f"y: expected shape ({xs.size},) or (runs, {xs.size}), got {Y.shape}")
    if xs.size < 2 or np.ptp(xs) == 0:
        raise ValueError("x: expected at least two distinct values")
    runs = Y.shape[0]
    if runs == 1:
        y1 = Y[0]
        value = float(_slopes(xs, y1))
        if np.ptp(y1) == 0:
            return Estimate(value, value, value, xs.size, f"flat curve of {xs.size} points")
        if xs.size < 3:
            return Estimate(value, -math.inf, math.inf, xs.size, "two points: no interval")
        fit = st.linregress(xs, y1)
        half = float(st.t.ppf(0.5 + confidence / 2, xs.size - 2) * fit.stderr)
        return Estimate(value, value - half, value + half, xs.size,
                        f"least squares, t-interval over {xs.size} points")
    c = _center(center)
    value = float(_slopes(xs, c(Y, 0)))

    def stat(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = Y[np.asarray(idx, dtype=int)]  # (..., runs, points)
        return _slopes(xs, c(rows, -2))

    if np.all(np.ptp(Y, axis=0) == 0):
        return Estimate(value, value, value, runs, f"all {runs} runs equal")
    est = bootstrap_ci(stat, np.arange(runs), seed=seed, confidence=confidence,
                       resamples=resamples, label="runs")
    return Estimate(value, min(est.lo, value), max(est.hi, value), runs,
                    f"slope of the {center} curve, " + est.method)


def change_ci(x: Sequence[float], y: Any, *, last: float = 0.25, **kw: Any) -> Estimate:
    """Fitted change over the last ``last`` fraction of the points: slope x span of that part.

    "The curve has settled" holds when this change's interval lies within a stated tolerance
    (see :func:`twinbed.claims.settles`)."""
    xs = _finite(x, "x").ravel()
    Y = _finite(y, "y")
    k = max(3, math.ceil(last * xs.size))
    if k > xs.size:
        raise ValueError(f"a change over the last {k} points needs at least {k} points")
    part = xs[-k:]
    s = slope_ci(part, Y[..., -k:], **kw)
    span = float(part[-1] - part[0])
    return Estimate(s.value * span, s.lo * span, s.hi * span, s.n,
                    f"change over the last {k} of {xs.size} points ({s.method})")


def _rliable() -> Any:
    from rliable import library as rly
    from rliable import metrics

    return rly, metrics


def _rliable_ci(S: np.ndarray, func: Callable[[np.ndarray], np.ndarray], seed: int,
                confidence: float, resamples: int) -> np.ndarray:
    """rliable's stratified-bootstrap percentile interval of ``func`` (shape (2, k))."""
    rly, _ = _rliable()
    # rliable 1.2 draws its resampling indices from numpy's global generator (its
    # random_state argument reaches arch but not the index draw): seed that, and put it back
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # arch: RandomState is deprecated
            _, ci = rly.get_interval_estimates({"x": S}, func, reps=resamples,
                                               confidence_interval_size=confidence)
    finally:
        np.random.set_state(state)
    return np.asarray(ci["x"])


def iqm_ci(scores: Any, *, seed: int = 0, confidence: float = CONFIDENCE,
           resamples: int = RESAMPLES) -> Estimate:
    """Interquartile mean of ``scores`` (``(runs,)`` or ``(runs, tasks)``) with rliable's
    stratified-bootstrap interval (runs resampled within each task)."""
    S = _finite(scores, "scores")
    if S.ndim == 1:
        S = S[:, None]
    _, metrics = _rliable()
    runs = S.shape[0]
    value = float(metrics.aggregate_iqm(S))
    if runs == 1:
        return Estimate(value, -math.inf, math.inf, 1, "one run: no interval")
    ci = _rliable_ci(S, lambda s: np.array([metrics.aggregate_iqm(s)]), seed, confidence,
                     resamples)
    lo, hi = float(ci[0, 0]), float(ci[1, 0])
    return Estimate(value, min(lo, value), max(hi, value), runs,
                    f"IQM, stratified bootstrap (rliable), {runs} runs x {S.shape[1]} tasks")


def iqm_curve(scores: Any, *, seed: int = 0, confidence: float = CONFIDENCE,
              resamples: int = RESAMPLES) -> list[Estimate]:
    """IQM with stratified-bootstrap intervals at every step of a learning curve.

    ``scores``: ``(runs, steps)`` or ``(runs, tasks, steps)``; one resampling of the runs is
    shared by all steps, as in rliable's sample-efficiency curves."""
    S = _finite(scores, "scores")
    if S.ndim == 2:
        S = S[:, None, :]
    if S.ndim != 3:
        raise ValueError(f"scores: expected (runs, steps) or (runs, tasks, steps), got {S.shape}")
    _, metrics = _rliable()
    runs, tasks, steps = S.shape
    values = [float(metrics.aggregate_iqm(S[..., t])) for t in range(steps)]
    if runs == 1:
        return [Estimate(v, -math.inf, math.inf, 1, "one run: no interval") for v in values]
    ci = _rliable_ci(S, lambda s: np.array([metrics.aggregate_iqm(s[..., t])
                                            for t in range(steps)]), seed, confidence, resamples)
    method = f"IQM, stratified bootstrap (rliable), {runs} runs x {tasks} tasks"
    return [Estimate(v, min(float(ci[0, t]), v), max(float(ci[1, t]), v), runs, method)
            for t, v in enumerate(values)]
