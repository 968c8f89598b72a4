"""The follower's sub-game in the paper's dual form: Lemma 1 and the gradient ascent (19)-(24).

Sensor k minimizes f_k(beta, mu) = (D/f_S) e^{eps beta} + (D/r) mu over beta <= beta_max,
mu > 0, s.t. C1.f: 1 <= beta and C2.f: 1/mu <= beta (eq. 15). With multipliers
lambda = (lambda_1, lambda_2) >= 0 the Lagrangian's minimizer is (Lemma 1)

    beta*(lambda) = min{ ln(f_S (lambda_1 + lambda_2) / (eps D)) / eps, beta_max }      (19)
    mu*(lambda)   = sqrt(lambda_2 r / D)                                               (20)

and g(x*(lambda)) = (1 - beta*, 1/mu* - beta*) is the dual gradient (23). The dual ascent (24)
is lambda <- [lambda + h o g]^+ with the step h found by line search; here *exact* line searches
(vectorized over sensors) maximize the dual function along the
projected ray, which the paper leaves open; the element-wise step h o g is searched one
component at a time, as roots of the directional derivatives (see :func:`dual_step`), so one
step solves the dual.

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
    iters: int = 100,
) -> np.ndarray:
    """One projected gradient-ascent step (24), lambda <- [lambda + h o g]^+, for every sensor.

    The element-wise step h = (h_1, h_2) comes from exact line searches, one component at a
    time (first h_1 along g_1 e_1, then h_2 along the refreshed g_2 e_2). The dual is concave,
    so the exact search along e_j is the root of its directional derivative g_j, which
    decreases in lambda_j (or lambda_j = 0 if g_j <= 0 there, the projection):

    * j = 1: g_1 = 1 - beta*(lambda_1 + lambda_2) vanishes at lambda_1 + lambda_2 =
      eps D e^eps / f_S (beta* = 1), so h_1 is closed form;
    * j = 2: g_2 = sqrt(D / (lambda_2 r)) - beta*(lambda_1 + lambda_2): closed form where the
      root has beta* = beta_max, else safeguarded Newton in ln lambda_2 on the smooth branch
      (vectorized; at most ``iters`` iterations).

    Writing s = lambda_1 + lambda_2, D(lambda) = Phi(s) + Psi(lambda_2) is separable up to
    s >= lambda_2, so this step reaches the dual optimum in one call whether C1.f is slack
    (lambda_1 = 0) or tight (beta* = 1); an exact search along the joint gradient g zigzags at
    the beta* = 1 corner. A move that does not increase D is not taken.
    """
    lam = np.array(lam, dtype=float)
    d0 = dual_function(lam, D, f_s, rate, eps, beta_max)
    new = lam.copy()
    # j = 1 (lambda_1): closed form
    s_star = eps * D * math.exp(eps) / f_s
    new[:, 0] = np.maximum(s_star - new[:, 1], 0.0)
    # j = 2 (lambda_2): the root of F(y) = sqrt(D/r) e^{-y/2} - beta*(lambda_1 + e^y), strictly
    # decreasing in y = ln lambda_2. beta* has a kink where it reaches beta_max, so the root is
    # taken branch by branch (Newton across the kink falls back to bisection, ~30 extra steps):
    # on the capped branch F = A e^{-y/2} - beta_max has the closed-form root y_cap, valid where
    # beta* is capped there; otherwise the root lies on the smooth branch, where F equals
    # G(y) = A e^{-y/2} - ln(f_S (lambda_1 + e^y) / (eps D)) / eps (also strictly decreasing).
    A = np.sqrt(D / rate)
    l1 = new[:, 0]
    y_cap = 2.0 * np.log(A / beta_max)
    on_cap = np.log(f_s * (l1 + np.exp(y_cap)) / (eps * D)) / eps >= beta_max
    y = np.log(np.where(new[:, 1] > 0, new[:, 1], D / rate))
    lo = np.full_like(y, -np.inf)
    hi = np.full_like(y, np.inf)
    for _ in range(iters):  # safeguarded Newton on G, vectorized
        ey = np.exp(y)
        s = l1 + ey
        F = A * np.exp(-0.5 * y) - np.log(f_s * s / (eps * D)) / eps
        dF = -0.5 * A * np.exp(-0.5 * y) - ey / (eps * s)
        lo = np.where(F > 0, y, lo)
        hi = np.where(F < 0, y, hi)
        step = np.clip(-F / dF, -5.0, 5.0)
        yn = y + step
        with np.errstate(invalid="ignore"):  # inf + -inf where no bracket yet (not used)
            mid = np.where(np.isfinite(lo) & np.isfinite(hi), 0.5 * (lo + hi), yn)
        # landing on a bracket end is fine: F is ~0 there
        yn = np.where((yn < lo) | (yn > hi), mid, yn)
        done = on_cap | (np.abs(yn - y) <= 4e-16 * np.maximum(1.0, np.abs(y))) | (F == 0)
        y = yn
        if np.all(done):
            break
    y = np.where(on_cap, y_cap, y)
    new[:, 1] = np.exp(y)
    better = dual_function(new, D, f_s, rate, eps, beta_max) >= d0 - 1e-14 * np.abs(d0)
    return np.where(better[:, None], new, lam)


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
    for steps in range(1, max_steps + 1):  # noqa: B007 - the count is returned
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
