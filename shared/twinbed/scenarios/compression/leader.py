"""The leader's sub-game for given compression ratios: eq. (11) / (26) of the seed.

    min_{b, f}  max_k  T_k(b_k, f_k) = a_k + u_k / r_k(b_k) + v_k / f_k
    s.t.        sum_k b_k <= B,   sum_k f_k <= C_DT,

with a_k = D_k eta(beta_k, eps) / f_k^S (compression, fixed by beta), u_k = D_k / beta_k
(compressed bits, mu_k = 1/beta_k in eq. 25), v_k = c_k D_k (DT cycles) and
r_k(b) = b log2(1 + g_k / b), g_k = |H_k|^2 p_k / N_0.

Two solvers:

* :func:`solve_leader_cvxpy` -- the reference: an exponential-cone program (CLARABEL at tight
  tolerances with iterative refinement, :data:`REFERENCE_OPTS`), built once per K with
  ``cp.Parameter`` s (DPP) and re-solved. Its optimal *value* matches the fast solver's to
  ~1e-9; its *allocation* is less precise in the paper's low-SNR regime (see its docstring).
* :func:`solve_leader_fast` -- exact, numpy/scipy only, vectorized over sensors, from the KKT
  conditions (derivation below).

KKT derivation (fast solver). Epigraph form min t s.t. T_k <= t with multipliers w_k >= 0
(sum w_k = 1), nu_b for the bandwidth and nu_f for the DT budget. Stationarity:

    w_k u_k r_k'(b_k) / r_k(b_k)^2 = nu_b,     w_k v_k / f_k^2 = nu_f.

Every T_k strictly decreases in both resources, so at the optimum all w_k > 0 (every sensor
finishes at the same time T), and both budgets are tight. Dividing the two conditions,
with rho = nu_f / nu_b,

    f_k = r_k(b_k) sqrt(v_k / (rho u_k r_k'(b_k))),
    T - a_k = u_k / r_k + v_k / f_k = (u_k + sqrt(rho u_k v_k r_k'(b_k))) / r_k(b_k).   (*)

Parametrize each sensor by its SNR z_k = g_k / b_k: then b_k = g_k / z_k,
r_k = g_k ln(1+z)/(z ln 2) and r_k'(b) = psi(z) / ln 2 with psi(z) = ln(1+z) - z/(1+z) depend on
z alone, and the right side of (*) is strictly increasing in z. Hence

1. innermost: for given (rho, T) solve (*) for every z_k (vectorized safeguarded Newton in
   log z); b_k = g_k / z_k is decreasing in T;
2. middle: for given rho find T with sum_k b_k = B (brentq in log(T - T_min), where
   T_min = max_k a_k + u_k ln2 / g_k is the time with infinite bandwidth, so sum b -> inf);
3. outer: find rho with sum_k f_k = C_DT (brentq in log rho; sum f decreases from inf to 0).

All three are monotone 1-D root findings on smooth functions, solved to ~machine precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import brentq

from twinbed.scenarios.compression import model
from twinbed.scenarios.compression.params import CompressionParams

__all__ = [
    "REFERENCE_OPTS",
    "LeaderSolution",
    "Warm",
    "leader_coefficients",
    "solve_bandwidth_only",
    "solve_dt_only",
    "solve_joint_cvxpy",
    "solve_leader_cvxpy",
    "solve_leader_fast",
]

LN2 = math.log(2.0)

#: CLARABEL settings of the cvxpy reference: every tolerance at 1e-12 (defaults 1e-8) and
#: iterative refinement of each KKT solve to 1e-16 with less static regularization. On 96
#: seeded moderate-SNR instances (K = 1..200) the reference's optimal value then matches the
#: fast solver's to <= 1.6e-8 (defaults: up to 8e-7); at the paper's low SNR 91 of 96 match to
#: 1e-6 (defaults: 74 of 96), worst 3.7e-4. Costs about the same time as the defaults. The
#: solver then usually stops "optimal_inaccurate" (1e-12 is below what double precision
#: reaches here; it falls back to its reduced tolerances), which is why the status alone
#: says little.
REFERENCE_OPTS: dict[str, Any] = {
    "warm_start": False,  # a fresh solver per solve: cvxpy's reused CLARABEL object made the
    #                      answer depend on what was solved before (up to 1e-3 apart)
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "max_iter": 500,
    "static_regularization_constant": 1e-12,
    "iterative_refinement_reltol": 1e-16,
    "iterative_refinement_abstol": 1e-16,
    "iterative_refinement_max_iter": 50,
}


class Warm(NamedTuple):
    """Where the fast solver ended (price ratio, common time, per-sensor log SNR): a warm
    start for the next solve of a nearby problem (Algorithm 1's next iteration)."""

    log_rho: float
    T_s: float
    log_z: np.ndarray


class LeaderSolution(NamedTuple):
    """An allocation and its T_max (eq. 10, evaluated by the model on the allocation).

    ``objective_s`` is the solver's own optimal value (the cvxpy reference's epigraph variable,
    in seconds); None for the fast solver, whose allocation is exact, so T_max_s is its value.
    """

    b_hz: np.ndarray
    f_hz: np.ndarray
    T_max_s: float
    warm: Warm | None = None
    objective_s: float | None = None


class _Coef(NamedTuple):
    a: np.ndarray  # compression time [s]
    u: np.ndarray  # compressed bits D/beta
    v: np.ndarray  # DT cycles c D
    g: np.ndarray  # H p / N0 [Hz]


def leader_coefficients(
    p: CompressionParams,
    beta: np.ndarray,
    H_gain: np.ndarray,
    s: model.SensorArrays | None = None,
) -> _Coef:
    """(a, u, v, g) of T_k = a_k + u_k / r_k(b_k) + v_k / f_k, shape (K,) each."""
    s = model.sensor_arrays(p) if s is None else s
    beta = np.broadcast_to(np.asarray(beta, dtype=float), (p.K,))
    H = np.broadcast_to(np.asarray(H_gain, dtype=float), (p.K,))
    if np.any(beta <= 0) or np.any(H <= 0):
        raise ValueError("beta and H_gain must be positive")
    a = model.t_comp(beta, s.D_bits, s.f_s_hz, p.epsilon)
    return _Coef(a, s.D_bits / beta, s.c_cycles_per_bit * s.D_bits, H * s.p_w / p.N0_w_per_hz)


def _finish(p: CompressionParams, beta: np.ndarray, H_gain: np.ndarray,
            s: model.SensorArrays | None, b: np.ndarray, f: np.ndarray,
            fix_b: bool = False, fix_f: bool = False) -> LeaderSolution:
    """Clip to the budgets (rounding only) and evaluate eq. (10) with the model."""
    if not fix_b:
        b = np.maximum(b, 0.0) * min(1.0, p.B_hz / float(np.sum(b)))
    if not fix_f:
        f = np.maximum(f, 0.0) * min(1.0, p.C_dt_hz / float(np.sum(f)))
    t = model.timings(p, np.broadcast_to(np.asarray(beta, float), (p.K,)), b, f, H_gain, s)
    return LeaderSolution(b, f, float(np.max(t.T_total)))


# -- fast exact solver --------------------------------------------------------------------------
@dataclass
class _Search:
    """The nested root searches' warm state: the last SNR iterate and the last T."""

    y: np.ndarray
    T: float | None = None


def _psi(z: np.ndarray) -> np.ndarray:
    """ln(1+z) - z/(1+z) >= 0, accurate also for tiny z (series in w = z/(1+z))."""
    w = z / (1.0 + z)
    direct = np.log1p(z) - w
    # -ln(1-w) - w = sum_{n>=2} w^n / n
    ser = np.zeros_like(w)
    for n in range(12, 1, -1):
        ser = (ser + 1.0 / n) * w
    ser = ser * w
    return np.where(w < 1e-2, ser, direct)


def _solve_z(c: _Coef, sq: np.ndarray, tau: np.ndarray, y0: np.ndarray) -> np.ndarray:
    """log z_k solving (u + sq sqrt(psi(z))) z / (g ln(1+z)/ln2) = tau, sq = sqrt(rho u v / ln2).

    Left side h(z) increases strictly from u ln2/g (z -> 0) to inf; needs tau > u ln2 / g.
    Safeguarded Newton on F(y) = ln h(e^y) - ln tau, y = ln z, vectorized over sensors.
    """
    lo = np.full_like(tau, -200.0)
    hi = np.full_like(tau, 200.0)
    y = np.clip(y0, lo + 1.0, hi - 1.0)
    ltau = np.log(tau)
    lu = np.log(c.u)
    lg = np.log(c.g)
    for _ in range(300):
        z = np.exp(y)
        l1 = np.log1p(z)
        ps = _psi(z)
        S = sq * np.sqrt(ps)
        # ln h = ln(u + S) + ln z - ln ln(1+z) + ln ln2 - ln g
        F = np.log1p(S / c.u) + lu + y - np.log(l1) + math.log(LN2) - lg - ltau
        # d ln h / dy = psi / ln(1+z) + S z^2 / (2 (1+z)^2 psi (u + S))
        with np.errstate(divide="ignore", invalid="ignore"):
            t2 = np.where(ps > 0, S * (z / (1.0 + z)) ** 2 / (2.0 * ps * (c.u + S)), 0.0)
        dF = ps / l1 + t2
        lo = np.where(F < 0, y, lo)
        hi = np.where(F > 0, y, hi)
        yn = y - F / dF
        bad = ~np.isfinite(yn) | (yn <= lo) | (yn >= hi)
        yn = np.where(bad, 0.5 * (lo + hi), yn)
        done = np.abs(yn - y) <= 2e-15 * np.maximum(1.0, np.abs(y))
        y = yn
        if np.all(done | (F == 0) | (hi - lo <= 4e-16 * np.maximum(1.0, np.abs(y)))):
            break
    return y


def _root_decreasing(fun: Callable[[float], float], x0: float, step: float,
                     xtol: float) -> float:
    """Root of a decreasing fun: expand a bracket from x0, then brentq.

    The bracket's end values are cached: fun is evaluated by inner iterative solves whose
    rounding noise (~1e-15) could flip the sign of a re-evaluation right at the root.
    """
    f0 = fun(x0)
    if f0 == 0:
        return x0
    d = step if f0 > 0 else -step
    for _ in range(200):
        x1 = x0 + d
        f1 = fun(x1)
        if f1 == 0:
            return x1
        if (f1 > 0) != (f0 > 0):
            break
        x0, f0 = x1, f1
        d *= 1.5
    else:
        raise RuntimeError("could not bracket the root")
    ends = {x0: f0, x1: f1}

    def g(x: float) -> float:
        return ends[x] if x in ends else fun(x)

    return brentq(g, min(x0, x1), max(x0, x1), xtol=xtol, rtol=4 * np.finfo(float).eps)


def _newton_2d(c: _Coef, B: float, C: float, T_min: float, tol: float,
               max_iter: int = 60, warm: Warm | None = None,
               ) -> tuple[np.ndarray, np.ndarray, Warm] | None:
    """Both budget equations at once: damped Newton on x = (ln rho, ln(T - T_min)) with the
    analytic Jacobian (implicit differentiation of the inner equation (*) for z_k).

    F_1 = ln sum_k b_k - ln B, F_2 = ln sum_k f_k - ln C_DT. Per sensor, with
    D_k = d ln h / d ln z (the inner Newton's slope) and S_k = sq_k sqrt(psi(z_k)):
    d ln z/d ln tau = 1/D, d ln z/d ln rho = -S/(2 (u + S) D), ln b = ln g - ln z,
    d ln f = (d ln r/d ln z - z^2/(2 (1+z)^2 psi)) d ln z - d ln rho / 2.
    Returns (b, f), or None if it does not converge (the caller falls back to the nested
    root finding, which is slower but bracketed).
    """
    K = len(c.a)
    b0 = B / K
    z0 = c.g / b0
    r0 = b0 * np.log1p(z0) / LN2
    rho = float(np.median((c.v * K**2 / C**2) / (c.u * _psi(z0) / LN2 / r0**2)))
    T0 = float(np.max(c.a + c.u / r0 + c.v * K / C))  # equal split: T* <= T0
    x = np.array([math.log(rho), math.log(max(T0 - T_min, 1e-300))])
    y = np.log(z0)
    if warm is not None and warm.T_s > T_min and warm.log_z.shape == y.shape:
        x = np.array([warm.log_rho, math.log(warm.T_s - T_min)])
        y = warm.log_z.copy()

    def evaluate(x: np.ndarray, y0: np.ndarray) -> tuple[Any, ...]:
        rho, dT = math.exp(x[0]), math.exp(x[1])
        T = T_min + dT
        sq = np.sqrt(rho * c.u * c.v / LN2)
        y = _solve_z(c, sq, T - c.a, y0)
        z = np.exp(y)
        l1 = np.log1p(z)
        ps = _psi(z)
        S = sq * np.sqrt(ps)
        b = c.g / z
        r = c.g * l1 / (z * LN2)
        f = r * c.v / (sq * np.sqrt(ps))
        Sb, Sf = float(np.sum(b)), float(np.sum(f))
        F = np.array([math.log(Sb) - math.log(B), math.log(Sf) - math.log(C)])
        return y, z, l1, ps, S, b, f, Sb, Sf, F, T

    cur = evaluate(x, y)
    for _ in range(max_iter):
        y, z, l1, ps, S, b, f, Sb, Sf, F, T = cur
        if not np.all(np.isfinite(F)):
            return None
        if np.max(np.abs(F)) <= max(tol * 1e-2, 4e-16):
            return b, f, Warm(float(x[0]), T, y)
        w = z / (1.0 + z)
        with np.errstate(divide="ignore", invalid="ignore"):
            t2 = np.where(ps > 0, S * w**2 / (2.0 * ps * (c.u + S)), 0.0)
            Dk = ps / l1 + t2
            dlz_dtau = 1.0 / Dk
            dlz_drho = -S / (2.0 * (c.u + S) * Dk)
            dlr_dlz = w / l1 - 1.0
            dlps_dlz = np.where(ps > 0, w**2 / ps, 2.0)
        dltau_dx2 = math.exp(x[1]) / (T - c.a)
        dlz_dx = np.stack([dlz_drho, dlz_dtau * dltau_dx2])  # (2, K)
        dlb_dx = -dlz_dx
        dlf_dx = (dlr_dlz - 0.5 * dlps_dlz) * dlz_dx
        dlf_dx[0] -= 0.5
        J = np.array([b @ dlb_dx.T / Sb, f @ dlf_dx.T / Sf])
        if not np.all(np.isfinite(J)):
            return None
        try:
            step = np.linalg.solve(J, -F)
        except np.linalg.LinAlgError:
            return None
        step *= min(1.0, 2.0 / max(float(np.max(np.abs(step))), 1e-300))  # trust region
        norm0 = float(np.max(np.abs(F)))
        # near the rounding level a failed descent means converged: do not halve 30 times
        for _ls in range(30 if norm0 > 1e-10 else 2):
            # warm start the inner solve at the linearized z_k(x + step): 1-2 Newton steps
            new = evaluate(x + step, y + step @ dlz_dx)
            if np.all(np.isfinite(new[9])) and float(np.max(np.abs(new[9]))) < norm0:
                break
            step *= 0.5
        else:  # no descent left: rounding level reached (converged) or a real failure
            return (b, f, Warm(float(x[0]), T, y)) if norm0 <= 1e-10 else None
        x = x + step
        cur = new
    return None


def solve_leader_fast(
    p: CompressionParams,
    beta: np.ndarray,
    H_gain: np.ndarray,
    s: model.SensorArrays | None = None,
    tol: float = 1e-12,
    warm: Warm | None = None,
) -> LeaderSolution:
    """Exact min-max allocation for given beta (see the module docstring), numpy + brentq.

    ``warm``: a previous solution's ``warm`` (same K) to start the Newton iteration from.

    ``tol`` scales the brentq tolerances (absolute, on log rho and log(T - T_min); 1e-2 tol);
    the default resolves T_max to ~1e-13 relative. K = 1 returns b = B, f = C_DT directly.
    Checked against the KKT certificate (equal times to ~1e-14, one price ratio to ~1e-13) and
    a K = 2 brute force (~1e-13); ~20 ms for K up to 1000, ~1 s for K = 1e5.
    """
    s = model.sensor_arrays(p) if s is None else s
    c = leader_coefficients(p, beta, H_gain, s)
    K = p.K
    if K == 1:  # T decreases in both resources: take them all
        return _finish(p, beta, H_gain, s, np.array([p.B_hz]), np.array([p.C_dt_hz]))
    B, C = p.B_hz, p.C_dt_hz
    T_min = float(np.max(c.a + c.u * LN2 / c.g))
    fast = _newton_2d(c, B, C, T_min, tol, warm=warm)
    if fast is None and warm is not None:
        fast = _newton_2d(c, B, C, T_min, tol)
    if fast is not None:
        return _finish(p, beta, H_gain, s, fast[0], fast[1])._replace(warm=fast[2])
    state = _Search(np.log(c.g * K / B))
    xtol = max(tol * 1e-2, 1e-15)

    def at(rho: float, T: float) -> tuple[np.ndarray, np.ndarray]:
        sq = np.sqrt(rho * c.u * c.v / LN2)
        y = _solve_z(c, sq, T - c.a, state.y)
        state.y = y
        return y, sq

    def b_excess(lr: float, ls: float) -> float:
        y, _ = at(math.exp(lr), T_min + math.exp(ls))
        return math.log(float(np.sum(c.g * np.exp(-y)))) - math.log(B)

    def T_of(lr: float) -> float:
        fun = lambda ls: b_excess(lr, ls)  # noqa: E731  decreasing in ls
        ls0 = math.log(state.T - T_min) if state.T is not None else math.log(T_min)
        ls = _root_decreasing(fun, ls0, 1.0, xtol)
        state.T = T_min + math.exp(ls)
        return state.T

    def f_excess(lr: float) -> float:
        rho = math.exp(lr)
        T = T_of(lr)
        y, sq = at(rho, T)
        z = np.exp(y)
        r = c.g * np.log1p(z) / (z * LN2)
        f = r * c.v / (sq * np.sqrt(_psi(z)))  # = r sqrt(v / (rho u r'(b)))
        return math.log(float(np.sum(f))) - math.log(C)

    # initial rho from the equal split: rho = (v / f^2) / (u r' / r^2)
    b0 = B / K
    z0 = c.g / b0
    r0 = b0 * np.log1p(z0) / LN2
    rho0 = float(np.median((c.v * K**2 / C**2) / (c.u * _psi(z0) / LN2 / r0**2)))
    lr = _root_decreasing(f_excess, math.log(rho0), 1.0, xtol)
    rho = math.exp(lr)
    T = T_of(lr)
    y, sq = at(rho, T)
    z = np.exp(y)
    b = c.g / z
    r = c.g * np.log1p(z) / (z * LN2)
    f = r * c.v / (sq * np.sqrt(_psi(z)))
    return _finish(p, beta, H_gain, s, b, f)


# -- cvxpy reference ----------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _cvx_problem(K: int) -> tuple[Any, Any, Any, Any, tuple[Any, ...]]:
    import cvxpy as cp

    e = cp.Variable(K, nonneg=True, name="b_over_g")  # inverse SNR b_k / g_k
    y = cp.Variable(K, nonneg=True, name="f_over_C")
    t = cp.Variable(name="T_minus_amax_over_T0")
    gB = cp.Parameter(K, nonneg=True, name="g_over_B")
    A = cp.Parameter(K, nonneg=True, name="amax_minus_a_over_S")
    W = cp.Parameter(K, nonneg=True, name="T0_over_S")
    U = cp.Parameter(K, nonneg=True, name="u_over_gS")
    V = cp.Parameter(K, nonneg=True, name="v_over_CS")
    # r(b)/g = e log2(1 + 1/e) = -rel_entr(e, e + 1)/ln2: concave (perspective of log)
    rate = -cp.rel_entr(e, e + 1.0) / LN2
    # sensor k's constraint u/r + v/f <= T - a_k, divided by its own time scale S_k
    cons = [
        cp.multiply(U, cp.inv_pos(rate)) + cp.multiply(V, cp.inv_pos(y)) <= A + cp.multiply(W, t),
        gB @ e <= 1,
        cp.sum(y) <= 1,
    ]
    prob = cp.Problem(cp.Minimize(t), cons)
    return prob, e, y, t, (gB, A, W, U, V)


def solve_leader_cvxpy(
    p: CompressionParams,
    beta: np.ndarray,
    H_gain: np.ndarray,
    s: model.SensorArrays | None = None,
    solver: str | None = None,
    **solver_opts: Any,
) -> LeaderSolution:
    """Reference: the exponential-cone program (DPP, compiled once per K), CLARABEL by default.

    ``solver_opts`` go to ``problem.solve``; with none, CLARABEL runs with
    :data:`REFERENCE_OPTS`. The result's ``objective_s`` is the program's optimal value, which
    is what "same optimum" compares. Accuracy caveat for the *allocation*: at the paper's
    parameters the SNR g_k/b_k is ~1e-2 (deep fades ~1e-4), where r(b) saturates at g/ln2 and
    the exponential cone x ln(x/y) with x/y ~ 1 carries the b-dependence in the last digits of
    its coordinates; the optimal value is flat there (first order), but T_max of the returned
    allocation is a max over K sensors, each off by its own first-order error, so it is
    typically 1e-8..1e-5 above the optimum (more at K >= 200) that :func:`solve_leader_fast`
    finds, while ``objective_s`` matches it to ~1e-8 at moderate SNR and to 1e-6 on 91 of 96
    seeded paper-regime instances (worst 3.7e-4).
    """
    import cvxpy as cp

    s = model.sensor_arrays(p) if s is None else s
    c = leader_coefficients(p, beta, H_gain, s)
    K = p.K
    # T = a_max + T0 t with a_max the largest compression time and T0 = T_lb - a_max, where
    # T_lb = max_k a_k + u_k / r_k(B) + v_k / C_DT (all resources to every sensor) <= T*;
    # sensor k's time constraint is divided by S_k = T_lb - a_k > 0, its own time scale, so
    # sensors with very different compression times are all O(1) for the solver
    a_max = float(np.max(c.a))
    T_lb = float(np.max(c.a + c.u / (p.B_hz * np.log2(1 + c.g / p.B_hz)) + c.v / p.C_dt_hz))
    T0 = T_lb - a_max
    S = T_lb - c.a
    prob, e, y, t, (gB, A, W, U, V) = _cvx_problem(K)
    gB.value = c.g / p.B_hz
    A.value = (a_max - c.a) / S
    W.value = np.full(K, T0) / S
    U.value = c.u / (c.g * S)
    V.value = c.v / (p.C_dt_hz * S)
    installed = cp.installed_solvers()
    if solver is None:
        solver = next(sv for sv in ("CLARABEL", "ECOS", "SCS") if sv in installed)
    opts: dict[str, Any] = dict(solver_opts)
    if solver == "SCS" and not opts:
        opts = dict(eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
    if solver == "CLARABEL" and not opts:
        opts = dict(REFERENCE_OPTS)
    prob.solve(solver=solver, **opts)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"cvxpy leader problem: {prob.status}")
    sol = _finish(p, beta, H_gain, s, c.g * np.asarray(e.value), p.C_dt_hz * np.asarray(y.value))
    return sol._replace(objective_s=a_max + T0 * float(t.value))


# -- one-resource leaders (baselines 1 and 2) -----------------------------------------------------
def solve_bandwidth_only(
    p: CompressionParams,
    beta: np.ndarray,
    H_gain: np.ndarray,
    f_hz: np.ndarray,
    s: model.SensorArrays | None = None,
    tol: float = 1e-12,
) -> LeaderSolution:
    """Eq. (26) with the DT speeds fixed (baseline 1): min_b max_k T_k s.t. sum b <= B.

    All sensors finish at a common T with the budget tight. For T > T_min = max_k (a_k + v_k/f_k
    + u_k ln2/g_k) each sensor's bandwidth is the inverse of u_k / r_k(b_k) = T - a_k - v_k/f_k
    (:func:`_solve_z` with no DT term), decreasing in T; brentq finds sum_k b_k = B.
    """
    s = model.sensor_arrays(p) if s is None else s
    c = leader_coefficients(p, beta, H_gain, s)
    f = np.broadcast_to(np.asarray(f_hz, dtype=float), (p.K,))
    if p.K == 1:
        return _finish(p, beta, H_gain, s, np.array([p.B_hz]), f.copy(), fix_f=True)
    a2 = c.a + c.v / f
    T_min = float(np.max(a2 + c.u * LN2 / c.g))
    zero = np.zeros(p.K)
    state = {"y": np.log(c.g * p.K / p.B_hz)}

    def excess(ls: float) -> float:
        y = _solve_z(c, zero, T_min + math.exp(ls) - a2, state["y"])
        state["y"] = y
        return math.log(float(np.sum(c.g * np.exp(-y)))) - math.log(p.B_hz)

    ls = _root_decreasing(excess, math.log(T_min), 1.0, max(tol * 1e-2, 1e-15))
    y = _solve_z(c, zero, T_min + math.exp(ls) - a2, state["y"])
    return _finish(p, beta, H_gain, s, c.g * np.exp(-y), f.copy(), fix_f=True)


def solve_dt_only(
    p: CompressionParams,
    beta: np.ndarray,
    H_gain: np.ndarray,
    b_hz: np.ndarray,
    s: model.SensorArrays | None = None,
    tol: float = 1e-12,
) -> LeaderSolution:
    """Eq. (26) with the bandwidths fixed (baseline 2): min_f max_k T_k s.t. sum f <= C_DT.

    With e_k = a_k + u_k / r_k(b_k) fixed, f_k = v_k / (T - e_k) and sum_k f_k = C_DT is a
    decreasing 1-D equation in T > max_k e_k (brentq in log(T - max e)).
    """
    s = model.sensor_arrays(p) if s is None else s
    c = leader_coefficients(p, beta, H_gain, s)
    b = np.broadcast_to(np.asarray(b_hz, dtype=float), (p.K,)).copy()
    if p.K == 1:
        return _finish(p, beta, H_gain, s, b, np.array([p.C_dt_hz]), fix_b=True)
    r = model.rate_bps(b, H_gain, s.p_w, p.N0_w_per_hz)
    e = c.a + c.u / r
    e_max = float(np.max(e))

    def excess(ls: float) -> float:
        return math.log(float(np.sum(c.v / (e_max + math.exp(ls) - e)))) - math.log(p.C_dt_hz)

    ls = _root_decreasing(excess, math.log(float(np.sum(c.v)) / p.C_dt_hz), 1.0,
                          max(tol * 1e-2, 1e-15))
    return _finish(p, beta, H_gain, s, b, c.v / (e_max + math.exp(ls) - e), fix_b=True)


# -- joint problem reference (baseline 5's certificate) ------------------------------------------
def solve_joint_cvxpy(
    p: CompressionParams,
    H_gain: np.ndarray,
    s: model.SensorArrays | None = None,
    solver: str = "CLARABEL",
    **solver_opts: Any,
) -> tuple[np.ndarray, LeaderSolution]:
    """Reference for the centralized scheme: min over (beta, b, f) of eq. (10) as one convex
    cone program (not DPP; built per call).

    With e_k = b_k / g_k, w_k <= e_k ln(1 + 1/e_k) = r_k ln2 / g_k (exp cone), q_k^2 <= beta_k w_k
    (rotated SOC) and s_k >= q_k^-2 >= 1 / (beta_k w_k):
    T_k <= (D/f_S)(e^{eps beta} - e^eps) + (D ln2 / g) s_k + v_k / (C_DT y_k), everything
    divided by the equal-split time T_ref so the solver sees O(1) numbers. Returns (beta, the
    allocation evaluated by the model).
    """
    import cvxpy as cp

    s = model.sensor_arrays(p) if s is None else s
    K = p.K
    g = np.broadcast_to(np.asarray(H_gain, float), (K,)) * s.p_w / p.N0_w_per_hz
    b_eq = np.full(K, p.B_hz / K)
    r_eq = model.rate_bps(b_eq, H_gain, s.p_w, p.N0_w_per_hz)
    beta_eq = model.best_response(r_eq, s.f_s_hz, p.epsilon, p.beta_max)
    T_ref = float(np.max(model.timings(p, beta_eq, b_eq, np.full(K, p.C_dt_hz / K), H_gain,
                                       s).T_total))
    A = s.D_bits / s.f_s_hz / T_ref
    W = s.D_bits * LN2 / g / T_ref
    V = s.c_cycles_per_bit * s.D_bits / p.C_dt_hz / T_ref
    beta = cp.Variable(K)
    e = cp.Variable(K, nonneg=True)
    y = cp.Variable(K, nonneg=True)
    w = cp.Variable(K, nonneg=True)
    q = cp.Variable(K, nonneg=True)
    sv = cp.Variable(K, nonneg=True)
    t = cp.Variable()
    cons = [
        beta >= 1, beta <= p.beta_max,
        w <= -cp.rel_entr(e, e + 1.0),
        cp.SOC(beta + w, cp.vstack([2 * q, beta - w]), axis=0),
        sv >= cp.power(q, -2),
        cp.multiply(A, cp.exp(p.epsilon * beta) - math.exp(p.epsilon)) + cp.multiply(W, sv)
        + cp.multiply(V, cp.inv_pos(y)) <= t,
        (g / p.B_hz) @ e <= 1,
        cp.sum(y) <= 1,
    ]
    prob = cp.Problem(cp.Minimize(t), cons)
    prob.solve(solver=solver, **solver_opts)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"cvxpy joint problem: {prob.status}")
    bt = np.clip(np.asarray(beta.value, float), 1.0, p.beta_max)
    return bt, _finish(p, bt, H_gain, s, g * np.asarray(e.value), p.C_dt_hz * np.asarray(y.value))
