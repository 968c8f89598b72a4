"""The fast paths of a federated frame equal the code they replaced, bit for bit (issue 15).

SOCF's compiled switch loop against :func:`socf_reference` (the numpy form), the hand-written
Gale-Shapley against the ``matching`` package, and the rewritten SOCF initialization and
utility estimate against their first versions, kept below as the references.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.algorithms import View, utility_estimate
from twinbed.scenarios.federated.games import (
    gale_shapley,
    gale_shapley_reference,
    socf,
    socf_init,
    socf_reference,
)
from twinbed.scenarios.federated.params import FederatedParams


def _socf_init_reference(p: FederatedParams, fc: model.FrameCtx, g: np.random.Generator,
                         y_max: int | None = None) -> np.ndarray:
    """``socf_init`` before issue 15 (same draws, more numpy calls)."""
    y_max = p.Y_max if y_max is None else y_max
    M, N = fc.eligible.shape
    Y = fc.Y_prev & fc.eligible
    for m in np.flatnonzero(Y.sum(axis=1) > y_max):
        on = np.flatnonzero(Y[m])
        Y[m, g.choice(on, len(on) - y_max, replace=False)] = False
    for n in range(N):
        members = np.flatnonzero(Y[:, n])
        if len(members) > fc.cap[n]:
            Y[g.choice(members, len(members) - fc.cap[n], replace=False), n] = False
    for n in g.permutation(N):
        free = int(fc.cap[n] - Y[:, n].sum())
        if free <= 0:
            continue
        cand = np.flatnonzero(fc.eligible[:, n] & ~Y[:, n] & (Y.sum(axis=1) < y_max)
                              & (fc.dk[:, n] > 0))
        if len(cand):
            pick = g.choice(cand, min(len(cand), int(np.ceil(free / 2))), replace=False)
            Y[pick, n] = True
    return Y


def _utility_estimate_reference(v: View, ell: int | None = None) -> np.ndarray:
    """``utility_estimate`` before issue 15 (a loop over partial-DTs)."""
    p, inst, fr, st_ = v.p, v.inst, v.frame, v.state
    ell = p.ell_max // 2 if ell is None else ell
    r = model.rates_bps(p, fr, np.ones(p.N, dtype=int))
    elig = r >= p.r_min_bps
    out = np.zeros((p.K, p.N))
    e_bit = ell * p.kappa * p.C_cycles_per_bit * inst.f_hz ** 2
    for k in range(p.K):
        d = fr.d_bits[:, k][:, None] * elig
        top = -np.sort(-d, axis=0)[:p.Z_max].sum(axis=0)
        Q = model.quality(p, st_.D_bits[k] + top, ell)
        mig = np.where(st_.assign[k] == np.arange(p.N), 0.0,
                       st_.D_bits[k] / p.r_fiber_bps * p.P_es_w)
        out[k] = p.lambda1 * fr.omega[k] * Q - p.lambda2 * (e_bit * top + mig)
    return out


def _random_frame(seed: int, M: int, N: int, K: int, **kw: object):
    p = FederatedParams(M=M, N=N, K=K, **kw)
    inst = model.draw_instance(p, seed)
    g = np.random.default_rng(seed)
    fr = model.draw_frame(p, inst, seed, int(g.integers(0, 50)))
    st0 = model.State(t=1, D_bits=g.uniform(5e5, 4e7, K), assign=g.permutation(N)[:K],
                      Y=g.random((M, N)) < g.uniform(0.0, 0.6))
    fc = model.frame_ctx(p, inst, fr, st0, g.permutation(N)[:K], g.integers(1, p.z_levels + 1, N),
                         g.integers(1, p.ell_max + 1, N))
    return p, inst, fr, st0, fc


def _assert_same(a, b) -> None:
    assert np.array_equal(a.Y, b.Y)
    assert (a.passes, a.moves, a.kinds) == (b.passes, b.moves, b.kinds)
    # the decisions are identical; the potentials agree to rounding: a summation order that
    # differs in rare cases (about 1 in 10^3 hypothesis examples) moves the last bit or two,
    # which the exact comparison this test once made turned into a flaky failure
    np.testing.assert_allclose(a.potential, b.potential, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a.move_potential, b.move_potential, rtol=1e-12, atol=1e-9)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**6), M=st.integers(1, 60), N=st.integers(1, 7),
       y_max=st.integers(1, 3), c=st.sampled_from([0.0, 0.05, 0.5]),
       lam1=st.sampled_from([10.0, 50.0, 500.0]), zeta=st.sampled_from([1.0, 1e3]))
def test_socf_equals_the_numpy_reference(seed: int, M: int, N: int, y_max: int, c: float,
                                         lam1: float, zeta: float) -> None:
    """Same partition, same switches, and every potential value equal to rounding."""
    K = 1 + seed % N
    p, _, _, _, fc = _random_frame(seed, M, N, K, Y_max=y_max, c_config=c, lambda1=lam1,
                                   zeta=zeta, tau_s=20.0 if zeta == 1.0 else 0.5)
    Y0 = socf_init(p, fc, np.random.default_rng(seed))
    _assert_same(socf(p, fc, Y0, np.random.default_rng(seed + 1)),
                 socf_reference(p, fc, Y0, np.random.default_rng(seed + 1)))


@pytest.mark.parametrize("M", [129, 300])
def test_socf_equals_the_reference_beyond_numpy_pairwise_blocks(M: int) -> None:
    """More than 128 sensors: a single column's sum is numpy's recursive pairwise sum."""
    p = FederatedParams(M=M, N=5, K=4, lambda1=500.0, area_m=400.0)
    inst = model.draw_instance(p, M)
    fc = model.frame_ctx(p, inst, model.draw_frame(p, inst, M, 0), model.initial_state(p),
                         np.arange(4), np.ones(5, int), np.full(5, 8))
    Y0 = socf_init(p, fc, np.random.default_rng(0))
    res = socf(p, fc, Y0, np.random.default_rng(1))
    assert res.kinds["join"] > 0  # one-column updates (joins) happened
    _assert_same(res, socf_reference(p, fc, Y0, np.random.default_rng(1)))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10**6), K=st.integers(1, 7), extra=st.integers(0, 3),
       ties=st.booleans())
def test_gale_shapley_equals_the_matching_package(seed: int, K: int, extra: int,
                                                  ties: bool) -> None:
    g = np.random.default_rng(seed)
    N = K + extra
    if ties:
        sk, sn = g.integers(0, 3, (K, N)).astype(float), g.integers(0, 3, (N, K)).astype(float)
    else:
        sk, sn = g.random((K, N)), g.random((N, K))
    assert gale_shapley(sk, sn).tolist() == gale_shapley_reference(sk, sn).tolist()


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**6), M=st.integers(1, 60), N=st.integers(1, 7),
       y_max=st.integers(1, 3), density=st.floats(0.0, 0.9))
def test_socf_init_equals_its_first_version(seed: int, M: int, N: int, y_max: int,
                                            density: float) -> None:
    """Same coalitions and the generator left in the same state (SOCF draws from it next)."""
    p, inst, fr, st0, _ = _random_frame(seed, M, N, 1 + seed % N)
    g = np.random.default_rng(seed)
    st0 = st0._replace(Y=g.random((M, N)) < density)
    fc = model.frame_ctx(p, inst, fr, st0, g.permutation(N)[:p.K], g.integers(1, 4, N),
                         g.integers(1, p.ell_max + 1, N))
    g1, g2 = np.random.default_rng(seed), np.random.default_rng(seed)
    assert np.array_equal(socf_init(p, fc, g1, y_max), _socf_init_reference(p, fc, g2, y_max))
    assert g1.integers(2**62) == g2.integers(2**62)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10**6), M=st.integers(1, 60), N=st.integers(1, 7),
       zmax=st.integers(3, 30), ell=st.sampled_from([None, 1, 15]))
def test_utility_estimate_equals_its_first_version(seed: int, M: int, N: int, zmax: int,
                                                   ell: int | None) -> None:
    p, inst, fr, st0, _ = _random_frame(seed, M, N, 1 + seed % N, Z_max=zmax)
    v = View(p, inst, fr, st0, np.random.default_rng(0))
    assert np.array_equal(utility_estimate(v, ell), _utility_estimate_reference(v, ell))
