"""Gale-Shapley matching (upper layer) and SOCF (lower layer) of the federated scenario."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.algorithms import Exhaustive, View
from twinbed.scenarios.federated.games import (
    blocking_pairs,
    gale_shapley,
    preference_lists,
    socf,
    socf_init,
    stable_partition,
)
from twinbed.scenarios.federated.params import FederatedParams


# -- Gale-Shapley ---------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(data=st.data(), K=st.integers(1, 6), extra=st.integers(0, 3))
def test_gale_shapley_is_a_stable_complete_matching(data, K: int, extra: int) -> None:
    """Every partial-DT gets its own ES and no (partial-DT, ES) pair blocks (Definition 5)."""
    N = K + extra
    seed = data.draw(st.integers(0, 2**31))
    g = np.random.default_rng(seed)
    # ties included: integer ranking values
    sk, sn = g.integers(0, 4, (K, N)).astype(float), g.integers(0, 4, (N, K)).astype(float)
    assign = gale_shapley(sk, sn)
    assert sorted(set(assign.tolist())) == sorted(assign.tolist()) and len(assign) == K
    assert ((0 <= assign) & (assign < N)).all()
    assert blocking_pairs(assign, sk, sn) == []


def test_blocking_pairs_finds_an_unstable_matching() -> None:
    """The checker itself: partial-DT 0 and ES 1 prefer each other to their partners."""
    sk = np.array([[0.0, 1.0], [1.0, 0.0]])
    sn = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert blocking_pairs(np.array([0, 1]), sk, sn) == [(0, 1), (1, 0)]
    assert blocking_pairs(gale_shapley(sk, sn), sk, sn) == []


def test_gale_shapley_is_proposer_optimal_on_a_known_case() -> None:
    """Both partial-DTs prefer ES 0; ES 0 prefers partial-DT 1, so partial-DT 0 gets its second."""
    sk = np.array([[2.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    sn = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    assert gale_shapley(sk, sn).tolist() == [1, 0]


def test_preference_lists_sort_by_ranking_value() -> None:
    assert preference_lists(np.array([[0.1, 0.9, 0.5]])) == [[1, 2, 0]]


def test_gale_shapley_rejects_more_partial_dts_than_ess() -> None:
    with pytest.raises(ValueError, match="K <= N"):
        gale_shapley(np.zeros((3, 2)), np.zeros((2, 3)))


# -- SOCF -----------------------------------------------------------------------------------
def _frame(seed: int, **kw):
    p = FederatedParams(**kw)
    inst = model.draw_instance(p, seed)
    g = np.random.default_rng(seed)
    fr = model.draw_frame(p, inst, seed, int(g.integers(0, 50)))
    st0 = model.State(t=1, D_bits=g.uniform(5e5, 4e7, p.K), assign=g.permutation(p.N)[:p.K],
                      Y=g.random((p.M, p.N)) < 0.2)
    fc = model.frame_ctx(p, inst, fr, st0, g.permutation(p.N)[:p.K],
                         g.integers(1, p.z_levels + 1, p.N), g.integers(1, p.ell_max + 1, p.N))
    return p, inst, fr, st0, fc, g


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000), M=st.integers(1, 25), y_max=st.integers(1, 3),
       c=st.sampled_from([0.0, 0.05, 0.5]), lam1=st.sampled_from([10.0, 50.0, 500.0]),
       protect=st.booleans())
def test_socf_never_lowers_the_sum_of_es_utilities_and_terminates(
        seed: int, M: int, y_max: int, c: float, lam1: float, protect: bool) -> None:
    """Appendix C: every switch raises sum_n U_n; SOCF stops at a stable partition (Def. 6)
    that respects eq. (8), eq. (14) and (25c)."""
    p, inst, fr, st0, fc, g = _frame(seed, M=M, N=4, K=3, Y_max=y_max, c_config=c,
                                     lambda1=lam1, protect_members=protect)
    Y0 = socf_init(p, fc, g)
    res = socf(p, fc, Y0, g)
    trace = [res.potential[0], *res.move_potential]
    assert all(b > a for a, b in zip(trace, trace[1:]))  # strictly, per switch
    assert all(b >= a for a, b in zip(res.potential, res.potential[1:]))
    assert res.passes < p.socf_max_passes  # terminated on its own
    assert res.moves == sum(res.kinds.values()) == len(res.move_potential)
    Y = res.Y
    assert (Y.sum(axis=1) <= y_max).all()
    assert (Y.sum(axis=0) <= fc.cap).all()
    assert not (Y & ~fc.eligible).any()
    if not protect:
        assert stable_partition(p, fc, Y)
    assert res.potential[-1] == pytest.approx(float(model.es_utilities(p, fc, Y).sum()))


def test_socf_init_keeps_previous_coalitions_and_limits() -> None:
    """Algorithm 1 lines 1-4: previous (still eligible) members stay, (8) and (14) hold."""
    p, inst, fr, st0, fc, g = _frame(7, M=20, N=5, K=4)
    Y0 = socf_init(p, fc, g)
    kept = st0.Y & fc.eligible
    within = kept.sum(axis=0) <= fc.cap
    assert (Y0[:, within] >= kept[:, within]).all()
    assert (Y0.sum(axis=0) <= fc.cap).all()
    assert not (Y0 & ~fc.eligible).any()


def test_nov_framework_has_no_overlaps() -> None:
    p, inst, fr, st0, fc, g = _frame(3, M=20, N=5, K=4, Y_max=1, lambda1=500.0)
    res = socf(p, fc, socf_init(p, fc, g), g)
    assert (res.Y.sum(axis=1) <= 1).all()


def test_overlapping_coalitions_form_when_data_is_valuable() -> None:
    """With a large gain weight, some sensor serves two ESs (a sensor in two coalitions)."""
    p, inst, fr, st0, fc, g = _frame(5, M=20, N=5, K=4, lambda1=500.0)
    res = socf(p, fc, socf_init(p, fc, g), g)
    assert (res.Y.sum(axis=1) == 2).any()


def test_socf_reaches_the_exhaustive_optimum_bound_from_below() -> None:
    """On a tiny instance, SOCF's stable partition is no better than the exhaustive optimum of
    the same decisions, and the exhaustive scheme's frame beats or ties SOCF's."""
    p = FederatedParams(M=4, N=3, K=2, z_levels=1, Y_max=2, lambda1=200.0)
    inst = model.draw_instance(p, 11)
    fr = model.draw_frame(p, inst, 11, 0)
    st0 = model.initial_state(p)
    g = np.random.default_rng(0)
    best = Exhaustive().act(View(p, inst, fr, st0, g))
    fc = model.frame_ctx(p, inst, fr, st0, best.assign, best.z, best.ell)
    res = socf(p, fc, socf_init(p, fc, g), g)
    opt = float(model.es_utilities(p, fc, best.Y).sum())
    assert res.potential[-1] <= opt + 1e-9
    # and the exhaustive optimum is truly optimal over every association pattern
    pats = [s for r in range(3) for s in itertools.combinations(range(3), r)]
    vals = []
    for combo in itertools.product(pats, repeat=p.M):
        Y = np.zeros((p.M, p.N), bool)
        for m, s in enumerate(combo):
            Y[m, list(s)] = True
        if (Y & ~fc.eligible).any() or (Y.sum(axis=0) > fc.cap).any():
            continue
        vals.append(float(model.es_utilities(p, fc, Y).sum()))
    assert opt == pytest.approx(max(vals))
