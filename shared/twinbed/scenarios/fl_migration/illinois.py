"""The allocation's capacity search (the Illinois steps of :func:`.allocation._inner`) with its
arithmetic compiled: the same numbers, bit for bit (issue 15).

Each step of the search on the q_s multiplier mu prices every binding server's users at
``base + mu b``, solves their gamma in closed form (:func:`.allocation._priced`) and sums the
load. numpy spent most of a step in some forty small calls; here the arithmetic and the
bracket's bookkeeping run compiled, while the three transcendental functions stay exactly
what :func:`.allocation._priced` calls: numpy's ``log`` and ``power`` (its SIMD versions
differ from the C library's in the last bit for some arguments) and scipy's ``wrightomega``,
each on the same contiguous (lanes, m) arrays. Every other operation is the same IEEE
operation in the same order (numba without ``fastmath``; ``error_model="numpy"`` gives 0/0 a
NaN as numpy does), the load's row sums add in numpy's pairwise order
(:func:`twinbed.npsum.pairwise`) and the clip is numpy's. Tested against the reference search
(``tests/scenarios/test_fl_migration_fastpath.py``).

numba is imported here only, when the search first runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.special import wrightomega

from twinbed.npsum import pairwise

__all__ = ["Search"]


@njit(cache=True, error_model="numpy")
def _prices(base: np.ndarray, mu: np.ndarray, bb: np.ndarray, U: float, den: np.ndarray,
            price: np.ndarray, A: np.ndarray) -> None:  # pragma: no cover - compiled
    """price = base + mu b; A = price U / den (the argument of log)."""
    r, m = base.shape
    for i in range(r):
        for j in range(m):
            pr = base[i, j] + mu[i] * bb[i, j]
            price[i, j] = pr
            A[i, j] = pr * U / den[i, j]


@njit(cache=True, error_model="numpy")
def _omega_arg(L: np.ndarray, log_a2_k: np.ndarray, k: np.ndarray, B: np.ndarray
               ) -> None:  # pragma: no cover - compiled
    r, m = L.shape
    for i in range(r):
        for j in range(m):
            B[i, j] = log_a2_k[i, j] - L[i, j] / k[i, j]


@njit(cache=True, error_model="numpy")
def _scale(k_a2: np.ndarray, W: np.ndarray, X: np.ndarray) -> None:  # pragma: no cover
    r, m = W.shape
    for i in range(r):
        for j in range(m):
            X[i, j] = k_a2[i, j] * W[i, j]


@njit(cache=True, error_model="numpy")
def _gamma_load(P: np.ndarray, price: np.ndarray, n_new: np.ndarray, n_prev: np.ndarray,
                no_prev: np.ndarray, alpha3: float, bb: np.ndarray, capi: np.ndarray,
                g: np.ndarray, tmp: np.ndarray, f: np.ndarray) -> None:  # pragma: no cover
    """gamma from P = x^(1/v) as :func:`.allocation._priced` (then the clip to [0, 1]) and the
    load's excess per lane, sum(b gamma) - cap."""
    r, m = P.shape
    for i in range(r):
        for j in range(m):
            n = P[i, j] / alpha3
            x = (n - n_new[i, j]) / n_prev[i, j]
            if price[i, j] <= 0:
                x = 1.0
            if no_prev[i, j]:
                x = 0.0
            if np.isnan(x):
                x = 0.0
            # numpy's clip: max(x, 0) then min(., 1), each "a > b ? a : b" (NaN excluded above)
            x = x if x > 0.0 else 0.0
            x = x if x < 1.0 else 1.0
            g[i, j] = x
            tmp[i, j] = bb[i, j] * x
        f[i] = pairwise(tmp[i]) - capi[i]


@njit(cache=True, error_model="numpy")
def _bracket(step: int, lo: np.ndarray, hi: np.ndarray, f_lo: np.ndarray, f_hi: np.ndarray,
             f_mid: np.ndarray, mid: np.ndarray, done: np.ndarray, last: np.ndarray,
             tol_f: np.ndarray) -> bool:  # pragma: no cover - compiled
    """The bookkeeping of one Illinois step of :func:`.allocation._inner`: the last step's
    ``f_mid`` taken in (unless ``step`` is 0), then the lanes' done test; if some lane is not
    done, the next ``mid``. Returns True when every lane is done. ``last``: 0 before the first
    step, 1 if the last mid fit, -1 if not."""
    r = lo.shape[0]
    if step > 0:
        for i in range(r):
            fits = f_mid[i] <= 0
            if fits and last[i] == 1:  # Illinois: halve the stale end's value
                f_lo[i] = 0.5 * f_lo[i]
            if not fits and last[i] == -1:
                f_hi[i] = 0.5 * f_hi[i]
            if not done[i]:
                if fits:
                    hi[i] = mid[i]
                    f_hi[i] = f_mid[i]
                else:
                    lo[i] = mid[i]
                    f_lo[i] = f_mid[i]
            last[i] = 1 if fits else -1
    all_done = True
    for i in range(r):
        width = hi[i] - lo[i]
        d = (width <= 1e-14 * hi[i]) or (f_hi[i] > tol_f[i])
        done[i] = d
        if not d:
            all_done = False
    if all_done:
        return True
    for i in range(r):
        width = hi[i] - lo[i]
        m = hi[i] - f_hi[i] * width / (f_hi[i] - f_lo[i])
        if not ((m > lo[i]) and (m < hi[i])):
            m = 0.5 * (lo[i] + hi[i])
        mid[i] = m
    return False


class Search:
    """The capacity search of the binding lanes: ``sub`` the lanes' price-free coefficients
    (:func:`.allocation._price_free`), ``base`` their prices at mu = 0, ``bb`` their compute
    costs b, ``capi`` their room max(cap, 0)."""

    def __init__(self, U: int, alpha3: float, sub: dict[str, np.ndarray], base: np.ndarray,
                 bb: np.ndarray, capi: np.ndarray) -> None:
        self.U, self.alpha3 = float(U), alpha3
        self.sub, self.base, self.bb, self.capi = sub, base, bb, capi
        shape = base.shape
        self.price = np.empty(shape)
        self.A = np.empty(shape)
        self.B = np.empty(shape)
        self.X = np.empty(shape)
        self.g = np.empty(shape)
        self.tmp = np.empty(shape)

    def excess(self, mu: np.ndarray, f: np.ndarray) -> np.ndarray:
        """The load's excess at multipliers ``mu`` into ``f``; gamma in ``self.g``."""
        s = self.sub
        _prices(self.base, mu, self.bb, self.U, s["den"], self.price, self.A)
        L = np.log(self.A)
        _omega_arg(L, s["log_a2_k"], s["k"], self.B)
        W = np.real(wrightomega(self.B))
        _scale(s["k_a2"], W, self.X)
        P = self.X ** s["inv_v"]
        _gamma_load(P, self.price, s["n_new"], s["n_prev"], s["no_prev"], self.alpha3, self.bb,
                    self.capi, self.g, self.tmp, f)
        return f

    def run(self, hi: np.ndarray, steps: int = 100) -> np.ndarray:
        """The Illinois search from [0, hi]: gamma at the feasible end (lanes, m)."""
        r = hi.shape[0]
        lo = np.zeros_like(hi)
        hi = hi.copy()
        f_lo = self.excess(lo, np.empty(r))
        f_hi = self.excess(hi, np.empty(r))
        f_mid = np.empty(r)
        mid = np.empty(r)
        done = np.zeros(r, dtype=np.bool_)
        last = np.zeros(r, dtype=np.int8)
        tol_f = -1e-10 * np.maximum(self.capi, 1.0)
        for step in range(steps + 1):
            if _bracket(step, lo, hi, f_lo, f_hi, f_mid, mid, done, last, tol_f):
                break
            if step == steps:
                break
            self.excess(mid, f_mid)
        self.excess(hi, f_mid)
        return self.g.copy()
