"""The DMO environment passes the env checkers; the ``dmo-shared`` comparison (one multi-head PPO
policy) trains, saves, reloads and is refused for another size."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios.federated.env import FederatedEnv
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import run_episode


def test_env_passes_gymnasium_and_sb3_checkers() -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    check_env(FederatedEnv(FederatedParams(M=8), frames=3), skip_render_check=True)
    sb3_check(FederatedEnv(FederatedParams(M=8), frames=3))


def test_env_is_deterministic_for_a_seed_and_truncates() -> None:
    def rollout():
        env = FederatedEnv(FederatedParams(M=10), frames=4)
        obs, _ = env.reset(seed=5)
        env.action_space.seed(5)
        out = [obs]
        for _ in range(4):
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            out.append((obs, r, term, trunc))
        return out

    a, b = rollout(), rollout()
    assert np.array_equal(a[0], b[0])
    for x, y in zip(a[1:], b[1:]):
        assert np.array_equal(x[0], y[0]) and x[1:] == y[1:]
    assert a[-1][3] is True and not any(x[3] for x in a[1:-1])


def test_action_decodes_to_rounds_subcarriers_and_a_stable_matching() -> None:

    p = FederatedParams(M=10)
    env = FederatedEnv(p, frames=2)
    env.reset(seed=0)
    a = env.action_space.sample()
    _, _, _, _, info = env.step(a)
    from twinbed.scenarios.federated.env import ell_of_level

    assert info["ell"] == ell_of_level(p, a[:p.N]).tolist()
    assert max(info["ell"]) <= p.ell_max and ell_of_level(p, np.array([3]))[0] == p.ell_max
    assert info["z"] == (a[p.N:2 * p.N] + 1).tolist()
    assert len(set(info["assign"])) == p.K


def test_tiny_shared_policy_training_saves_and_loads(tmp_path) -> None:
    from twinbed.scenarios import get_scenario
    from twinbed.scenarios.federated.dmo_shared import (
        SharedDmoPolicy,
        load_shared,
        shared_path,
        train_shared,
    )

    def preflight(p: FederatedParams, algorithm: str, data_dir) -> None:  # noqa: ANN001
        get_scenario("federated").preflight(p, algorithm, 0, data_dir)

    p = FederatedParams(M=8, frames=5)
    with pytest.raises(ValueError, match="twinbed train federated-dmo-shared"):
        preflight(p, "dmo-shared", tmp_path)
    res = train_shared(p, 200, 0, shared_path(tmp_path, p),
                       progress=False, hyperparams={"n_steps": 50, "batch_size": 25,
                                                    "n_epochs": 1})
    assert res.path.exists()
    preflight(p, "dmo-shared", tmp_path)
    model = load_shared(tmp_path, p)
    recs = run_episode(p, "dmo-shared", 0, policy=SharedDmoPolicy(p, model))
    assert len(recs) == p.frames
    assert recs == run_episode(p, "dmo-shared", 0, policy=SharedDmoPolicy(p, model))
    with pytest.raises(ValueError, match="train federated-dmo-shared"):
        load_shared(tmp_path, FederatedParams(M=8, N=6, K=4))
