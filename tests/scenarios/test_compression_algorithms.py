"""The follower's dual form (follower.py), the one-resource leaders, Algorithm 1 and every
baseline (algorithms.py), and the centralized optimum's certificate."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from twinbed.scenarios.compression import CompressionParams, model
from twinbed.scenarios.compression import follower as F
from twinbed.scenarios.compression.algorithms import (
    ALGORITHMS,
    Step,
    centralized,
    fixed_b,
    fixed_f,
    iterate,
    stackelberg,
)
from twinbed.scenarios.compression.leader import (
    leader_coefficients,
    solve_bandwidth_only,
    solve_dt_only,
    solve_joint_cvxpy,
    solve_leader_fast,
)
from twinbed.scenarios.compression.spec import SCENARIO
from twinbed.scenarios.compression.world import channel_for_round


def _instance(K: int, seed: int, het: float = 0.5, **kw):
    """Seeded non-uniform instance around the paper's defaults (cf. Fig. 6)."""
    rng = np.random.default_rng([K, seed, 7])
    p = CompressionParams(K=K, **kw)
    s0 = model.sensor_arrays(p)
    w = lambda: rng.uniform(1 - het, 1 + het, K)  # noqa: E731
    s = model.SensorArrays(s0.D_bits * w(), s0.p_w * w(), s0.f_s_hz * w(),
                           s0.c_cycles_per_bit * w(), s0.distance_m)
    return p, s, model.draw_channel_gain(p, rng)


def _T(p, alloc, H, s) -> np.ndarray:
    beta = alloc.beta
    if beta is None:
        r = model.rate_bps(alloc.b_hz, H, s.p_w, p.N0_w_per_hz)
        beta = model.best_response(r, s.f_s_hz, p.epsilon, p.beta_max)
    return model.timings(p, beta, alloc.b_hz, alloc.f_hz, H, s).T_total


# -- follower: Lemma 1 and the dual ascent ------------------------------------------------------
def _followers(n: int, seed: int):
    rng = np.random.default_rng(seed)
    D = rng.uniform(1e3, 1e4, n)
    fs = rng.uniform(5e4, 5e5, n)
    r = np.exp(rng.uniform(math.log(1e-4), math.log(2e6), n))  # beta_max- to beta=1-bound
    return D, fs, r


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beta_max", [1.2, 3.0, 6.0])
def test_dual_form_agrees_with_closed_form(seed: int, beta_max: float) -> None:
    """Lemma 1 + ascent (24) reach the closed-form best response (Lambert W), in every regime
    (C1.f tight, interior, beta_max cap), certified by a zero duality gap."""
    D, fs, r = _followers(400, seed)
    st, steps = F.dual_best_response(D, fs, r, 3.5, beta_max)
    want = model.best_response(r, fs, 3.5, beta_max)
    np.testing.assert_allclose(st.beta, want, rtol=1e-9)
    assert np.all(F.duality_gap(st.lam, D, fs, r, 3.5, beta_max) <= 1e-12)
    assert steps <= 3
    # all three regimes are present (beta_max = 6 is never reached at these rates)
    assert np.any(want == 1.0) and np.any((want > 1) & (want < beta_max))
    assert beta_max > 3 or np.any(want == 1.0) and np.any(want == beta_max) and np.any((want > 1) & (want < beta_max))


def test_lemma1_minimizes_the_lagrangian() -> None:
    """(19)-(20) are the minimizer of L_k(lambda, .) over beta <= beta_max, mu > 0 (numerical)."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        D, fs, r = rng.uniform(1e3, 1e4), rng.uniform(5e4, 5e5), rng.uniform(10, 1e4)
        lam = rng.uniform(0.01, 30, 2)
        beta_max = 3.0

        def L(x: np.ndarray) -> float:
            b, m = x
            return (D / fs * math.exp(3.5 * b) + D / r * m + lam[0] * (1 - b)
                    + lam[1] * (1 / m - b))

        b_star, m_star = F.dual_primal(lam[None, :], np.array([D]), np.array([fs]),
                                       np.array([r]), 3.5, beta_max)
        res = minimize(L, x0=[1.0, 1.0], bounds=[(-20, beta_max), (1e-9, 1e6)], method="L-BFGS-B",
                       options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
        assert L(np.array([b_star[0], m_star[0]])) <= res.fun + 1e-9 * abs(res.fun)
        val = F.dual_function(lam[None, :], np.array([D]), np.array([fs]), np.array([r]), 3.5,
                              beta_max)[0]
        assert val == pytest.approx(L(np.array([b_star[0], m_star[0]])), rel=1e-12)


def test_dual_ascent_is_monotone_and_weakly_dual() -> None:
    """Each step (24) never decreases D(lambda), and D(lambda) <= the primal optimum."""
    D, fs, r = _followers(200, 9)
    lam = F.dual_init(D, r) * np.random.default_rng(1).uniform(0.1, 10, (200, 1))
    beta_cf = model.best_response(r, fs, 3.5, 3.0)
    opt = D / fs * np.exp(3.5 * beta_cf) + D / (r * beta_cf)
    prev = F.dual_function(lam, D, fs, r, 3.5, 3.0)
    for _ in range(3):
        lam = F.dual_step(lam, D, fs, r, 3.5, 3.0)
        cur = F.dual_function(lam, D, fs, r, 3.5, 3.0)
        assert np.all(cur >= prev - 1e-13 * np.abs(prev))
        assert np.all(cur <= opt * (1 + 1e-12))
        prev = cur


# -- one-resource leaders ---------------------------------------------------------------------
@pytest.mark.parametrize(("K", "seed"), [(2, 0), (4, 1), (30, 2), (300, 3)])
def test_bandwidth_only_leader_equalizes_and_fills(K: int, seed: int) -> None:
    p, s, H = _instance(K, seed)
    beta = np.random.default_rng(seed).uniform(1, 2, K)
    f = np.full(K, p.C_dt_hz / K)
    sol = solve_bandwidth_only(p, beta, H, f, s)
    T = model.timings(p, beta, sol.b_hz, sol.f_hz, H, s).T_total
    assert np.array_equal(sol.f_hz, f)
    assert sol.b_hz.sum() == pytest.approx(p.B_hz, rel=1e-9)
    assert np.ptp(T) <= 1e-10 * T.max()  # any other split would slow some sensor down
    if K == 2:  # brute force over b_1
        res = minimize_scalar(lambda x: np.max(model.timings(
            p, beta, np.array([x, p.B_hz - x]), f, H, s).T_total), bounds=(1e-9, p.B_hz - 1e-9),
            method="bounded", options={"xatol": 1e-9})
        assert sol.T_max_s <= res.fun * (1 + 1e-12)


@pytest.mark.parametrize(("K", "seed"), [(2, 0), (4, 1), (30, 2), (300, 3)])
def test_dt_only_leader_equalizes_and_fills(K: int, seed: int) -> None:
    p, s, H = _instance(K, seed)
    beta = np.random.default_rng(seed).uniform(1, 2, K)
    b = np.full(K, p.B_hz / K)
    sol = solve_dt_only(p, beta, H, b, s)
    T = model.timings(p, beta, sol.b_hz, sol.f_hz, H, s).T_total
    assert np.array_equal(sol.b_hz, b)
    assert sol.f_hz.sum() == pytest.approx(p.C_dt_hz, rel=1e-9)
    assert np.ptp(T) <= 1e-10 * T.max()


# -- Algorithm 1 and the baselines --------------------------------------------------------------
@pytest.mark.parametrize("name", list(ALGORITHMS))
@pytest.mark.parametrize("K", [1, 4, 25])
def test_every_scheme_respects_the_budgets_and_bounds(name: str, K: int) -> None:
    p, s, H = _instance(K, K)
    a = ALGORITHMS[name](p, H, s)
    assert a.b_hz.shape == (K,) and a.f_hz.shape == (K,)
    assert np.all(a.b_hz > 0) and np.all(a.f_hz > 0)
    assert a.b_hz.sum() <= p.B_hz * (1 + 1e-12) and a.f_hz.sum() <= p.C_dt_hz * (1 + 1e-12)
    if a.beta is not None:
        assert np.all((a.beta >= 1) & (a.beta <= p.beta_max))
    assert 1 <= a.iterations
    if name == "fixed-f" or name == "fixed-bf":
        assert np.all(a.f_hz == p.C_dt_hz / K)
    if name == "fixed-b" or name == "fixed-bf":
        assert np.all(a.b_hz == p.B_hz / K)
    if name == "no-compression":
        assert np.all(a.beta == 1.0)


@pytest.mark.parametrize(("K", "seed"), [(2, 0), (4, 1), (4, 2), (10, 3), (50, 4)])
def test_stackelberg_reaches_an_equilibrium(K: int, seed: int) -> None:
    """At Algorithm 1's output, every beta_k is the best response to b_k (13) and (b, f) is the
    leader's optimum for those beta: neither side would change."""
    p, s, H = _instance(K, seed)
    trace: list[Step] = []
    a = stackelberg(p, H, s, trace=trace)
    assert a.iterations < p.L_max  # stopped by xi, not by the cap
    assert abs(trace[-1].T_max_s - trace[-2].T_max_s) <= p.xi
    r = model.rate_bps(a.b_hz, H, s.p_w, p.N0_w_per_hz)
    np.testing.assert_allclose(a.beta, model.best_response(r, s.f_s_hz, p.epsilon, p.beta_max),
                               rtol=1e-7)
    best = solve_leader_fast(p, a.beta, H, s)
    assert np.max(_T(p, a, H, s)) == pytest.approx(best.T_max_s, rel=1e-7)


def test_stackelberg_trace_is_monotone() -> None:
    """U^(l) of Algorithm 1 never increases (leader and followers both only lower T_k)."""
    p, s, H = _instance(20, 5, beta_max=3.0)
    trace: list[Step] = []
    stackelberg(p, H, s, trace=trace)
    Ts = [st.T_max_s for st in trace]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(Ts, Ts[1:]))


def test_l_max_caps_the_iterations() -> None:
    p, s, H = _instance(10, 1, L_max=1)
    assert stackelberg(p, H, s).iterations == 1
    p2 = p.model_copy(update={"xi": 1e-300, "L_max": 7})
    assert stackelberg(p2, H, s).iterations == 7


@pytest.mark.parametrize("seed", range(6))
def test_scheme_ordering_and_gap_to_centralized(seed: int) -> None:
    """centralized <= proposed <= every baseline; the proposed scheme's gap to the centralized
    optimum is below 1e-9 here (the paper reports <= 0.5 %)."""
    p = CompressionParams(beta_max=(1.5, 2.0, 3.0)[seed % 3])
    H = channel_for_round(p, seed, 0)
    s = model.sensor_arrays(p)
    T = {name: float(np.max(_T(p, fn(p, H, s), H, s))) for name, fn in ALGORITHMS.items()}
    assert T["stackelberg"] <= T["centralized"] * (1 + 1e-9)
    assert T["centralized"] <= T["stackelberg"] * (1 + 1e-12)
    for name in ("fixed-f", "fixed-b", "fixed-bf", "no-compression"):
        assert T["stackelberg"] <= T[name] * (1 + 1e-12), name
    assert T["fixed-f"] <= T["fixed-bf"] * (1 + 1e-12)
    assert T["fixed-b"] <= T["fixed-bf"] * (1 + 1e-12)


@pytest.mark.parametrize(("K", "seed"), [(1, 0), (2, 1), (3, 2), (4, 3), (6, 4), (8, 5)])
def test_centralized_matches_joint_cone_program(K: int, seed: int) -> None:
    """The centralized fixed point vs. an independent cvxpy program over (beta, b, f) jointly:
    never worse (the cone solution is feasible), and equal to the solver's accuracy (CLARABEL
    stops 'optimal_inaccurate' at ~1e-4 in this low-SNR regime, see leader.py)."""
    p, s, H = _instance(K, seed, beta_max=(1.5, 3.0)[seed % 2])
    a = centralized(p, H, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ref = solve_joint_cvxpy(p, H, s)
    T = float(np.max(_T(p, a, H, s)))
    assert T <= ref.T_max_s * (1 + 1e-10)
    assert T == pytest.approx(ref.T_max_s, rel=5e-4)


@pytest.mark.parametrize("seed", range(2))
def test_centralized_beats_a_search_over_beta(seed: int) -> None:
    """K = 2: global search over beta (coarse grid, then Nelder-Mead from the best point) with
    the exact leader for each beta; the fixed point is at least as good."""
    p, s, H = _instance(2, seed, beta_max=3.0)

    def U(beta: np.ndarray) -> float:
        beta = np.clip(beta, 1.0, p.beta_max)
        return solve_leader_fast(p, beta, H, s).T_max_s

    grid = np.linspace(1.0, p.beta_max, 9)
    best = min(((b1, b2) for b1 in grid for b2 in grid), key=lambda b: U(np.array(b)))
    res = minimize(U, np.array(best), method="Nelder-Mead",
                   options={"xatol": 1e-9, "fatol": 1e-13, "maxfev": 200})
    T = float(np.max(_T(p, centralized(p, H, s), H, s)))
    assert T <= min(res.fun, U(np.array(best))) * (1 + 1e-12)
    assert T == pytest.approx(res.fun, rel=1e-6)


def test_baselines_1_and_2_restrict_one_resource() -> None:
    """fixed-f optimizes b only; fixed-b optimizes f only (Section V-A)."""
    p, s, H = _instance(6, 2)
    a = fixed_f(p, H, s)
    b = fixed_b(p, H, s)
    assert np.all(a.f_hz == p.C_dt_hz / 6) and np.ptp(a.b_hz) > 0
    assert np.all(b.b_hz == p.B_hz / 6) and np.ptp(b.f_hz) > 0


def test_iterate_with_the_full_leader_is_stackelberg() -> None:
    """Cold leader solves and the warm-started ones of ``stackelberg`` give the same result."""
    p, s, H = _instance(5, 8)
    a = iterate(p, H, s, solve_leader_fast)
    b = stackelberg(p, H, s)
    assert a.iterations == b.iterations
    np.testing.assert_allclose(a.b_hz, b.b_hz, rtol=1e-9)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_simulate_runs_every_scheme_with_its_ratios(name: str) -> None:
    """SCENARIO.simulate() records the scheme's own beta (fixed or negotiated) and its iterations."""
    p = CompressionParams(K=3)
    rec = SCENARIO.simulate(p, name, 2, 1)[0]
    a = ALGORITHMS[name](p, channel_for_round(p, 2, 0))
    if a.beta is not None:
        assert rec["beta"] == np.asarray(a.beta).tolist()
    assert rec["iterations"] == a.iterations
    assert rec["T_max_s"] == max(rec["T_total_s"])


def test_leader_coefficients_reject_nonpositive() -> None:
    p = CompressionParams(K=2)
    with pytest.raises(ValueError, match="positive"):
        leader_coefficients(p, np.array([1.0, 0.0]), np.ones(2))
