"""The semantic world and environment's fast path (an episode drawn at reset, vectorized)
equals the slot-by-slot reference bit for bit: every figure, claim and shipped agent depends on
the world's draws from named seeds, so no number may change (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios.semantic.env import SemanticSyncEnv
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import SemanticWorld, SemanticWorldReference

PARAMS = [
    SemanticParams(K=2), SemanticParams(K=6), SemanticParams(K=10),
    SemanticParams(K=1, N=3), SemanticParams(K=6, memory=0.0, speed_std_mps=3.0),
    SemanticParams(K=60, N=7, memory=1.0),
]


@pytest.mark.parametrize("p", PARAMS, ids=lambda p: f"K{p.K}-N{p.N}-a{p.memory}")
def test_world_slots_equal_the_slot_by_slot_reference(p: SemanticParams) -> None:
    """Positions, distances, D, fading and the mobility state of every slot, over several
    seeds and beyond the first block (the world draws more slots as a run asks for them)."""
    for seed in (0, 1, 7, 123_456, 2**31 - 2):
        fast, ref = SemanticWorld(p, seed), SemanticWorldReference(p, seed)
        for n in range(3 * p.N + 5):
            a, b = fast.slot(n), ref.slot(n)
            for name, x, y in zip(a._fields, a, b, strict=True):
                assert np.array_equal(x, y), (seed, n, name)
            for x, y in zip(fast.mobility(n), ref.mobility(n), strict=True):
                assert np.array_equal(x, y), (seed, n)
        d, D, h2 = fast.slots(p.N)
        rd, rD, rh2 = ref.slots(p.N)
        assert np.array_equal(d, rd) and np.array_equal(D, rD) and np.array_equal(h2, rh2)


def test_world_asked_out_of_order_equals_reference() -> None:
    """A live role may ask for any slot first: the world draws up to it, same numbers."""
    p = SemanticParams()
    fast, ref = SemanticWorld(p, 5), SemanticWorldReference(p, 5)
    for n in (40, 3, 101, 0, 57):
        assert np.array_equal(fast.slot(n).h2, ref.slot(n).h2)
        assert np.array_equal(fast.mobility(n).pos_m, ref.mobility(n).pos_m)
    with pytest.raises(ValueError):
        fast.slot(-1)


@pytest.mark.parametrize("reward", ["sampled", "expected"])
@pytest.mark.parametrize("K", [2, 6, 10])
def test_env_equals_reference_step_for_step(K: int, reward: str) -> None:
    """Observations, rewards, flags and info of the fast env equal the reference env's
    (np.array_equal and ==, no tolerance) over several seeded and unseeded episodes, actions
    inside and outside the box, and steps past the truncation."""
    p = SemanticParams(K=K)
    fast, ref = SemanticSyncEnv(p, reward), SemanticSyncEnv(p, reward, reference=True)
    g = np.random.default_rng(K)
    for episode in range(6):
        seed = episode if episode < 3 else None
        opts = {"run_seed": 99 + episode} if episode == 5 else None
        of, inf = fast.reset(seed=seed, options=opts)
        orf, inr = ref.reset(seed=seed, options=opts)
        assert np.array_equal(of, orf) and of.dtype == orf.dtype and inf == inr
        for n in range(p.N + 2):
            act = g.uniform(-1.5, 1.5, 4 * K).astype(np.float32)
            if n == 2:
                act[:] = 0.0
            a, b = fast.step(act), ref.step(act)
            assert np.array_equal(a[0], b[0]) and a[0].dtype == b[0].dtype, (episode, n)
            assert a[1:4] == b[1:4], (episode, n)
            assert a[4] == b[4], (episode, n)
            for x, y in zip(fast.state, ref.state, strict=True):
                assert np.array_equal(x, y)


def test_env_observation_is_a_copy() -> None:
    """Changing a returned observation does not change the next episode's."""
    env = SemanticSyncEnv()
    obs, _ = env.reset(seed=3)
    want = obs.copy()
    obs[:] = 0
    assert np.array_equal(env.reset(seed=3)[0], want)


@pytest.mark.parametrize("reward", ["sampled", "expected"])
@pytest.mark.parametrize("K, n", [(2, 1), (6, 3), (10, 8)])
def test_vector_env_equals_sync_vector_env_of_reference_envs(K: int, n: int, reward: str) -> None:
    """SemanticVectorEnv (n copies as one numpy batch, every cycle drawn at once) gives what
    gymnasium's SyncVectorEnv of n slot-by-slot envs gives: observations, rewards, flags and
    infos (values and dtypes), over two cycles and the next-step autoresets."""
    import gymnasium as gym

    from twinbed.scenarios.semantic.vector import SemanticVectorEnv

    p = SemanticParams(K=K)
    vec = SemanticVectorEnv(n, p, reward)
    ref = gym.vector.SyncVectorEnv([lambda: SemanticSyncEnv(p, reward, reference=True)
                                    for _ in range(n)])
    a, b = vec.reset(seed=K), ref.reset(seed=K)
    assert np.array_equal(a[0], b[0]) and a[0].dtype == b[0].dtype
    assert a[1].keys() == b[1].keys()
    assert all(np.array_equal(a[1][k], b[1][k]) and a[1][k].dtype == b[1][k].dtype for k in a[1])
    g = np.random.default_rng(n)
    for t in range(2 * (p.N + 1) + 3):
        act = g.uniform(-1.3, 1.3, (n, 4 * K)).astype(np.float32)
        a, b = vec.step(act), ref.step(act)
        for x, y in zip(a[:4], b[:4], strict=True):
            assert np.array_equal(x, y) and x.dtype == y.dtype, t
        assert a[4].keys() == b[4].keys(), t
        for k in a[4]:
            assert np.array_equal(a[4][k], b[4][k]) and a[4][k].dtype == b[4][k].dtype, (t, k)
    vec.close()
    ref.close()
