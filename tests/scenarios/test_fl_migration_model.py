"""fl-migration model: eqs. (3), (10)-(15), (21)-(25), the instance and the mobility model."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.algorithms import pair_tables
from twinbed.scenarios.fl_migration.params import FlMigrationParams


def test_defaults_are_table_ii_and_bad_values_are_rejected() -> None:
    p = FlMigrationParams()
    assert (p.U, p.S, p.E_s, p.E_us, p.T) == (20, 9, 50, 10, 750)
    assert (p.p_s_low, p.p_s_high) == (120.0, 130.0)  # Table II, not the text's 150
    assert (p.beta1, p.beta2, p.f0, p.barrier_f) == (0.3, 0.7, 200.0, 10.0)
    with pytest.raises(ValidationError, match="q_low"):
        FlMigrationParams(q_low=2000.0)
    with pytest.raises(ValidationError):
        FlMigrationParams(nonsense=1)
    with pytest.raises(ValidationError, match="per-user EMDs"):
        FlMigrationParams(U=3, emd_per_user=(0.0, 0.2))


def test_utility_matches_fig3_range_in_samples() -> None:
    """Eq. (11) with the paper's alphas, in samples: 200 -> ~0.58, 2000 -> ~0.916 (EMD 0);
    increasing in data, decreasing in EMD."""
    p = FlMigrationParams()
    n = np.array([200.0, 500.0, 1000.0, 2000.0])
    r0 = model.utility(n, np.zeros(4), p)
    assert r0[0] == pytest.approx(0.583, abs=2e-3) and r0[-1] == pytest.approx(0.916, abs=2e-3)
    assert np.all(np.diff(r0) > 0)
    by_emd = [model.utility(np.array([1000.0]), np.array([e]), p)[0] for e in (0, .2, .4, .6)]
    assert np.all(np.diff(by_emd) < 0)
    v = model.emd_factor(np.array([0.0, 0.6]), p)
    assert v[0] == pytest.approx(0.9172 * np.exp(-((-0.0231 / 0.8366) ** 2)))
    assert 0 < v[1] < v[0] < 1


def test_norm_is_the_papers_function() -> None:
    x = np.linspace(0, 5000, 101)
    f0 = 200.0
    np.testing.assert_allclose(model.norm(x, f0), 2 / (1 + np.exp(-x / (2 * f0))) - 1, atol=1e-14)


def _reference_costs(p, inst, st, assoc, gamma):
    """Eqs. (13)-(15) with explicit sums over s, s', u (the paper's indices)."""
    S, U = inst.es_xy.shape[0], p.U
    kap = np.zeros((U, S))
    kap[np.arange(U), assoc] = 1
    kap_prev = np.zeros((U, S))
    kap_prev[np.arange(U), st.prev_assoc] = 1
    bits = p.bits_per_sample
    dbar = (st.n_new + gamma * st.n_prev) * bits
    rate = p.W_hz * np.log2(1 + p.P_u_w * p.xi_gain / p.N0_w)
    mig, syn, cmp_ = np.zeros(S), np.zeros(S), np.zeros(S)
    for s in range(S):
        for u in range(U):
            for s2 in range(S):
                l = abs(inst.es_xy[s, 0] - inst.es_xy[s2, 0]) + abs(inst.es_xy[s, 1] - inst.es_xy[s2, 1])
                mig[s] += p.n_mig * l * (dbar[u] + inst.d_twin_bits[u]) * kap[u, s] * kap_prev[u, s2]
            l_us = abs(st.user_xy[u, 0] - inst.es_xy[s, 0]) + abs(st.user_xy[u, 1] - inst.es_xy[s, 1])
            syn[s] += p.n_syn * st.n_new[u] * bits / rate * l_us * kap[u, s]
            cmp_[s] += p.n_cmp * inst.eps[s] * dbar[u] * (p.E_s + p.E_us) * kap[u, s]
    return mig, syn, cmp_


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_costs_equal_the_explicit_sums_and_coefficients_are_affine(seed: int) -> None:
    p = FlMigrationParams(U=6, S=4)
    inst = model.draw_instance(p, seed)
    st = model.next_state(p, model.first_state(p, inst, seed), np.arange(6) % 4, seed)
    g = np.random.default_rng(seed)
    assoc = g.integers(0, 4, 6)
    gamma = g.uniform(0, 1, 6)
    c = model.costs(p, inst, st, assoc, gamma)
    mig, syn, cmp_ = _reference_costs(p, inst, st, assoc, gamma)
    np.testing.assert_allclose(c.mig, mig, rtol=1e-12)
    np.testing.assert_allclose(c.syn, syn, rtol=1e-12)
    np.testing.assert_allclose(c.cmp, cmp_, rtol=1e-12)
    assert np.any(c.mig > 0)  # some twins moved
    coef = model.server_coefficients(p, inst, st, assoc)
    np.testing.assert_allclose(coef["a0"] + np.bincount(assoc, coef["c"] * gamma, 4), c.total,
                               rtol=1e-12)
    np.testing.assert_allclose(coef["b0"] + np.bincount(assoc, coef["b"] * gamma, 4), c.cmp,
                               rtol=1e-12)
    tab = pair_tables(p, inst, st)
    u = np.arange(6)
    np.testing.assert_allclose(tab.c[u, assoc], coef["c"], rtol=1e-12)
    np.testing.assert_allclose(tab.b[u, assoc], coef["b"], rtol=1e-12)


def test_objective_and_reward_follow_eqs_22_and_25() -> None:
    p = FlMigrationParams(U=5, S=3)
    inst = model.draw_instance(p, 4)
    st = model.first_state(p, inst, 4)
    gamma = np.full(5, 0.5)
    ev = model.evaluate(p, inst, st, st.prev_assoc, gamma)
    c = ev["costs"]
    e = 0.3 / 5 * c.rho.sum() - 0.7 / 3 * model.norm(c.total, 200.0).sum()
    assert ev["objective"] == pytest.approx(e, rel=1e-12)
    r = e + np.sum(np.log(inst.q - c.cmp)) / 10 + np.sum(np.log(inst.p - c.syn)) / 10
    assert ev["feasible"] and ev["reward"] == pytest.approx(r, rel=1e-12)
    assert ev["migrations"] == 0 and ev["cost_mig"] == 0.0


def test_barrier_is_log_inside_and_finite_steep_outside() -> None:
    p = FlMigrationParams()
    x = np.array([-1000.0, -10.0, -2.0])
    np.testing.assert_allclose(model.barrier(x, p), -np.log(-x) / 10.0)
    inside = model.barrier(np.array([-1.0 - 1e-9]), p)[0]
    edge = model.barrier(np.array([-1.0]), p)[0]
    assert edge == pytest.approx(inside, abs=1e-9)
    out = model.barrier(np.array([0.0, 10.0, 100.0]), p)
    assert np.all(np.isfinite(out)) and np.all(np.diff(out) > 0) and out[0] > edge


def test_mobility_stays_in_the_area_and_is_reproducible() -> None:
    p = FlMigrationParams(U=50, S=5, mobility_sigma_m=30.0, mobility_mean_m=5.0)
    inst = model.draw_instance(p, 0)
    a = model.first_state(p, inst, 7)
    b = model.first_state(p, inst, 7)
    moved = 0.0
    for _ in range(40):
        a2 = model.next_state(p, a, a.prev_assoc, 7)
        b = model.next_state(p, b, b.prev_assoc, 7)
        assert np.all((a2.user_xy >= 0) & (a2.user_xy <= p.area_m))
        np.testing.assert_array_equal(a2.user_xy, b.user_xy)
        np.testing.assert_array_equal(a2.n_prev, a.n_new)  # D_{u,t-1} is last slot's upload
        moved += float(np.mean(np.abs(a2.user_xy - a.user_xy)))
        a = a2
    assert moved > 0
    assert np.all((a.n_new >= p.new_samples_low) & (a.n_new <= p.new_samples_high))
