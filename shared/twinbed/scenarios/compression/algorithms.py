"""Decision makers of the ``compression`` scenario, selectable by name (Section V-A).

Every decision maker maps the leader's view of a round (the channel gains |H_k|^2 and the
sensors' constants) to an :class:`Allocation`: bandwidths b_k, DT speeds f_k and, where the
scheme fixes or negotiates them, the compression ratios beta_k (``None``: each sensor plays its
closed-form best response (eq. 9) to its bandwidth).

| name | scheme |
| --- | --- |
| ``stackelberg`` | Algorithm 1: the BS solves (26) for the followers' state, every sensor takes |
| | one dual step (24) and updates beta by (19); until abs(Delta U) <= xi or L_max iterations |
| ``fixed-f`` | baseline 1: f_k = C_DT/K, Algorithm 1 over b and beta |
| ``fixed-b`` | baseline 2: b_k = B/K, Algorithm 1 over f and beta |
| ``fixed-bf`` | baseline 3: b_k = B/K, f_k = C_DT/K, beta = BR |
| ``no-compression`` | baseline 4: beta_k = 1, the leader optimizes b and f |
| ``centralized`` | baseline 5: min over (beta, b, f) of eq. (10), the joint optimum (below) |

Centralized. T_k is jointly convex in (beta_k, b_k, f_k): T_comp is convex in beta,
v/f is convex, and T_tr = D / (beta r(b)) = exp(ln D - ln beta - ln r(b)) is log-convex
(ln r is concave because r is concave and positive), hence convex. So the joint problem is
convex and every KKT point is its global optimum. The followers' cost (8) is T_k minus the
beta-free T_DT, so beta_k = BR(b_k) is exactly the beta-stationarity (or boundary) condition of
the joint KKT system, and the leader's optimum for fixed beta supplies the rest: a fixed point
of "exact leader, exact best responses" is the joint optimum. ``centralized`` iterates that map
to a fixed point (max T decreases monotonically); its optimality is certified independently in
the tests (a cvxpy joint exponential/power-cone program and a grid over beta for K = 2).
Consequence, stated in the README: the Stackelberg equilibrium and the centralized optimum
coincide in this game; Algorithm 1's gap to it is only its truncation (xi, L_max).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from twinbed.scenarios.compression import follower, model
from twinbed.scenarios.compression.leader import (
    LeaderSolution,
    solve_bandwidth_only,
    solve_dt_only,
    solve_leader_fast,
)
from twinbed.scenarios.compression.params import CompressionParams

__all__ = [
    "ALGORITHMS",
    "Allocation",
    "Step",
    "centralized",
    "fixed_b",
    "fixed_bf",
    "fixed_f",
    "no_compression",
    "stackelberg",
]


class Allocation(NamedTuple):
    b_hz: np.ndarray
    f_hz: np.ndarray
    beta: np.ndarray | None = None  # None: every sensor plays its best response (eq. 9)
    iterations: int = 0


class Step(NamedTuple):
    """One iteration of Algorithm 1 (for traces and the live negotiation's check)."""

    iteration: int
    T_max_s: float
    beta: np.ndarray
    b_hz: np.ndarray
    f_hz: np.ndarray


Leader = Callable[[CompressionParams, np.ndarray, np.ndarray, model.SensorArrays], LeaderSolution]
Decider = Callable[..., Allocation]


def _equal(p: CompressionParams) -> tuple[np.ndarray, np.ndarray]:
    return np.full(p.K, p.B_hz / p.K), np.full(p.K, p.C_dt_hz / p.K)


def _rates(p: CompressionParams, b: np.ndarray, H: np.ndarray, s: model.SensorArrays) -> np.ndarray:
    return model.rate_bps(b, H, s.p_w, p.N0_w_per_hz)


def iterate(
    p: CompressionParams,
    H_gain: np.ndarray,
    s: model.SensorArrays,
    leader: Leader,
    trace: list[Step] | None = None,
) -> Allocation:
    """Algorithm 1 with a given leader sub-problem solver.

    lambda^(0) = (0, D/r(B/K)) (:func:`follower.dual_init` at the equal split) gives beta^(0)
    by (19). Iteration l: the leader solves (26) for the current beta (with mu = 1/beta, C2.f
    tight, i.e. eq. (25) at the followers' current point); each sensor takes one dual step (24)
    with its new rate and updates beta by (19); U^(l) = eq. (10). Stop when
    |U^(l) - U^(l-1)| <= xi [s] or l = L_max.
    """
    b, f = _equal(p)
    lam = follower.dual_init(s.D_bits, _rates(p, b, H_gain, s))
    beta = follower.dual_state(lam, s.D_bits, s.f_s_hz, _rates(p, b, H_gain, s), p.epsilon,
                               p.beta_max).beta
    U_prev = math.inf
    it = 0
    for it in range(1, p.L_max + 1):
        sol = leader(p, beta, H_gain, s)
        b, f = sol.b_hz, sol.f_hz
        r = _rates(p, b, H_gain, s)
        lam = follower.dual_step(lam, s.D_bits, s.f_s_hz, r, p.epsilon, p.beta_max)
        beta = follower.dual_state(lam, s.D_bits, s.f_s_hz, r, p.epsilon, p.beta_max).beta
        U = float(np.max(model.timings(p, beta, b, f, H_gain, s).T_total))
        if trace is not None:
            trace.append(Step(it, U, beta.copy(), b.copy(), f.copy()))
        if abs(U - U_prev) <= p.xi:
            break
        U_prev = U
    return Allocation(b, f, beta, it)


def _arrays(p: CompressionParams, s: model.SensorArrays | None) -> model.SensorArrays:
    return model.sensor_arrays(p) if s is None else s


def _warm_leader() -> Leader:
    """solve_leader_fast, each solve warm-started where the previous one ended."""
    last: list[LeaderSolution] = []

    def leader(p: CompressionParams, beta: np.ndarray, H: np.ndarray,
               s: model.SensorArrays) -> LeaderSolution:
        sol = solve_leader_fast(p, beta, H, s, warm=last[-1].warm if last else None)
        last[:] = [sol]
        return sol

    return leader


def stackelberg(p: CompressionParams, H_gain: np.ndarray, s: model.SensorArrays | None = None,
                trace: list[Step] | None = None) -> Allocation:
    """The proposed scheme: Algorithm 1 with the full leader problem (26)."""
    return iterate(p, H_gain, _arrays(p, s), _warm_leader(), trace)


def fixed_f(p: CompressionParams, H_gain: np.ndarray, s: model.SensorArrays | None = None,
            trace: list[Step] | None = None) -> Allocation:
    """Baseline 1: f_k = C_DT/K; Algorithm 1 over the bandwidths and the followers."""
    f = np.full(p.K, p.C_dt_hz / p.K)
    return iterate(p, H_gain, _arrays(p, s),
                   lambda p_, beta, H, s_: solve_bandwidth_only(p_, beta, H, f, s_), trace)


def fixed_b(p: CompressionParams, H_gain: np.ndarray, s: model.SensorArrays | None = None,
            trace: list[Step] | None = None) -> Allocation:
    """Baseline 2: b_k = B/K; Algorithm 1 over the DT speeds and the followers."""
    b = np.full(p.K, p.B_hz / p.K)
    return iterate(p, H_gain, _arrays(p, s),
                   lambda p_, beta, H, s_: solve_dt_only(p_, beta, H, b, s_), trace)


def fixed_bf(p: CompressionParams, H_gain: np.ndarray, s: model.SensorArrays | None = None,
             trace: list[Step] | None = None) -> Allocation:
    """Baseline 3: equal split, b_k = B/K and f_k = C_DT/K; sensors play their best response."""
    b, f = _equal(p)
    return Allocation(b, f, None, 1)


def no_compression(p: CompressionParams, H_gain: np.ndarray, s: model.SensorArrays | None = None,
                   trace: list[Step] | None = None) -> Allocation:
    """Baseline 4: beta_k = 1; the leader's optimal b and f for uncompressed data."""
    beta = np.ones(p.K)
    sol = solve_leader_fast(p, beta, H_gain, _arrays(p, s))
    return Allocation(sol.b_hz, sol.f_hz, beta, 1)


def centralized(p: CompressionParams, H_gain: np.ndarray, s: model.SensorArrays | None = None,
                trace: list[Step] | None = None, rtol: float = 1e-13,
                max_iter: int = 1000) -> Allocation:
    """Baseline 5: the joint optimum of (10) over beta, b, f (see the module docstring).

    Fixed point of the exact leader (:func:`solve_leader_fast`) and the exact best responses
    (closed form), from beta = BR(B/K); stops when max T changes by <= ``rtol`` relative.
    """
    s = _arrays(p, s)
    b, f = _equal(p)
    beta = model.best_response(_rates(p, b, H_gain, s), s.f_s_hz, p.epsilon, p.beta_max)
    U_prev = math.inf
    it = 0
    leader = _warm_leader()
    for it in range(1, max_iter + 1):
        sol = leader(p, beta, H_gain, s)
        b, f = sol.b_hz, sol.f_hz
        beta = model.best_response(_rates(p, b, H_gain, s), s.f_s_hz, p.epsilon, p.beta_max)
        U = float(np.max(model.timings(p, beta, b, f, H_gain, s).T_total))
        if trace is not None:
            trace.append(Step(it, U, beta.copy(), b.copy(), f.copy()))
        if abs(U_prev - U) <= rtol * U:
            break
        U_prev = U
    return Allocation(b, f, beta, it)


# fixed-bf stays first: it is the CLI's default algorithm (the cheapest, no negotiation)
ALGORITHMS: dict[str, Decider] = {
    "fixed-bf": fixed_bf,
    "stackelberg": stackelberg,
    "fixed-f": fixed_f,
    "fixed-b": fixed_b,
    "no-compression": no_compression,
    "centralized": centralized,
}
