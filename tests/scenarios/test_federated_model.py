"""The federated scenario's system model (eqs. 1-25) and parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.params import FederatedParams, dbm_to_w


def _setup(seed: int = 0, **kw):
    p = FederatedParams(**kw)
    inst = model.draw_instance(p, seed)
    return p, inst, model.draw_frame(p, inst, seed, 0), model.initial_state(p)


# -- params ---------------------------------------------------------------------------------
def test_params_reject_more_partial_dts_than_ess() -> None:
    with pytest.raises(ValidationError, match="K <= N"):
        FederatedParams(K=6, N=5)


def test_params_reject_unknown_names() -> None:
    with pytest.raises(ValidationError):
        FederatedParams(lambda_1=3.0)


def test_ell_max_is_eq6() -> None:
    """l_max = ceil(v log2(1/(1-Q_max))) with v = 2/((2-L delta) delta gamma): 15 by default."""
    p = FederatedParams()
    assert p.v == pytest.approx(4.0)
    assert p.ell_max == 15
    assert model.accuracy(p, p.ell_max) >= p.Q_max > model.accuracy(p, p.ell_max - 1)


# -- quality (eqs. 4-6) ---------------------------------------------------------------------
def test_quality_increases_with_data_and_rounds_and_is_capped() -> None:
    p = FederatedParams()
    D = np.array([0.0, 1e6, 1e7, 1e8, 1e12])
    q = model.quality(p, D, 8)
    assert np.all(np.diff(q) > 0)
    assert np.all(np.diff(model.quality(p, 1e7, np.arange(1, 16))) > 0)
    assert float(model.quality(p, 1e30, 100)) == pytest.approx(p.Q_max)


def test_rho_has_diminishing_returns() -> None:
    """Concave in the cumulative data: the same extra data helps less on a larger history."""
    p = FederatedParams()
    gains = [model.rho(p, D + 1e6) - model.rho(p, D) for D in (1e6, 1e7, 1e8)]
    assert gains[0] > gains[1] > gains[2] > 0


# -- rates (eq. 13) -------------------------------------------------------------------------
def test_rate_is_shannon_over_allocated_subcarriers() -> None:
    p, inst, fr, _ = _setup()
    z = np.arange(1, p.N + 1) % p.z_levels + 1
    r = model.rates_bps(p, fr, z)
    m, n = 3, 2
    sinr = p.p_sensor_w * fr.gain[m, n] / (fr.interference_w[n] + dbm_to_w(p.noise_dbm_per_hz) * p.B_sub_hz)
    assert r[m, n] == pytest.approx(z[n] * p.B_sub_hz * math.log2(1 + sinr))


def test_draws_are_named_seed_streams() -> None:
    p, inst, fr, _ = _setup(3)
    again = model.draw_frame(p, model.draw_instance(p, 3), 3, 0)
    assert np.array_equal(fr.gain, again.gain) and np.array_equal(fr.d_bits, again.d_bits)
    other = model.draw_frame(p, inst, 3, 1)
    assert not np.array_equal(fr.gain, other.gain)
    assert fr.omega.sum() == pytest.approx(1.0)
    assert np.all(fr.d_bits[~inst.relevant] == 0)


# -- one frame (eqs. 7-25) ------------------------------------------------------------------
def _random_Y(p, fc, g):
    Y = (g.random((p.M, p.N)) < 0.3) & fc.eligible
    return Y


def test_evaluate_sums_and_maxes() -> None:
    p, inst, fr, st0 = _setup(1)
    g = np.random.default_rng(0)
    assign = np.array([2, 0, 4, 1])
    z, ell = np.array([1, 2, 3, 1, 2]), np.array([3, 5, 7, 9, 11])
    fc = model.frame_ctx(p, inst, fr, st0, assign, z, ell)
    Y = _random_Y(p, fc, g)
    out, nxt = model.evaluate(p, inst, fr, st0, assign, Y, z, ell)
    assert out.E == pytest.approx(sum(out.E_parts.values()))
    assert out.T == pytest.approx(out.T_n.max() + out.T_parts_max["int"])
    assert out.U == pytest.approx(p.lambda1 * out.Q - p.lambda2 * out.E)
    assert out.perf == pytest.approx(out.U - p.c_config * out.changes)
    assert out.reward == pytest.approx(out.perf - p.zeta * max(0.0, out.T - p.tau_s))
    assert out.changes == int(Y.sum())  # previous frame had no associations
    # eq. (7): new data of partial-DT k is what the sensors of its ES deliver
    for k, n in enumerate(assign):
        assert out.dD_bits[k] == pytest.approx(fr.d_bits[Y[:, n], k].sum())
    assert np.allclose(nxt.D_bits, st0.D_bits + out.dD_bits)
    assert out.Q == pytest.approx(float(np.sum(fr.omega * out.Q_k)))
    # ES utilities sum to the frame's performance plus the decision-free integration energy
    # whenever the frame time holds (Sec. 4.1's equivalence)
    if out.penalty == 0:
        assert out.U_n.sum() == pytest.approx(out.perf + p.lambda2 * out.E_parts["int"])


def test_migration_only_when_the_assignment_moves() -> None:
    p, inst, fr, st0 = _setup(2)
    z, ell = np.ones(p.N, int), np.full(p.N, 4)
    a0 = np.array([0, 1, 2, 3])
    Y = np.zeros((p.M, p.N), bool)
    _, st1 = model.evaluate(p, inst, fr, st0, a0, Y, z, ell)
    fr1 = model.draw_frame(p, inst, 2, 1)
    same, _ = model.evaluate(p, inst, fr1, st1, a0, Y, z, ell)
    assert same.E_parts["mig"] == 0.0
    moved, _ = model.evaluate(p, inst, fr1, st1, np.array([4, 1, 2, 3]), Y, z, ell)
    # eqs. (15)-(16): partial-DT 0's history travels from ES 0 to ES 4 over the fibre
    assert moved.T_parts_max["mig"] == pytest.approx(st1.D_bits[0] / p.r_fiber_bps)
    assert moved.E_parts["mig"] == pytest.approx(p.P_es_w * st1.D_bits[0] / p.r_fiber_bps)


def test_changes_count_xor_against_previous_frame() -> None:
    p, inst, fr, st0 = _setup(4)
    a, z, ell = np.arange(p.K), np.ones(p.N, int), np.full(p.N, 4)
    fc = model.frame_ctx(p, inst, fr, st0, a, z, ell)
    Y1 = _random_Y(p, fc, np.random.default_rng(1))
    _, st1 = model.evaluate(p, inst, fr, st0, a, Y1, z, ell)
    Y2 = Y1.copy()
    Y2[np.flatnonzero(Y1[:, 0])[:1], 0] = False
    Y2[np.flatnonzero(~Y1[:, 1] & fc.eligible[:, 1])[:2], 1] = True
    out, _ = model.evaluate(p, inst, model.draw_frame(p, inst, 4, 1), st1, a, Y2, z, ell)
    assert out.changes == int(np.sum(Y1 != Y2)) == 3


def test_frame_ctx_rejects_bad_assignment() -> None:
    p, inst, fr, st0 = _setup()
    with pytest.raises(ValueError, match="distinct ES"):
        model.frame_ctx(p, inst, fr, st0, np.array([0, 0, 1, 2]), np.ones(p.N), np.ones(p.N))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), density=st.floats(0.0, 0.8))
def test_toggle_utilities_match_brute_force(seed: int, density: float) -> None:
    """U_n(S_n toggled by m) computed for all (m, n) at once equals recomputing each one."""
    p = FederatedParams(M=9, N=4, K=3)
    inst = model.draw_instance(p, seed)
    fr = model.draw_frame(p, inst, seed, 0)
    g = np.random.default_rng(seed)
    st0 = model.State(t=0, D_bits=g.uniform(1e6, 3e7, p.K), assign=g.permutation(p.N)[:p.K],
                      Y=g.random((p.M, p.N)) < 0.3)
    fc = model.frame_ctx(p, inst, fr, st0, g.permutation(p.N)[:p.K],
                         g.integers(1, p.z_levels + 1, p.N), g.integers(1, p.ell_max + 1, p.N))
    Y = g.random((p.M, p.N)) < density
    U, U_tog = model.toggle_utilities(p, fc, Y)
    assert np.allclose(U, model.es_utilities(p, fc, Y))
    for m in range(p.M):
        Y2 = Y.copy()
        Y2[m] = ~Y2[m]
        assert np.allclose(U_tog[m], model.es_utilities(p, fc, Y2), rtol=1e-9, atol=1e-9)
