"""The fl-migration allocation's faster inner search (price-free terms once per call, fewer
numpy calls per Illinois step) gives the same numbers as its reference, bit for bit, and so
does the environment built on it (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios.fl_migration import allocation as A
from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.env import FlMigrationEnv, decode
from twinbed.scenarios.fl_migration.params import FlMigrationParams

PARAMS = {
    "table-II": FlMigrationParams(),
    "few-servers": FlMigrationParams(U=12, S=3),
    # q_s tight enough that C2 binds on some servers: the Illinois search runs
    "tight-q": FlMigrationParams(U=60, S=6, q_low=3500.0, q_high=3750.0),
}


@pytest.mark.parametrize("name", list(PARAMS))
@pytest.mark.parametrize("continuous", [False, True])
def test_env_and_allocation_equal_the_reference(name: str, continuous: bool) -> None:
    p = PARAMS[name]
    fast = FlMigrationEnv(p, continuous=continuous)
    ref = FlMigrationEnv(p, continuous=continuous, reference=True)
    binds = 0
    for episode in range(2):
        a, b = fast.reset(seed=episode), ref.reset(seed=episode)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]
        fast.action_space.seed(episode)
        for _ in range(12):
            act = fast.action_space.sample()
            st = fast.state
            assert st is not None
            assoc = decode(p, fast.inst, st, act, continuous)
            coef = model.server_coefficients(p, fast.inst, st, assoc)
            x = A.allocate_fast(p, coef, assoc, fast.inst.q)
            y = A.allocate_fast(p, coef, assoc, fast.inst.q, reference=True)
            assert np.array_equal(x.gamma, y.gamma) and x.value == y.value
            assert np.array_equal(x.per_server, y.per_server)
            pr, _, _ = A.pack(coef, assoc, fast.inst.q)
            binds += int(np.any(np.sum(pr.b, axis=-1) > pr.cap))
            ra, rb = fast.step(act), ref.step(act)
            assert np.array_equal(ra[0], rb[0]) and ra[1:4] == rb[1:4] and ra[4] == rb[4]
    if name == "tight-q":
        assert binds > 0  # the case exercises the capacity search


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("m", [1, 3, 9, 20, 40])
def test_capacity_search_equals_the_reference(seed: int, m: int) -> None:
    """The compiled capacity search (illinois.py) on random server problems whose q_s binds
    on most lanes: users without previous samples, padding, zero and negative room, rows of
    1 to 40 users (numpy's pairwise order of the load's sums from 8 terms up), prices from
    tiny to huge."""
    p = FlMigrationParams()
    g = np.random.default_rng(seed * 100 + m)
    B, K = 6, 5
    mask = g.random((B, m)) < 0.85
    mask[:, 0] = True
    n_prev = np.where(g.random((B, m)) < 0.15, 0.0, g.uniform(1, 3e3, (B, m))) * mask
    v = np.where(mask, g.uniform(0.05, 0.95, (B, m)), 0.5)
    b = g.uniform(0.0, 50.0, (B, m)) * mask
    load1 = (b * 1.0).sum(axis=-1)
    cap = load1 * g.uniform(-0.1, 0.9, B)  # most lanes bind; some have no room at all
    pr = A.ServerProblems(g.uniform(0, 3e3, (B, m)) * mask, n_prev, v,
                          g.uniform(0.0, 10.0, (B, m)) * mask, b, mask,
                          g.uniform(0, 1e4, B), cap)
    pi = 10.0 ** g.uniform(-9, -1, (K, B))
    pi[0, 0] = 0.0
    got = A._inner(p, 20, pr, pi)
    want = A._inner_reference(p, 20, pr, pi)
    assert got.shape == want.shape and np.array_equal(got, want)
    load = np.sum(pr.b * want, axis=-1)
    assert np.any(np.sum(pr.b, axis=-1) > cap)  # the search ran
    assert np.all(load <= np.maximum(cap, 0.0) + 1e-6 * np.maximum(1.0, np.abs(cap)))
