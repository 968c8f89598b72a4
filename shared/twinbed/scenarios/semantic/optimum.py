"""The per-slot optimum: the best decisions for one slot whose state is fully known.

It maximizes the slot's reward (22), i.e. minimizes T[n] + P (which is T[n] whenever the
constraints (19) can be met), over phi, f, p and f_e for given D, d and fading |g|^2. The
structure makes this exact up to a fine grid:

* f: for given (phi, p) the UD's cost in f is C lambda/f (+ W C lambda/f while (16) is violated)
  + W max(0, C k lambda f^2 - E_rem), convex in f; its minimizer is
  min(f_max, max(sqrt(E_rem/(C k lambda)), ((1 + w)/(2 W k))^(1/3))) with w in {0, W}; both
  candidates are evaluated.
* f_e: for given (phi, p) every UD's recovery cost a/f_e + W max(0, t0 + a/f_e - deadline)
  (a = C D phi^(1-y)) is convex in f_e, and the edge budget couples the UDs only through
  sum f_e <= f_e^max. With a price nu on edge CPU each UD's best f_e has a closed form
  (sqrt(a/nu), sqrt(a(1+W)/nu) or the deadline boundary a/(deadline - t0)), so the coupled
  problem is a dual decomposition: a bisection on nu until the budget is used.
* (phi, p): per UD, a dense grid over [phi_min, 1] x [p_min, p_max] (log-spaced powers) at the
  final price, refined once on a 4x finer local grid.

Finally the edge CPU is re-allocated exactly for the chosen (phi, p, f) (the same bisection with
those fixed), so sum f_e = f_e^max. Tests compare it with scipy's differential evolution.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from twinbed.radio import shannon_rate_bps
from twinbed.scenarios.semantic.params import SemanticParams

__all__ = ["Action", "allocate_edge", "solve_slot"]

_NU_LO, _NU_HI = 1e-24, 1e-2  # bracket of the edge-CPU price [s/Hz per Hz]
_BISECT = 60


class Action(NamedTuple):
    """Decisions of one slot, shape (K,): phi, f [Hz], p [W], f_e [Hz]."""

    phi: np.ndarray
    f_hz: np.ndarray
    p_w: np.ndarray
    f_e_hz: np.ndarray


def _best_fe(a: np.ndarray, t0: np.ndarray, nu: float, p: SemanticParams) -> np.ndarray:
    """Each UD's best f_e at price nu: argmin a/f + W max(0, t0 + a/f - dl) + nu f."""
    dl = p.deadline_s
    f1 = np.sqrt(a / nu)
    f2 = np.sqrt(a * (1.0 + p.W) / nu)
    slack = dl - t0
    with np.errstate(divide="ignore", invalid="ignore"):
        f3 = np.where(slack > 0, a / slack, np.inf)
    meets1 = (slack > 0) & (a / f1 <= slack)
    viol2 = (slack <= 0) | (a / f2 >= slack)
    return np.where(meets1, f1, np.where(viol2, f2, f3))


def _edge_cost(a: np.ndarray, t0: np.ndarray, fe: np.ndarray, p: SemanticParams) -> np.ndarray:
    tde = a / fe
    return tde + p.W * np.maximum(0.0, t0 + tde - p.deadline_s)


def allocate_edge(a: np.ndarray, t0: np.ndarray, p: SemanticParams) -> np.ndarray:
    """Exact split of f_e^max minimizing sum_k a_k/f_k + W max(0, t0_k + a_k/f_k - deadline):
    bisection on the price nu of the KKT conditions; returns f_e (K,) summing to f_e^max."""
    lo, hi = np.log(_NU_LO), np.log(_NU_HI)
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        if np.sum(_best_fe(a, t0, np.exp(mid), p)) > p.f_e_max_hz:
            lo = mid
        else:
            hi = mid
    fe = _best_fe(a, t0, np.exp(hi), p)
    return fe * (p.f_e_max_hz / np.sum(fe))  # use the budget exactly (closes the bisection gap)


Arr = npt.NDArray[np.float64]  # broadcast grids


def _ud_terms(p: SemanticParams, D: Arr, gain: Arr, phi: Arr, pw: Arr
              ) -> tuple[Arr, Arr, Arr, Arr]:
    """Per-UD (f, t0 = t_en + t_up, a, cost without the recovery term) for grids of (phi, p);
    the f axis (two candidates) is the last one."""
    C, k, W = p.C_cycles_per_bit, p.k_loc, p.W
    u = shannon_rate_bps(p.B_hz / p.K, pw * gain, p.sigma2_w)
    tup = D * phi / u
    lam = D / phi**p.x
    e_rest = p.p_s_j_per_bit * D + pw * tup
    e_rem = p.E_max_j - e_rest
    f_en = np.sqrt(np.maximum(e_rem, 0.0) / (C * k * lam))
    f_pen = np.array([(1.0 / (2 * W * k)) ** (1 / 3), ((1.0 + W) / (2 * W * k)) ** (1 / 3)])
    f = np.minimum(p.f_u_max_hz, np.maximum(f_en[..., None], f_pen))
    t0 = (C * lam)[..., None] / f + tup[..., None]
    e = e_rest[..., None] + C * k * lam[..., None] * f**2
    base = D[..., None] / p.v_s + t0 + W * np.maximum(0.0, e - p.E_max_j)
    a = np.broadcast_to((C * D * phi ** (1.0 - p.y))[..., None], t0.shape)
    return f, t0, a, base


def _argmin_grid(p: SemanticParams, D: Arr, gain: Arr, phi: Arr, pw: Arr, nu: float
                 ) -> tuple[Arr, Arr, Arr, Arr, Arr]:
    """Per UD, the grid point of least cost at price nu; grids are (K, G, P)."""
    f, t0, a, base = _ud_terms(p, D[:, None, None], gain[:, None, None], phi, pw)
    fe = _best_fe(a, t0, nu, p)
    cost = base + _edge_cost(a, t0, fe, p) + nu * fe
    K = cost.shape[0]
    flat = cost.reshape(K, -1)
    idx = np.argmin(flat, axis=1)
    shape = cost.shape[1:]
    gi, pi, fi = np.unravel_index(idx, shape)
    ks = np.arange(K)
    return gi, pi, fi, fe.reshape(K, -1)[ks, idx], f[ks, gi, pi, fi]


def _grids(p: SemanticParams, K: int, n_phi: int, n_p: int) -> tuple[Arr, Arr]:
    phi = np.broadcast_to(np.linspace(p.phi_min, 1.0, n_phi)[None, :, None], (K, n_phi, 1))
    pw = np.broadcast_to(np.geomspace(p.p_min_w, p.p_max_w, n_p)[None, None, :], (K, 1, n_p))
    return phi, pw


def solve_slot(
    p: SemanticParams,
    D: np.ndarray,
    d_m: np.ndarray,
    h2: np.ndarray,
    *,
    phi_fixed: np.ndarray | None = None,
    n_phi: int = 64,
    n_p: int = 32,
) -> Action:
    """The per-slot optimum (module docstring). With ``phi_fixed`` (K,) only f, p and f_e are
    optimized (the baselines that fix phi: ``no-semantic``, ``random``)."""
    D = np.asarray(D, dtype=float)
    K = D.shape[0]
    gain = p.beta0 * np.asarray(d_m, dtype=float) ** (-p.alpha) * np.asarray(h2, dtype=float)
    phi_g, pw_g = _grids(p, K, 1 if phi_fixed is not None else n_phi, n_p)
    if phi_fixed is not None:
        phi_g = np.asarray(phi_fixed, dtype=float).reshape(K, 1, 1)
    # dual bisection: the price at which the UDs' preferred edge CPU fills the budget
    lo, hi = np.log(_NU_LO), np.log(_NU_HI)
    for _ in range(_BISECT // 2):
        mid = 0.5 * (lo + hi)
        if np.sum(_argmin_grid(p, D, gain, phi_g, pw_g, np.exp(mid))[3]) > p.f_e_max_hz:
            lo = mid
        else:
            hi = mid
    nu = np.exp(hi)
    gi, pi, _, _, _ = _argmin_grid(p, D, gain, phi_g, pw_g, nu)
    ks = np.arange(K)
    phi0, p0 = phi_g[ks, gi, 0], pw_g[ks, 0, pi]
    # local refinement: a 4x finer grid around each UD's point
    if phi_fixed is None and n_phi > 1:
        dphi = (1.0 - p.phi_min) / (n_phi - 1)
        phi_loc = np.clip(phi0[:, None] + np.linspace(-dphi, dphi, 9)[None, :], p.phi_min, 1.0)
    else:
        phi_loc = phi0[:, None]
    r = (p.p_max_w / p.p_min_w) ** (1.0 / max(1, n_p - 1))
    p_loc = np.clip(p0[:, None] * r ** np.linspace(-1, 1, 9)[None, :], p.p_min_w, p.p_max_w)
    phi_l, pw_l = phi_loc[:, :, None], p_loc[:, None, :]
    gi, pi, _, _, f = _argmin_grid(p, D, gain, phi_l, pw_l, nu)
    phi = phi_loc[ks, gi]
    pw = p_loc[ks, pi]
    # exact edge split for the chosen (phi, p, f)
    f_all, t0, a, _ = _ud_terms(p, D, gain, phi, pw)
    choice = np.argmin(np.abs(f_all - f[:, None]), axis=1)  # the f candidate chosen above
    t0 = t0[ks, choice]
    a = a[ks, choice]
    fe = allocate_edge(a, t0, p)
    return Action(phi, f, pw, fe)
