"""DMO as the paper's N + 2 separately trained PPO agents, to measure against the one multi-head
policy of :mod:`dmo` (see the README's DMO section).

Agent i owns a slice of :class:`FederatedEnv`'s MultiDiscrete action (:func:`agent_slices`):
ES agent n the pair (rounds level, subcarrier level) of ES n, A_K the partial-DTs' first
choices, A_N the ESs' first choices. Each agent is its own SB3 PPO (own actor, own critic, own
rollout buffer) on an :class:`AgentEnv`: the shared frame, in which the other agents act with
their current stochastic policies, and the agent's own reward, eq. (37) ``r_n = U_n`` for ES
agent n (eq. 27, frame-time penalty included) and eq. (38) ``lambda1 Q - lambda2 E`` minus
``zeta max(0, T - tau)`` for A_K and A_N. Training is round-robin: one PPO rollout-and-update
turn per agent in turn, the others frozen meanwhile (SB3 has no simultaneous multi-agent PPO).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from twinbed.scenarios.federated.algorithms import Decision, View, utility_estimate
from twinbed.scenarios.federated.env import (FederatedEnv, action_nvec, decode_action, obs_size,
                                             observation)
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["AGENTS_NAME", "AgentEnv", "MultiAgentDmoPolicy", "TRAIN_AGENTS_COMMAND", "agent_rewards",
           "agent_slices", "agents_dir", "compare", "load_agents", "train_agents"]

AGENTS_NAME = "federated-dmo-agents"
TRAIN_AGENTS_COMMAND = "twinbed train federated-dmo-agents"


def agents_dir(data_dir: str | Path) -> Path:
    """Where ``twinbed train federated-dmo-agents`` saves ``dmo-agent-<i>.zip``."""
    return Path(data_dir) / "agents" / AGENTS_NAME


def load_agents(data_dir: str | Path, p: FederatedParams) -> list[Any]:
    """The N + 2 trained agents for ``p``'s N and K; a ValueError naming the command otherwise."""
    from stable_baselines3 import PPO

    from twinbed.agents import MissingArtifactError

    cmd = f"{TRAIN_AGENTS_COMMAND} --N {p.N} --K {p.K}"
    d = agents_dir(data_dir)
    nvec = np.asarray(action_nvec(p))
    models = []
    for i, sl in enumerate(agent_slices(p)):
        path = d / f"dmo-agent-{i}.zip"
        if not path.exists():
            raise MissingArtifactError(path, cmd)
        m = PPO.load(path, device="cpu")
        if (m.observation_space.shape != (obs_size(p),)
                or list(getattr(m.action_space, "nvec", [])) != nvec[sl].tolist()):
            raise ValueError(f"the agents in {d} were trained for another N or K; train them "
                             f"for N={p.N}, K={p.K} with `{cmd}`")
        models.append(m)
    return models


def agent_slices(p: FederatedParams) -> list[np.ndarray]:
    """Indices into the joint action of each of the N + 2 agents (ES 0..N-1, A_K, A_N)."""
    N, K = p.N, p.K
    return ([np.array([n, N + n]) for n in range(N)]
            + [np.arange(2 * N, 2 * N + K), np.arange(2 * N + K, 3 * N + K)])


def agent_rewards(p: FederatedParams, info: dict[str, Any]) -> np.ndarray:
    """Each agent's reward for one frame (shape N + 2) from :class:`FederatedEnv`'s info."""
    r_c = p.lambda1 * info["Q"] - p.lambda2 * info["E_J"] - info["penalty"]
    return np.concatenate([np.asarray(info["U_n"], dtype=float), [r_c, r_c]])


class AgentEnv(gym.Env[np.ndarray, np.ndarray]):
    """One agent's view of the shared frames: its action slice, its reward (see module doc).

    ``others`` is the list of all N + 2 agents' models (SB3, anything with ``predict``); the
    entry of this agent is ignored, a ``None`` entry acts uniformly at random.
    """

    metadata = {"render_modes": []}

    def __init__(self, p: FederatedParams, agent: int, others: list[Any], frames: int | None = None,
                 reward_scale: float = 0.1) -> None:
        super().__init__()
        self.p, self.agent, self.others = p, agent, others
        self.env = FederatedEnv(p, frames=frames, reward_scale=reward_scale)
        self.reward_scale = reward_scale
        self.slices = agent_slices(p)
        self.nvec = np.asarray(action_nvec(p))
        self.action_space = spaces.MultiDiscrete(self.nvec[self.slices[agent]])
        self.observation_space = self.env.observation_space
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._obs, info = self.env.reset(seed=None if seed is None else seed, options=options)
        return self._obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self._obs is not None
        joint = np.empty(len(self.nvec), dtype=np.int64)
        for j, sl in enumerate(self.slices):
            if j == self.agent:
                joint[sl] = np.asarray(action)
            elif self.others[j] is None:
                joint[sl] = self.np_random.integers(self.nvec[sl])
            else:
                joint[sl] = np.asarray(self.others[j].predict(self._obs, deterministic=False)[0])
        self._obs, _, terminated, truncated, info = self.env.step(joint)
        reward = float(agent_rewards(self.p, info)[self.agent]) * self.reward_scale
        return self._obs, reward, terminated, truncated, info


def train_agents(p: FederatedParams, steps: int, seed: int, *, frames: int | None = None,
                 hyperparams: dict[str, Any] | None = None, progress: bool = True,
                 out_dir: Path | None = None) -> list[Any]:
    """N + 2 PPO agents, round-robin, ``steps`` environment frames in all (each turn is one PPO
    rollout of ``n_steps`` frames and its update). Saves ``dmo-agent-<i>.zip`` to ``out_dir``."""
    import torch
    from stable_baselines3 import PPO
    from tqdm import tqdm

    from twinbed.scenarios.federated.dmo import HYPERPARAMS

    torch.set_num_threads(1)
    hyper = {**HYPERPARAMS, **(hyperparams or {})}
    n = len(agent_slices(p))
    models: list[Any] = [None] * n
    for i in range(n):
        models[i] = PPO("MlpPolicy", AgentEnv(p, i, models, frames=frames), seed=seed + i,
                        device="cpu", verbose=0, **hyper)
    turn = int(hyper["n_steps"])
    turns = max(n, steps // turn)
    for k in tqdm(range(turns), desc="DMO agents (round-robin)", unit="turn", disable=not progress):
        models[k % n].learn(turn, reset_num_timesteps=False)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for i, m in enumerate(models):
            m.save(out_dir / f"dmo-agent-{i}.zip")
    return models


class MultiAgentDmoPolicy:
    """The N + 2 trained agents as one decision maker: each acts greedily on its slice."""

    def __init__(self, p: FederatedParams, models: list[Any]) -> None:
        self.p, self.models, self.slices = p, models, agent_slices(p)

    def act(self, v: View) -> Decision:
        est = utility_estimate(v)
        obs = observation(v, est)
        joint = np.empty(len(action_nvec(self.p)), dtype=np.int64)
        for sl, m in zip(self.slices, self.models):
            joint[sl] = np.asarray(m.predict(obs, deterministic=True)[0])
        return decode_action(self.p, joint, est)

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass


def compare(p: FederatedParams, steps: int, seed: int, eval_seeds: list[int], *,
            frames: int | None = None, progress: bool = True,
            out_dir: Path | None = None) -> dict[str, Any]:
    """Train both structures for the same ``steps`` frames (same hyper-parameters, same seed)
    and play each greedily on the ``eval_seeds`` instances for ``p.frames`` frames: the mean
    cumulative utility (sum of perf) of the one multi-head policy and of the N + 2 agents."""
    import time

    import torch
    from stable_baselines3 import PPO

    from twinbed.scenarios.federated.dmo import HYPERPARAMS, DmoPolicy
    from twinbed.scenarios.federated.simulate import run_episode

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    single = PPO("MlpPolicy", FederatedEnv(p, frames=frames), seed=seed, device="cpu", verbose=0,
                 **HYPERPARAMS)
    single.learn(steps, progress_bar=False)
    t1 = time.perf_counter()
    agents = train_agents(p, steps, seed, frames=frames, progress=progress, out_dir=out_dir)
    t2 = time.perf_counter()

    def score(policy: Any) -> float:
        return float(np.mean([sum(r["perf"] for r in run_episode(p, "dmo", s, p.frames, policy))
                              for s in eval_seeds]))

    return {"steps": steps, "seed": seed, "eval_seeds": eval_seeds, "frames": p.frames,
            "single_policy_utility": score(DmoPolicy(p, single)),
            "n_plus_2_agents_utility": score(MultiAgentDmoPolicy(p, agents)),
            "single_train_s": t1 - t0, "agents_train_s": t2 - t1}
