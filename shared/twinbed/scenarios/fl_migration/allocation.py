"""Historical data allocation for a given association: problem (26).

For a fixed association kappa^t the slot objective separates by edge server s:

    max_{gamma in [0,1]^{U_s}}  beta1/U sum_{u in s} rho_u(gamma_u) - beta2/S Norm(C_s(gamma))
    s.t. C^cmp_s(gamma) <= q_s                                             (C1 of 26)

with C_s = a0_s + sum c_u gamma_u and C^cmp_s = b0_s + sum b_u gamma_u affine in gamma
(:func:`model.server_coefficients`). rho_u is concave in gamma_u, but Norm(x) = tanh(x/4f0)
is *concave* for x > 0, so -e^t is a difference of convex functions: Theorem 2 does not hold as
stated (the sign of eta_3 in eq. 30 is flipped, and C_s couples the users of one server, so the
Hessian is not diagonal either). See README.md.

Both solvers here are therefore exact the same way: because Norm is concave it is the minimum
of its tangents, Norm(C) = min_z [Norm(z) + Norm'(z) (C - z)], so

    max_gamma F_s(gamma)
        = max_z  max_gamma [beta1/U sum rho_u - beta2/S (Norm(z) + Norm'(z)(C_s - z))]

The inner problem (a fixed price pi = beta2/S Norm'(z) per unit of cost) is convex and
separable per user up to the server's q_s constraint. The outer problem is one scalar per
server: a grid of tangent points z over [C_s(0), C_s(1)] picks the basin, and the
majorize-minimize iteration z <- C_s(gamma(z)) (each step never lowers F_s) polishes it.

* :func:`allocate_fast`: the inner problem in closed form. The stationarity condition
  beta1/U rho_u'(n) n_prev = price solves with Wright's omega (a Lambert-W relative), the q_s
  multiplier by regula falsi (Illinois); numpy over all servers and grid points at once.
* :func:`allocate_cvxpy`: the inner problem as one DPP cvxpy problem (exp + power cones,
  Clarabel), built once per association and re-solved for every price of the outer search.

An edge server whose q_s is exceeded already at gamma = 0 (too many twins) gets gamma = 0,
the least violating allocation; the action is then infeasible and the barrier charges it.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.special import wrightomega

from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["Allocation", "CvxpyAllocator", "ServerProblems", "allocate", "allocate_cvxpy",
           "allocate_fast", "pack", "problem_values", "server_values", "solve_problems"]

GRID = 24  # tangent points per server
POLISH = 60  # majorize-minimize steps after the grid
POLISH_TOL = 1e-11


class Allocation(NamedTuple):
    gamma: np.ndarray  # (U,)
    value: float  # the slot objective e^t (22) at gamma
    per_server: np.ndarray  # (S,) F_s at gamma


def _norm(x: np.ndarray, f0: float) -> np.ndarray:
    return np.tanh(x / (4.0 * f0))


def _dnorm(x: np.ndarray, f0: float) -> np.ndarray:
    return 1.0 / (4.0 * f0 * np.cosh(np.minimum(x / (4.0 * f0), 350.0)) ** 2)


def _rho(n: np.ndarray, v: np.ndarray, p: FlMigrationParams) -> np.ndarray:
    return v - p.alpha1 * np.exp(-p.alpha2 * np.maximum(p.alpha3 * n, 0.0) ** v)


def server_values(p: FlMigrationParams, coef: dict[str, np.ndarray], assoc: np.ndarray,
                  gamma: np.ndarray, S: int) -> np.ndarray:
    """F_s(gamma) per server (utility share minus normalized cost share); sums to e^t."""
    U = assoc.shape[0]
    rho = _rho(coef["n_new"] + gamma * coef["n_prev"], coef["v"], p)
    util = np.bincount(assoc, rho, S) * p.beta1 / U
    C = coef["a0"] + np.bincount(assoc, coef["c"] * gamma, S)
    return util - p.beta2 / S * _norm(C, p.f0)


def _gamma_at_price(p: FlMigrationParams, U: int, coef: dict[str, np.ndarray],
                    price: np.ndarray) -> np.ndarray:
    """argmax_gamma beta1/U rho(n_new + gamma n_prev) - price * gamma on [0, 1], elementwise.

    rho'(n) = a1 a2 a3 v x^{(v-1)/v} exp(-a2 x) with x = (a3 n)^v. Setting
    beta1/U rho'(n) n_prev = price and k = (1-v)/v gives ln x + (a2/k) x = -L/k with
    L = ln(price U / (beta1 n_prev a1 a2 a3 v)), so x = (k/a2) omega(ln(a2/k) - L/k).
    """
    # the coefficients broadcast against price in the arithmetic itself (k on the (B, m)
    # coefficients, not on every price's copy), and nan -> 0 then the clip (which sends +-inf
    # to 1 and 0) replace nan_to_num: the same numbers, bit for bit
    # (tests/scenarios/test_fl_migration_allocation.py), at half the time per call
    if "k" not in coef:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _priced(p, U, _price_free(p, coef), price)
    return _priced(p, U, coef, price)  # _inner's call, inside its errstate


def _priced(p: FlMigrationParams, U: int, coef: dict[str, np.ndarray], price: np.ndarray
            ) -> np.ndarray:
    """:func:`_gamma_at_price` with the price-free terms given (:func:`_price_free`); the
    caller sets the errstate (divisions by 0 and logs of 0 are expected and handled)."""
    n_new, n_prev = coef["n_new"], coef["n_prev"]
    L = np.log(price * U / coef["den"])
    x = coef["k_a2"] * np.real(wrightomega(coef["log_a2_k"] - L / coef["k"]))
    n = x ** coef["inv_v"] / p.alpha3
    g = (n - n_new) / n_prev
    g = np.where(price <= 0, 1.0, g)
    g = np.where(coef["no_prev"], 0.0, g)
    return _clip(np.where(np.isnan(g), 0.0, g), 0.0, 1.0)


_clip: np.ufunc = np._core.umath.clip  # type: ignore[attr-defined]  # np.clip's ufunc, no wrappers


def _price_free(p: FlMigrationParams, coef: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The terms of :func:`_gamma_at_price` that do not depend on the price, computed as it
    computes them (on the coefficients' shape): k = (1 - v)/v, the denominator
    beta1 n_prev a1 a2 a3 v of L, ln(a2/k), k/a2 and 1/v. A caller that prices the same
    coefficients many times passes them in ``coef`` (the same numbers, bit for bit)."""
    v, n_prev = coef["v"], coef["n_prev"]
    k = (1.0 - v) / v
    with np.errstate(divide="ignore", invalid="ignore"):
        return {**coef, "k": k,
                "den": p.beta1 * n_prev * p.alpha1 * p.alpha2 * p.alpha3 * v,
                "log_a2_k": np.log(p.alpha2 / k), "k_a2": k / p.alpha2, "inv_v": 1.0 / v,
                "no_prev": n_prev <= 0}


class ServerProblems(NamedTuple):
    """B independent single-server instances of (26), users padded to m per server.

    Per slot j of problem i: samples ``n_new``/``n_prev``, EMD factor ``v``, cost per unit of
    gamma ``c`` (eq. 21) and compute cost per unit of gamma ``b`` (C2); ``mask`` marks real
    users. ``a0``/``cap``: cost at gamma = 0 and q_s minus the compute cost at gamma = 0.
    """

    n_new: np.ndarray  # (B, m)
    n_prev: np.ndarray
    v: np.ndarray
    c: np.ndarray
    b: np.ndarray
    mask: np.ndarray  # (B, m) bool
    a0: np.ndarray  # (B,)
    cap: np.ndarray  # (B,)


def pack(coef: dict[str, np.ndarray], assoc: np.ndarray, q: np.ndarray
         ) -> tuple[ServerProblems, np.ndarray, np.ndarray]:
    """The S server problems of one association; also (server, slot) of every user."""
    S = q.shape[0]
    U = assoc.shape[0]
    order = np.argsort(assoc, kind="stable")
    counts = np.bincount(assoc, minlength=S)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty(U, dtype=np.int64)
    slot[order] = np.arange(U) - starts[assoc[order]]
    m = max(1, int(counts.max()))
    arrays = []
    for name in ("n_new", "n_prev", "v", "c", "b"):
        a = np.zeros((S, m))
        a[assoc, slot] = coef[name]
        arrays.append(a)
    mask = np.zeros((S, m), dtype=bool)
    mask[assoc, slot] = True
    arrays[2][~mask] = 0.5  # any EMD factor in (0, 1): padding never counts
    n_new, n_prev, v, c, b = arrays
    return (ServerProblems(n_new, n_prev, v, c, b, mask, coef["a0"].astype(float),
                           q - coef["b0"]), assoc, slot)


def _inner(p: FlMigrationParams, U: int, pr: ServerProblems, pi: np.ndarray,
           free: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Inner problem for prices ``pi`` (K, B): gamma (K, B, m).

    The same numbers as :func:`_inner_reference`, bit for bit, with fewer numpy calls: the
    price-free terms once per call (:func:`_price_free`), the search's masks and tolerance
    once per step or search, one errstate for the whole call (it only silences warnings of
    divisions by 0 and logs of 0, which the solver handles), reductions and the clip without
    numpy's Python wrappers. ``free``: :func:`_price_free` of ``pr``'s coefficients, if the
    caller has them."""
    with np.errstate(divide="ignore", invalid="ignore"):  # for _gamma_at_price, see there
        return _inner_quiet(p, U, pr, pi, free)


def _inner_quiet(p: FlMigrationParams, U: int, pr: ServerProblems, pi: np.ndarray,
                 free: dict[str, np.ndarray] | None) -> np.ndarray:
    coef = free if free is not None else _price_free(
        p, {"v": pr.v, "n_new": pr.n_new, "n_prev": pr.n_prev})
    price = pi[..., None] * pr.c
    g = _gamma_at_price(p, U, coef, price)
    cap = pr.cap
    load = _add(pr.b * g, axis=-1)
    over = load > cap + 1e-12 * np.maximum(1.0, np.abs(cap))
    if over.any():
        # q_s binds: root of the load in its multiplier mu (the load is non-increasing in mu); at
        # mu_hi every gamma is 0 (marginal utility at gamma = 0 over b)
        k_i, b_i = np.nonzero(over)
        sub = {k: v[b_i] for k, v in coef.items()}
        n0 = pr.n_new[b_i]
        d0 = p.beta1 / U * _drho(n0, sub["v"], p) * sub["n_prev"]
        hi = np.nanmax(np.where(pr.b[b_i] > 0, d0 / pr.b[b_i], 0.0), axis=-1) * 1.01 + 1e-300
        base = price[k_i, b_i]
        bb = pr.b[b_i]
        capi = np.maximum(cap[b_i], 0.0)

        # the Illinois search on the load's excess (bracket [lo, hi], excess(lo) > 0 >=
        # excess(hi), hi kept), as _inner_reference's, with its arithmetic compiled
        # (illinois.py: the same numbers; numba is imported when a capacity first binds)
        from twinbed.scenarios.fl_migration.illinois import Search

        g[k_i, b_i] = Search(U, p.alpha3, sub, base, bb, capi).run(hi)
    g = np.where((cap <= 0)[..., None], 0.0, g)
    return np.where(pr.mask, g, 0.0)


_add = np.add.reduce  # np.sum without its Python wrapper (the same reduction)


def _inner_reference(p: FlMigrationParams, U: int, pr: ServerProblems, pi: np.ndarray
                     ) -> np.ndarray:
    """:func:`_inner` as written before (the price-free terms recomputed per call, the
    Illinois step's masks recomputed): the reference its tests compare with, bit for bit."""
    coef = {"v": pr.v, "n_new": pr.n_new, "n_prev": pr.n_prev}
    price = pi[..., None] * pr.c
    g = _gamma_at_price(p, U, coef, price)
    cap = pr.cap
    load = np.sum(pr.b * g, axis=-1)
    over = load > cap + 1e-12 * np.maximum(1.0, np.abs(cap))
    if np.any(over):
        # q_s binds: root of the load in its multiplier mu (the load is non-increasing in mu); at
        # mu_hi every gamma is 0 (marginal utility at gamma = 0 over b)
        k_i, b_i = np.nonzero(over)
        sub = {k: v[b_i] for k, v in coef.items()}
        n0 = pr.n_new[b_i]
        d0 = p.beta1 / U * _drho(n0, sub["v"], p) * sub["n_prev"]
        with np.errstate(divide="ignore", invalid="ignore"):
            hi = np.nanmax(np.where(pr.b[b_i] > 0, d0 / pr.b[b_i], 0.0), axis=-1) * 1.01 + 1e-300
        base = price[k_i, b_i]
        bb = pr.b[b_i]
        capi = np.maximum(cap[b_i], 0.0)

        def excess(mu: np.ndarray) -> np.ndarray:
            return np.sum(bb * _gamma_at_price(p, U, sub, base + mu[:, None] * bb), -1) - capi

        # Illinois (modified regula falsi) on the load's excess, bracket [lo, hi] with
        # excess(lo) > 0 >= excess(hi); hi (feasible) is what we keep
        lo = np.zeros_like(hi)
        f_lo = excess(lo)
        f_hi = excess(hi)
        side = np.zeros(hi.shape, dtype=np.int8)
        for _ in range(100):
            width = hi - lo
            done = (width <= 1e-14 * hi) | (f_hi > -1e-10 * np.maximum(capi, 1.0))
            if np.all(done):
                break
            # a lane whose two ends hold equal values divides 0 by 0: NaN, which the next
            # line replaces by the bisection point (so no warning: the case is handled)
            with np.errstate(divide="ignore", invalid="ignore"):
                mid = hi - f_hi * width / (f_hi - f_lo)
            # the reference also asks np.isfinite(mid): implied, as lo < mid < hi is false for
            # any lo, hi when mid is NaN, +inf (inf < hi never holds) or -inf (-inf > lo never)
            mid = np.where((mid > lo) & (mid < hi), mid, 0.5 * (lo + hi))
            f_mid = excess(mid)
            fits = f_mid <= 0
            f_lo = np.where(fits & (side == 1), 0.5 * f_lo, f_lo)  # Illinois step
            f_hi = np.where(~fits & (side == -1), 0.5 * f_hi, f_hi)
            hi = np.where(fits & ~done, mid, hi)
            f_hi = np.where(fits & ~done, f_mid, f_hi)
            lo = np.where(~fits & ~done, mid, lo)
            f_lo = np.where(~fits & ~done, f_mid, f_lo)
            side = np.where(fits, 1, -1).astype(np.int8)
        g[k_i, b_i] = _gamma_at_price(p, U, sub, base + hi[:, None] * bb)
    g = np.where((cap <= 0)[..., None], 0.0, g)
    return np.where(pr.mask, g, 0.0)


def _drho(n: np.ndarray, v: np.ndarray, p: FlMigrationParams) -> np.ndarray:
    """d rho / d n."""
    x = np.maximum(p.alpha3 * n, 1e-300)
    return p.alpha1 * p.alpha2 * p.alpha3 * v * x ** (v - 1) * np.exp(-p.alpha2 * x**v)


def problem_values(p: FlMigrationParams, U: int, S: int, pr: ServerProblems, g: np.ndarray
                   ) -> np.ndarray:
    """F_s(gamma) of each problem: beta1/U sum rho - beta2/S Norm(C_s); shape g.shape[:-1]."""
    rho = np.where(pr.mask, _rho(pr.n_new + g * pr.n_prev, pr.v, p), 0.0)
    C = pr.a0 + _add(pr.c * g, axis=-1)
    return p.beta1 / U * _add(rho, axis=-1) - p.beta2 / S * _norm(C, p.f0)


def solve_problems(p: FlMigrationParams, U: int, S: int, pr: ServerProblems,
                   reference: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each server problem exactly (grid of tangent points + majorize-minimize polish):
    gamma (B, m) and F_s (B,). ``reference``: with :func:`_inner_reference` (for tests)."""
    free = _price_free(p, {"v": pr.v, "n_new": pr.n_new, "n_prev": pr.n_prev})

    def inner(p: FlMigrationParams, U: int, pr: ServerProblems, pi: np.ndarray) -> np.ndarray:
        return _inner_reference(p, U, pr, pi) if reference else _inner(p, U, pr, pi, free)

    B = pr.a0.shape[0]
    c_lo = pr.a0
    c_hi = pr.a0 + np.sum(pr.c, axis=-1)
    z = c_lo[None, :] + np.linspace(0.0, 1.0, GRID)[:, None] * (c_hi - c_lo)[None, :]
    gam = inner(p, U, pr, p.beta2 / S * _dnorm(z, p.f0))  # (GRID, B, m)
    vals = problem_values(p, U, S, pr, gam)  # (GRID, B)
    best = np.argmax(vals, axis=0)
    g = gam[best, np.arange(B)]
    f = vals[best, np.arange(B)]
    for _ in range(POLISH):
        zc = pr.a0 + _add(pr.c * g, axis=-1)
        g_new = inner(p, U, pr, p.beta2 / S * _dnorm(zc, p.f0)[None, :])[0]
        f_new = problem_values(p, U, S, pr, g_new)
        take = f_new > f
        g = np.where(take[:, None], g_new, g)
        gain = float(np.max(np.where(take, f_new - f, 0.0), initial=0.0))
        f = np.where(take, f_new, f)
        if gain <= POLISH_TOL:
            break
    return g, f


def allocate_fast(p: FlMigrationParams, coef: dict[str, np.ndarray], assoc: np.ndarray,
                  q: np.ndarray, reference: bool = False) -> Allocation:
    """Problem (26), exact to tolerance, with the closed-form inner solver (``reference``:
    its search as written before, the same numbers, for tests and the bench)."""
    assoc = np.asarray(assoc, dtype=np.int64)
    pr, srv, slot = pack(coef, assoc, q)
    g, f = solve_problems(p, assoc.shape[0], q.shape[0], pr, reference)
    return Allocation(g[srv, slot], float(np.sum(f)), f)


class CvxpyAllocator:
    """The inner problem of (26) for one slot's association as a DPP cvxpy problem, built once
    per association and re-solved for every price vector of the outer search.

    minimize  sum_u beta1/U a1 exp(-a2 (a3 (n_new_u + n_prev_u gamma_u))^{v_u}) + price @ gamma
    s.t.      B gamma <= cap,  0 <= gamma <= 1
    (B[s, u] = b_u if u is on s, sparse). Only ``price`` is a parameter: a parameter matrix B
    would make cvxpy's DPP tensor (S U) x (S U) (it ran out of memory at U = 2000). The
    exponent v_u must be a constant: one power atom per distinct EMD value.
    """

    def __init__(self, p: FlMigrationParams, coef: dict[str, np.ndarray], assoc: np.ndarray,
                 q: np.ndarray) -> None:
        import cvxpy as cp

        U = assoc.shape[0]
        S = q.shape[0]
        v = coef["v"]
        self.cap = q - coef["b0"]
        self.assoc = assoc
        self.coef = coef
        self.gamma = cp.Variable(U)
        self.price = cp.Parameter(U, nonneg=True)
        terms = []
        for val in np.unique(v):
            idx = np.flatnonzero(v == val)
            n = p.alpha3 * (coef["n_new"][idx] + cp.multiply(coef["n_prev"][idx], self.gamma[idx]))
            terms.append(cp.sum(cp.exp(-p.alpha2 * cp.power(n, float(val), approx=False))))
        obj = p.beta1 / U * p.alpha1 * cp.sum(cp.hstack(terms)) + self.price @ self.gamma
        B = sp.csr_matrix((coef["b"], (assoc, np.arange(U))), shape=(S, U))
        self.problem = cp.Problem(cp.Minimize(obj), [B @ self.gamma <= np.maximum(self.cap, 0.0),
                                                    self.gamma >= 0, self.gamma <= 1])
        if not self.problem.is_dpp():
            raise RuntimeError("the allocation problem must be DPP")

    def inner(self, pi: np.ndarray) -> np.ndarray:
        """gamma (K, U) for server prices pi (K, S)."""
        out = np.empty((pi.shape[0], self.assoc.shape[0]))
        for k in range(pi.shape[0]):
            self.price.value = pi[k][self.assoc] * self.coef["c"]
            with warnings.catch_warnings():  # "optimal_inaccurate" at 1e-10 is still ~1e-12
                warnings.simplefilter("ignore", UserWarning)
                self.problem.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10,
                                   tol_feas=1e-10)
            if self.gamma.value is None or self.problem.status not in ("optimal",
                                                                        "optimal_inaccurate"):
                raise RuntimeError(f"cvxpy allocation failed: {self.problem.status}")
            out[k] = np.clip(self.gamma.value, 0.0, 1.0)
        return np.where((self.cap <= 0)[self.assoc], 0.0, out)


def _outer_full(p: FlMigrationParams, coef: dict[str, np.ndarray], assoc: np.ndarray,
                q: np.ndarray, inner: Any) -> Allocation:
    """The outer search of :func:`solve_problems` over a whole association, with ``inner``
    mapping server prices (K, S) to gamma (K, U)."""
    S = q.shape[0]
    U = assoc.shape[0]
    c_lo = coef["a0"]
    c_hi = coef["a0"] + np.bincount(assoc, coef["c"], S)
    z = c_lo[None, :] + np.linspace(0.0, 1.0, GRID)[:, None] * (c_hi - c_lo)[None, :]
    gam = inner(p.beta2 / S * _dnorm(z, p.f0))
    vals = np.stack([server_values(p, coef, assoc, gam[k], S) for k in range(GRID)])
    best = np.argmax(vals, axis=0)
    g = gam[best[assoc], np.arange(U)]
    f = vals[best, np.arange(S)]
    for _ in range(POLISH):
        zc = coef["a0"] + np.bincount(assoc, coef["c"] * g, S)
        g_new = inner(p.beta2 / S * _dnorm(zc, p.f0)[None, :])[0]
        f_new = server_values(p, coef, assoc, g_new, S)
        take = f_new > f
        g = np.where(take[assoc], g_new, g)
        gain = float(np.max(np.where(take, f_new - f, 0.0), initial=0.0))
        f = np.where(take, f_new, f)
        if gain <= POLISH_TOL:
            break
    return Allocation(g, float(np.sum(f)), f)


def allocate_cvxpy(p: FlMigrationParams, coef: dict[str, np.ndarray], assoc: np.ndarray,
                   q: np.ndarray) -> Allocation:
    """Problem (26) with cvxpy solving the inner problems (the reference for allocate_fast)."""
    assoc = np.asarray(assoc, dtype=np.int64)
    solver = CvxpyAllocator(p, coef, assoc, q)
    return _outer_full(p, coef, assoc, q, lambda pi: solver.inner(np.atleast_2d(pi)))


def allocate(p: FlMigrationParams, coef: dict[str, np.ndarray], assoc: np.ndarray,
             q: np.ndarray, method: str = "fast") -> Allocation:
    if method == "fast":
        return allocate_fast(p, coef, assoc, q)
    if method == "cvxpy":
        return allocate_cvxpy(p, coef, assoc, q)
    raise ValueError(f"expected method 'fast' or 'cvxpy', got {method!r}")
