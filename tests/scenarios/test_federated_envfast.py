"""The federated environment's fast path (an episode's frames drawn at reset, the frame-only
terms computed then for every frame at once) equals the frame-by-frame path it replaced,
``FederatedEnv(reference=True)``, bit for bit: observations, rewards, flags and infos with
``np.array_equal`` and ``==``, no tolerance (issue 15). The shipped DMO agents, the figures and
their claims were made on the frame-by-frame numbers, so none may change."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.algorithms import utility_estimate
from twinbed.scenarios.federated.env import FederatedEnv
from twinbed.scenarios.federated.episode import Episode
from twinbed.scenarios.federated.params import FederatedParams

PARAMS = {
    "paper": FederatedParams(),
    "small": FederatedParams(M=8, N=3, K=2),
    "one-es": FederatedParams(M=6, N=1, K=1),
    "wide": FederatedParams(M=60, N=9, K=7, Z_max=12, z_levels=4, Y_max=3),
    "few-sensors": FederatedParams(M=3, N=4, K=4, relevance=0.4),
    "protect": FederatedParams(M=12, N=4, K=3, protect_members=True),
    "lossy": FederatedParams(M=20, N=6, K=3, replay=0.3, zeta=5.0, tau_s=2.0, c_config=0.5),
}


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.dtype == b.dtype and np.array_equal(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("name", list(PARAMS))
@pytest.mark.parametrize("framework", ["federated", "nov"])
def test_env_equals_the_frame_by_frame_path(name: str, framework: str) -> None:
    """Episodes from seeded and instance-seeded resets, random actions, beyond the episode's
    last frame (the fast path draws more frames then), in both frameworks it serves."""
    p = PARAMS[name]
    frames = 7
    fast = FederatedEnv(p, frames=frames, framework=framework)
    ref = FederatedEnv(p, frames=frames, framework=framework, reference=True)
    g = np.random.default_rng(len(name))
    for episode in range(4):
        opts = {"instance_seed": 500 + episode} if episode % 2 else None
        (a, ia), (b, ib) = fast.reset(seed=episode, options=opts), ref.reset(seed=episode,
                                                                              options=opts)
        assert _same(a, b) and ia == ib
        for n in range(frames + (3 if episode == 0 else 0)):
            act = g.integers(fast.action_space.nvec)
            ra, rb = fast.step(act), ref.step(act)
            assert _same(ra[0], rb[0]), (episode, n)
            assert ra[1:4] == rb[1:4] and type(ra[1]) is type(rb[1]), (episode, n)
            assert ra[4].keys() == rb[4].keys()
            for k in ra[4]:
                assert _same(ra[4][k], rb[4][k]), (episode, n, k)
            for x, y in zip(fast.state, ref.state, strict=True):
                assert _same(np.asarray(x), np.asarray(y))
            assert _same(fast.estimate, ref.estimate)


def test_episode_draws_equal_draw_frame_and_estimate() -> None:
    """Every frame of a drawn episode (and of the next block) is draw_frame's, and its utility
    estimate utility_estimate's, in states the frames pass through."""
    for name, p in PARAMS.items():
        for seed in (0, 3, 2**31 - 5):
            inst = model.draw_instance(p, seed)
            ep = Episode(p, inst, seed, 5)
            st = model.initial_state(p)
            for t in range(8):
                a, b = ep.frame(t), model.draw_frame(p, inst, seed, t)
                for x, y in zip(a, b, strict=True):
                    assert _same(np.asarray(x), np.asarray(y)), (name, seed, t)
                from twinbed.scenarios.federated.algorithms import View

                v = View(p, inst, b, st, np.random.default_rng(0))
                assert _same(ep.estimate(t, st), utility_estimate(v)), (name, seed, t)
                st = st._replace(t=t + 1, D_bits=st.D_bits * 1.5 + t,
                                 assign=np.random.default_rng(t).permutation(p.N)[:p.K])


def test_step_decision_and_frame_view_equal_the_reference() -> None:
    """DMO's stage-1 path: frame_view (with SOCF's stream) and step_decision with coalitions
    given, and without."""
    p = PARAMS["paper"]
    fast, ref = FederatedEnv(p, frames=4), FederatedEnv(p, frames=4, reference=True)
    fast.reset(seed=9)
    ref.reset(seed=9)
    for n in range(4):
        va, vb = fast.frame_view(), ref.frame_view()
        for x, y in zip(va.frame, vb.frame, strict=True):
            assert _same(np.asarray(x), np.asarray(y))
        assert va.g.random() == vb.g.random()
        assign = np.random.default_rng(n).permutation(p.N)[:p.K]
        Y = np.random.default_rng(n).random((p.M, p.N)) < 0.2 if n % 2 else None
        from twinbed.scenarios.federated.algorithms import Decision

        d = Decision(assign, np.full(p.N, 1 + n % p.z_levels), np.full(p.N, 2 + n), Y)
        ra, rb = fast.step_decision(d), ref.step_decision(d)
        assert _same(ra[0], rb[0]) and ra[1:4] == rb[1:4]
        assert all(_same(ra[4][k], rb[4][k]) for k in rb[4])


def test_blocks_of_a_long_episode_equal_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """An episode longer than a block draws block after block: the same frames."""
    monkeypatch.setattr(Episode, "BLOCK", 3)
    p = PARAMS["small"]
    fast, ref = FederatedEnv(p, frames=11), FederatedEnv(p, frames=11, reference=True)
    for env in (fast, ref):
        env.reset(seed=4)
        env.action_space.seed(4)
    for _ in range(11):
        act = fast.action_space.sample()
        ra, rb = fast.step(act), ref.step(act)
        assert _same(ra[0], rb[0]) and ra[1:4] == rb[1:4]
        assert all(_same(ra[4][k], rb[4][k]) for k in rb[4])
    assert ra[3]  # truncated at the last frame


def test_actions_outside_the_space_take_the_same_path() -> None:
    """An action outside the MultiDiscrete box (negative, too large) is decoded by
    decode_action on both paths: the same frames (or the same error)."""
    p = PARAMS["paper"]
    fast, ref = FederatedEnv(p, frames=5), FederatedEnv(p, frames=5, reference=True)
    fast.reset(seed=2)
    ref.reset(seed=2)
    nvec = fast.action_space.nvec
    for act in (np.where(np.arange(len(nvec)) % 3 == 0, -1, 0), nvec - 1):
        ra, rb = fast.step(act), ref.step(act)
        assert _same(ra[0], rb[0]) and ra[1:4] == rb[1:4]
    with pytest.raises(IndexError):
        ref.step(nvec)
    with pytest.raises(IndexError):
        fast.step(nvec)


@pytest.mark.parametrize("seed", range(5))
def test_compiled_gale_shapley_equals_ours(seed: int) -> None:
    """The env's compiled matching equals games.gale_shapley, ties (broken by index) too."""
    from twinbed.scenarios.federated.games import gale_shapley
    from twinbed.scenarios.federated.socf_fast import _gale_shapley

    g = np.random.default_rng(seed)
    for _ in range(200):
        N = int(g.integers(1, 9))
        K = int(g.integers(1, N + 1))
        sk = np.round(g.random((K, N)), int(g.integers(0, 3)))
        sn = np.round(g.random((N, K)), int(g.integers(0, 3)))
        got = np.empty(K, dtype=int)
        _gale_shapley(sk, sn, got)
        assert np.array_equal(got, gale_shapley(sk, sn))
