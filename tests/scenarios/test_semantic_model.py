"""The semantic scenario's equations (model.py), parameters, mobility and the per-slot optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.optimum import allocate_edge, solve_slot
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import SemanticWorld as World
from twinbed.seeding import rng

P = SemanticParams()


def test_table_ii_defaults_in_si_units() -> None:
    """Table II / Section V as printed, converted to SI."""
    assert (P.K, P.T_s, P.N, P.eta) == (6, 30.0, 25, 0.25)
    assert P.tau_s == pytest.approx(1.2) and P.deadline_s == pytest.approx(0.9)
    assert (P.D_min_bits, P.D_max_bits, P.C_cycles_per_bit, P.B_hz) == (0.6e6, 0.8e6, 300.0, 0.2e6)
    assert P.beta0 == pytest.approx(1e-3) and P.sigma2_w == pytest.approx(1e-11)
    assert (P.p_min_w, P.p_max_w, P.E_max_j) == (0.01, 0.1, 0.5)
    assert (P.f_u_max_hz, P.f_e_max_hz, P.k_loc, P.x, P.y, P.W) == (1e9, 10e9, 1e-27, 1.2, 1.5, 10.0)
    # eq. (3) with the default sensing rate senses exactly D_max in the sensing stage
    assert P.eta * P.tau_s * P.v_s == pytest.approx(P.D_max_bits)


@pytest.mark.parametrize("bad", [{"K": 0}, {"eta": 1.0}, {"D_min_bits": 9e5}, {"p_min_w": 1.0},
                                 {"phi_min": 0.0}, {"Kay": 3}, {"alpha": float("nan")}])
def test_bad_params_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        SemanticParams(**bad)


def test_equations_by_hand() -> None:
    """One UD at 50 m, |g|^2 = 1, D = 0.7 Mbit, phi = 0.5, f = 1 GHz, p = 0.1 W, f_e = 5 GHz."""
    p = SemanticParams(K=2)
    D, phi, f, pw, fe = 0.7e6, 0.5, 1e9, 0.1, 5e9
    lam = D / phi**1.2  # (7)
    gain = 1e-3 * 50.0**-2.0  # (10)
    u = 0.1e6 * np.log2(1 + pw * gain / 1e-11)  # (11), B/K = 0.1 MHz
    t_en, e_en = 300 * lam / f, 300 * 1e-27 * lam * f**2  # (8), (9)
    t_up = D * phi / u  # (12)
    t_de = 300 * D * phi / (phi**1.5 * fe)  # (14)
    t_s = D / p.v_s  # (5)
    e = p.p_s_j_per_bit * D + e_en + t_up * pw  # (6), (13), (18)
    out = model.slot(p, np.full(2, D), np.full(2, 50.0), np.ones(2), np.full(2, phi),
                     np.full(2, f), np.full(2, pw), np.full(2, fe))
    assert out.t_en[0] == pytest.approx(t_en) and out.e_en[0] == pytest.approx(e_en)
    assert out.rate_bps[0] == pytest.approx(u) and out.t_up[0] == pytest.approx(t_up)
    assert out.t_de[0] == pytest.approx(t_de) and out.t_s[0] == pytest.approx(t_s)
    assert out.t_dt[0] == pytest.approx(t_en + t_up + t_de)  # (15)
    assert out.t[0] == pytest.approx(t_s + t_en + t_up + t_de)  # (17)
    assert out.e[0] == pytest.approx(e)
    assert out.T == pytest.approx(2 * (t_s + t_en + t_up + t_de))
    # (22): violations only, per UD; P_f in GHz of excess
    assert out.P_t == pytest.approx(10 * 2 * max(0.0, t_en + t_up + t_de - 0.9))
    assert out.P_e == pytest.approx(10 * 2 * max(0.0, e - 0.5))
    assert out.P_f == 0.0
    assert out.reward == pytest.approx(-(out.T + out.P_t + out.P_e))


def test_edge_overbooking_penalty_and_no_bonus_for_slack() -> None:
    p = SemanticParams(K=2)
    args = (np.full(2, 0.6e6), np.full(2, 20.0), np.ones(2), np.ones(2), np.full(2, 1e9),
            np.full(2, 0.1))
    over = model.slot(p, *args, np.full(2, 6e9))
    assert over.P_f == pytest.approx(10 * 2.0)  # 2 GHz over
    under = model.slot(p, *args, np.full(2, 1e9))
    assert under.P_f == 0.0 and under.P_t >= 0 and under.P_e >= 0


def test_batch_axes_broadcast() -> None:
    """model.slot is vectorized: a (B, K) batch equals B separate slots."""
    g = np.random.default_rng(0)
    B, K = 5, 3
    p = SemanticParams(K=K)
    arr = [g.uniform(0.6e6, 0.8e6, (B, K)), g.uniform(30, 70, (B, K)), g.exponential(1, (B, K)),
           g.uniform(0.2, 1, (B, K)), g.uniform(1e8, 1e9, (B, K)), g.uniform(0.01, 0.1, (B, K)),
           g.uniform(1e9, 3e9, (B, K))]
    batch = model.slot(p, *arr)
    for b in range(B):
        one = model.slot(p, *(a[b] for a in arr))
        assert one.reward == pytest.approx(batch.reward[b])


def test_latency_monotone_in_each_decision() -> None:
    """More UD CPU, power or edge CPU never increases t_dt; eq. (7): more phi, less extraction."""
    p = SemanticParams(K=1)
    base = dict(D=np.array([0.7e6]), d_m=np.array([50.0]), h2=np.array([1.0]),
                phi=np.array([0.5]), f_hz=np.array([5e8]), p_w=np.array([0.05]),
                f_e_hz=np.array([2e9]))
    t0 = model.slot(p, **base).t_dt[0]
    for name in ("f_hz", "p_w", "f_e_hz"):
        more = dict(base, **{name: base[name] * 1.5})
        assert model.slot(p, **more).t_dt[0] < t0
    assert model.load_extract(1.0, 0.8, 1.2) < model.load_extract(1.0, 0.4, 1.2)


def test_mobility_uses_sin_for_y_and_starts_in_the_disc() -> None:
    """Eqs. (1)-(2) with sin for y; UDs start within 5 m of (50, 0)."""
    p = SemanticParams(K=200)
    m0 = model.init_mobility(p, rng(0, "mobility", "init"))
    assert np.all(np.hypot(m0.pos_m[:, 0] - 50.0, m0.pos_m[:, 1]) <= 5.0 + 1e-9)
    m1 = model.step_mobility(p, m0, rng(0, "mobility", 0))
    move = m1.pos_m - m0.pos_m
    np.testing.assert_allclose(move[:, 0], m0.speed_mps * np.cos(m0.heading_rad) * p.tau_s)
    np.testing.assert_allclose(move[:, 1], m0.speed_mps * np.sin(m0.heading_rad) * p.tau_s)
    assert np.all(m1.speed_mps >= 0)


def test_gauss_markov_speed_reverts_to_mean() -> None:
    p = SemanticParams(K=2000, speed_mean_mps=2.0)
    w = World(p, 3)
    speeds = np.concatenate([w.mobility(n).speed_mps for n in range(20, 40)])
    assert np.mean(speeds) == pytest.approx(2.0, abs=0.05)


def test_fading_is_unit_mean_exponential_and_data_in_range() -> None:
    p = SemanticParams(K=10_000)
    h2 = model.draw_fading(p, rng(1, "fading", 0))
    assert np.mean(h2) == pytest.approx(1.0, abs=0.04)
    assert np.var(h2) == pytest.approx(1.0, abs=0.1)  # exponential: var = mean^2
    D = model.draw_data_bits(p, rng(1, "data", 0))
    assert D.min() >= 0.6e6 and D.max() <= 0.8e6


def test_world_is_deterministic_per_seed_and_named_streams() -> None:
    a, b, c = World(P, 4), World(P, 4), World(P, 5)
    for n in (3, 0, 7):
        sa, sb = a.slot(n), b.slot(n)
        np.testing.assert_array_equal(sa.pos_m, sb.pos_m)
        np.testing.assert_array_equal(sa.h2, sb.h2)
        np.testing.assert_array_equal(sa.D_bits, model.draw_data_bits(P, rng(4, "data", n)))
    assert not np.array_equal(a.slot(2).h2, c.slot(2).h2)


# -- the per-slot optimum ------------------------------------------------------------------
def _state(K: int, seed: int):  # noqa: ANN202
    g = np.random.default_rng(seed)
    return g.uniform(0.6e6, 0.8e6, K), g.uniform(40, 60, K), g.exponential(1.0, K)


def test_allocate_edge_uses_budget_and_is_kkt_optimal() -> None:
    """The edge split sums to f_e^max, and moving CPU between two UDs never helps."""
    p = SemanticParams(K=4)
    g = np.random.default_rng(2)
    a, t0 = g.uniform(1e8, 4e8, 4), g.uniform(0.2, 1.0, 4)
    fe = allocate_edge(a, t0, p)
    assert np.sum(fe) == pytest.approx(p.f_e_max_hz)

    def cost(f: np.ndarray) -> float:
        tde = a / f
        return float(np.sum(tde + p.W * np.maximum(0, t0 + tde - p.deadline_s)))

    best = cost(fe)
    for i in range(4):
        for j in range(4):
            if i != j:
                for delta in (1e7, 1e8):
                    f2 = fe.copy()
                    f2[i] += delta
                    f2[j] -= delta
                    if f2[j] > 0:
                        assert cost(f2) >= best - 1e-9


@pytest.mark.parametrize("K, seed", [(1, 0), (3, 2)])
def test_per_slot_optimum_matches_differential_evolution(K: int, seed: int) -> None:
    """The structured solver is at least as good as scipy's global search on the same reward."""
    from scipy.optimize import differential_evolution

    p = SemanticParams(K=K)
    D, d, h2 = _state(K, seed)
    mine = float(model.slot(p, D, d, h2, *solve_slot(p, D, d, h2)).reward)

    def neg(z: np.ndarray) -> float:
        z = z.reshape(4, K)
        fe = p.f_e_max_hz * z[3] / z[3].sum()
        return -float(model.slot(p, D, d, h2, z[0], z[1] * 1e9, z[2], fe).reward)

    bounds = [(p.phi_min, 1)] * K + [(1e-3, 1)] * K + [(p.p_min_w, p.p_max_w)] * K + [(1e-3, 1)] * K
    de = differential_evolution(neg, bounds, seed=0, maxiter=300, tol=1e-9, polish=True)
    assert mine >= -de.fun - 1e-3 * abs(de.fun)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 8))
def test_per_slot_optimum_beats_random_actions(seed: int, K: int) -> None:
    """No random feasible-by-construction action has a higher reward than the optimum."""
    p = SemanticParams(K=K)
    D, d, h2 = _state(K, seed)
    act = solve_slot(p, D, d, h2)
    assert np.sum(act.f_e_hz) == pytest.approx(p.f_e_max_hz)
    assert np.all((act.phi >= p.phi_min) & (act.phi <= 1))
    assert np.all((act.p_w >= p.p_min_w - 1e-12) & (act.p_w <= p.p_max_w + 1e-12))
    assert np.all((act.f_hz > 0) & (act.f_hz <= p.f_u_max_hz))
    best = float(model.slot(p, D, d, h2, *act).reward)
    g = np.random.default_rng(seed)
    n = 400
    share = g.uniform(1e-3, 1, (n, K))
    rand = model.slot(p, D, d, h2, g.uniform(p.phi_min, 1, (n, K)), g.uniform(1e7, 1e9, (n, K)),
                      g.uniform(p.p_min_w, p.p_max_w, (n, K)),
                      p.f_e_max_hz * share / share.sum(axis=1, keepdims=True))
    assert best >= float(np.max(rand.reward)) - 1e-9


def test_phi_fixed_is_respected() -> None:
    p = SemanticParams(K=3)
    D, d, h2 = _state(3, 9)
    act = solve_slot(p, D, d, h2, phi_fixed=np.ones(3))
    np.testing.assert_array_equal(act.phi, np.ones(3))
    free = solve_slot(p, D, d, h2)
    assert model.slot(p, D, d, h2, *free).reward >= model.slot(p, D, d, h2, *act).reward
