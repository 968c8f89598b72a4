"""DMO as N + 2 separate PPO agents: the slices partition the joint action, the per-agent
rewards are eqs. (37)/(38), each agent's env passes the checkers, a tiny round-robin training
runs, saves every agent and plays frames."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios.federated.env import FederatedEnv, action_nvec
from twinbed.scenarios.federated.multiagent import (AgentEnv, MultiAgentDmoPolicy, agent_rewards,
                                                    agent_slices, train_agents)
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.simulate import run_episode

P = FederatedParams(M=10, N=4, K=3, frames=6)


def test_slices_partition_the_joint_action_as_the_paper_splits_the_agents() -> None:
    sl = agent_slices(P)
    assert len(sl) == P.N + 2
    assert sorted(np.concatenate(sl).tolist()) == list(range(len(action_nvec(P))))
    assert [s.tolist() for s in sl[:P.N]] == [[n, P.N + n] for n in range(P.N)]  # (l_n, z_n)
    assert len(sl[P.N]) == P.K and len(sl[P.N + 1]) == P.N  # A_K: per partial-DT, A_N: per ES


def test_rewards_are_es_utilities_and_the_system_utility() -> None:
    env = FederatedEnv(P, frames=3)
    env.reset(seed=1)
    env.action_space.seed(1)
    _, _, _, _, info = env.step(env.action_space.sample())
    r = agent_rewards(P, info)
    assert r[:P.N].tolist() == info["U_n"]
    want = P.lambda1 * info["Q"] - P.lambda2 * info["E_J"] - info["penalty"]
    assert r[P.N] == r[P.N + 1] == pytest.approx(want)
    # the ES rewards sum to the team reward up to the decision-free integration energy
    assert sum(info["U_n"]) == pytest.approx(info["perf"] + P.lambda2 * info["E_int_J"])


@pytest.mark.parametrize("agent", [0, P.N, P.N + 1])
def test_agent_env_passes_gymnasium_and_sb3_checkers(agent: int) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    others = [None] * (P.N + 2)
    check_env(AgentEnv(P, agent, others, frames=3), skip_render_check=True)
    sb3_check(AgentEnv(P, agent, others, frames=3))


def test_round_robin_training_saves_every_agent_and_plays(tmp_path) -> None:
    from stable_baselines3 import PPO

    models = train_agents(P, 64 * (P.N + 2), 0, frames=6, progress=False, out_dir=tmp_path,
                          hyperparams={"n_steps": 64, "batch_size": 32, "n_epochs": 2})
    assert len(models) == P.N + 2
    assert all(m.num_timesteps == 64 for m in models)  # every agent had its turn
    for i in range(P.N + 2):
        PPO.load(tmp_path / f"dmo-agent-{i}.zip", device="cpu")
    recs = run_episode(P, "dmo", 3, 4, policy=MultiAgentDmoPolicy(P, models))
    assert len(recs) == 4 and all(np.isfinite(r["perf"]) for r in recs)
    assert recs == run_episode(P, "dmo", 3, 4, policy=MultiAgentDmoPolicy(P, models))


def test_dmo_agents_scheme_needs_the_trained_agents_then_decides_like_in_process(tmp_path) -> None:
    """``dmo-agents`` is selectable: without agents preflight names the train command (a 422
    live); with them, the controller's decide plays the in-process frames."""
    import json

    from twinbed.config import get_settings
    from twinbed.runtime import offline_context
    from twinbed.scenarios.federated import model
    from twinbed.scenarios.federated.multiagent import agents_dir
    from twinbed.scenarios.federated.roles import decide
    from twinbed.scenarios.federated.spec import preflight

    with pytest.raises(ValueError, match="twinbed train federated-dmo-agents --N 4 --K 3"):
        preflight(P, "dmo-agents", tmp_path)
    models = train_agents(P, 32 * (P.N + 2), 1, frames=6, progress=False,
                          out_dir=agents_dir(tmp_path),
                          hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1})
    preflight(P, "dmo-agents", tmp_path)
    with pytest.raises(ValueError, match="another N or K"):
        preflight(FederatedParams(M=10, N=5, K=3), "dmo-agents", tmp_path)
    sim = run_episode(P, "dmo-agents", 2, 3, policy=MultiAgentDmoPolicy(P, models))
    settings = get_settings().model_copy(update={"data_dir": tmp_path})
    st = model.initial_state(P)
    carried = {"D_bits": st.D_bits.tolist(), "assign": st.assign.tolist(), "Y": []}
    for t in range(3):
        d = decide(offline_context("federated", P, "dmo-agents", 2, settings=settings),
                   {"t": t, **carried})
        assert d["record"] == sim[t]
        carried = json.loads(json.dumps(d["next"]))
