"""The follower's sub-game in the paper's dual form: Lemma 1 and the gradient ascent (19)-(24).

Sensor k minimizes f_k(beta, mu) = (D/f_S) e^{eps beta} + (D/r) mu over beta <= beta_max,
mu > 0, s.t. C1.f: 1 <= beta and C2.f: 1/mu <= beta (eq. 15). With multipliers
lambda = (lambda_1, lambda_2) >= 0 the Lagrangian's minimizer is (Lemma 1)

    beta*(lambda) = min{ ln(f_S (lambda_1 + lambda_2) / (eps D)) / eps, beta_max }      (19)
    mu*(lambda)   = sqrt(lambda_2 r / D)                                               (20)

and g(x*(lambda)) = (1 - beta*, 1/mu* - beta*) is the dual gradient (23). The dual ascent (24)
is lambda <- [lambda + h o g]^+ with the step h found by line search; here *exact* line searches
(golden section in log h, vectorized over sensors) maximize the dual function along the
projected ray, which the paper leaves open; the element-wise step h o g is searched one
component at a time (see :func:`dual_step`), so one step essentially solves the dual.

Every function is vectorized over sensors: arrays of shape (K,) for D, f_S, r; lambda (K, 2).
The primal best response these iterates converge to is :func:`model.best_response` (closed form).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "DualState",
    "dual_best_response",
    "dual_function",
    "dual_init",
    "dual_primal",
    "dual_state",
    "dual_step",
    "duality_gap",
]

_GOLD = (math.sqrt(5.0) - 1.0) / 2.0
_LAM_FLOOR = 1e-300


class DualState(NamedTuple):
    lam: np.ndarray  # (K, 2) dual variables (lambda_1, lambda_2) >= 0
    beta: np.ndarray  # (K,) beta*(lambda), eq. (19), projected onto [1, beta_max]
    mu: np.ndarray  # (K,) mu*(lambda), eq. (20)


def dual_primal(
    lam: np.ndarray, D: np.ndarray, f_s: np.ndarray, rate: np.ndarray, eps: float, beta_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lemma 1: the Lagrangian minimizer (beta*, mu*) for dual variables ``lam`` (K, 2).

    beta* is the unconstrained root of (21) capped at beta_max (it may fall below 1 while
    lambda_1 is still too small: C1.f is enforced by the dual, not by clipping here).
    """
    s = np.maximum(lam[:, 0] + lam[:, 1], _LAM_FLOOR)
    beta = np.minimum(np.log(f_s * s / (eps * D)) / eps, beta_max)
    mu = np.sqrt(np.maximum(lam[:, 1], _LAM_FLOOR) * rate / D)
    return beta, mu


def dual_function(
    lam: np.ndarray, D: np.ndarray, f_s: np.ndarray, rate: np.ndarray, eps: float, beta_max: float
) -> np.ndarray:
    """D(lambda) of eq. (18): the Lagrangian (16a) at Lemma 1's minimizer, shape (K,)."""
    beta, mu = dual_primal(lam, D, f_s, rate, eps, beta_max)
    return (D / f_s * np.exp(eps * beta) + D / rate * mu
            + lam[:, 0] * (1.0 - beta) + lam[:, 1] * (1.0 / mu - beta))


def dual_init(D: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """lambda^(0): lambda_1 = 0 and lambda_2 = D / r, the multiplier at mu = 1 (no compression)."""
    return np.stack([np.zeros_like(rate), D / rate], axis=1)


def dual_step(
    lam: np.ndarray,
    D: np.ndarray,
    f_s: np.ndarray,
    rate: np.ndarray,
    eps: float,
    beta_max: float,
    iters: int = 40,
) -> np.ndarray:
    """One projected gradient-ascent step (24), lambda <- [lambda + h o g]^+, for every sensor.

    The element-wise step h = (h_1, h_2) comes from exact line searches, one component at a
    time (first h_1 along g_1 e_1, then h_2 along the refreshed g_2 e_2): each maximizes the
    dual function over log h (golden section, ``iters`` shrinks, bracket scaled to lambda's
    size). Writing s = lambda_1 + lambda_2, D(lambda) = Phi(s) + Psi(lambda_2) is separable up
    to s >= lambda_2, so this step reaches the dual optimum in one or two calls whether C1.f
    is slack (lambda_1 = 0) or tight (beta* = 1); along the joint gradient g an exact search
    would zigzag at the beta* = 1 corner. A move that does not increase D is not taken.
    """
    lam = np.array(lam, dtype=float)
    for j in (0, 1):
        beta, mu = dual_primal(lam, D, f_s, rate, eps, beta_max)
        gj = 1.0 - beta if j == 0 else 1.0 / mu - beta
        d = np.zeros_like(lam)
        d[:, j] = gj
        scale = np.maximum(np.max(np.abs(lam), axis=1), D / rate) / np.maximum(np.abs(gj), 1e-300)

        def val(lh: np.ndarray, d: np.ndarray = d, scale: np.ndarray = scale) -> np.ndarray:
            h = (scale * np.exp(lh))[:, None]
            return dual_function(np.maximum(lam + h * d, 0.0), D, f_s, rate, eps, beta_max)

        lo = np.full(len(D), -40.0)
        hi = np.full(len(D), 10.0)
        x1 = hi - _GOLD * (hi - lo)
        x2 = lo + _GOLD * (hi - lo)
        f1, f2 = val(x1), val(x2)
        for _ in range(iters):
            left = f1 >= f2  # the maximum lies in [lo, x2]
            hi = np.where(left, x2, hi)
            lo = np.where(left, lo, x1)
            x2n = np.where(left, x1, lo + _GOLD * (hi - lo))
            x1n = np.where(left, hi - _GOLD * (hi - lo), x2)
            fn = val(np.where(left, x1n, x2n))
            f1, f2 = np.where(left, fn, f2), np.where(left, f1, fn)
            x1, x2 = x1n, x2n
        new = np.maximum(lam + (scale * np.exp(0.5 * (lo + hi)))[:, None] * d, 0.0)
        # the golden section locates a flat maximum only to ~sqrt(machine eps): polish with
        # Newton steps on the directional derivative g_j (decreasing in lambda_j)
        for _ in range(5):
            b_, m_ = dual_primal(new, D, f_s, rate, eps, beta_max)
            s_ = np.maximum(new[:, 0] + new[:, 1], _LAM_FLOOR)
            dbeta = np.where(b_ < beta_max, 1.0 / (eps * s_), 0.0)
            if j == 0:
                gj, dgj = 1.0 - b_, -dbeta
            else:
                gj = 1.0 / m_ - b_
                dgj = -0.5 / (m_ * np.maximum(new[:, 1], _LAM_FLOOR)) - dbeta
            with np.errstate(divide="ignore", invalid="ignore"):
                cand = new.copy()
                cand[:, j] = np.maximum(new[:, j] - gj / dgj, 0.0)
            bc, mc = dual_primal(cand, D, f_s, rate, eps, beta_max)
            gc = 1.0 - bc if j == 0 else 1.0 / mc - bc
            # a projected step at lambda_j = 0 with g_j < 0 is optimal (complementarity)
            res_c = np.where((cand[:, j] == 0) & (gc <= 0), 0.0, np.abs(gc))
            res_n = np.where((new[:, j] == 0) & (gj <= 0), 0.0, np.abs(gj))
            ok = np.all(np.isfinite(cand), axis=1) & (res_c < res_n)
            new = np.where(ok[:, None], cand, new)
        d0 = dual_function(lam, D, f_s, rate, eps, beta_max)
        better = dual_function(new, D, f_s, rate, eps, beta_max) >= d0 - 1e-14 * np.abs(d0)
        lam = np.where(better[:, None], new, lam)
    return lam


def dual_state(
    lam: np.ndarray, D: np.ndarray, f_s: np.ndarray, rate: np.ndarray, eps: float, beta_max: float
) -> DualState:
    """The follower's decision for ``lam``: beta* of (19) projected onto [1, beta_max]."""
    beta, mu = dual_primal(lam, D, f_s, rate, eps, beta_max)
    return DualState(lam, np.clip(beta, 1.0, beta_max), mu)


def dual_best_response(
    D: np.ndarray,
    f_s: np.ndarray,
    rate: np.ndarray,
    eps: float,
    beta_max: float,
    lam0: np.ndarray | None = None,
    tol: float = 1e-12,
    max_steps: int = 500,
) -> tuple[DualState, int]:
    """Solve the dual (17) by repeated steps (24) until the duality gap certifies the primal
    point (beta* projected onto [1, beta_max], mu = 1/beta) to ``tol`` relative cost; returns
    the state and the number of steps taken."""
    lam = dual_init(D, rate) if lam0 is None else np.array(lam0, dtype=float)
    steps = 0
    for steps in range(1, max_steps + 1):
        lam = dual_step(lam, D, f_s, rate, eps, beta_max)
        if np.all(duality_gap(lam, D, f_s, rate, eps, beta_max) <= tol):
            break
    return dual_state(lam, D, f_s, rate, eps, beta_max), steps


def duality_gap(
    lam: np.ndarray, D: np.ndarray, f_s: np.ndarray, rate: np.ndarray, eps: float, beta_max: float
) -> np.ndarray:
    """(f(x_hat) - D(lambda)) / f(x_hat) >= 0 with x_hat the feasible point of :func:`dual_state`
    (weak duality); 0 certifies that x_hat is the best response."""
    st = dual_state(lam, D, f_s, rate, eps, beta_max)
    primal = D / f_s * np.exp(eps * st.beta) + D / (rate * st.beta)
    return np.maximum(primal - dual_function(lam, D, f_s, rate, eps, beta_max), 0.0) / primal
