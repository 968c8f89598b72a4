"""The BS's sync decision as a gymnasium environment (Section III-C of the seed).

``NetworkTwinEnv(params, predictor, action="discrete"|"continuous")``

- Action: ``Discrete(2)`` (1 = send the network state to the cloud on RB R) for DQN, or
  ``Box(-1, 1, (1,))`` with sync iff ``a > 0`` for SAC (stable-baselines3's SAC is continuous
  only; the relaxation is a threshold on a continuous action, see README.md).
- Observation (``Box``, float32, 4U + 3): the users' positions ``s_t`` / (area / 2) (2U), the
  last state sent to the cloud / (area / 2) (2U), slots since that sync / episode length
  (clipped to 1), the weighted rate a sync would cost this slot ``eps (c_nosync - c_sync)`` / 10
  (clipped to [0, 10]), and 1 if an RB meets the delay bound gamma (else a sync is impossible).
  The twin's error itself is not observed: the BS does not know the twin's future status.
- Reward: eq. (17) if the slot synced, eq. (15) otherwise (the RBs of the users are the
  Hungarian optimum either way).
- Episode: ``episode_slots`` slots from random starting positions (truncated, never terminated).
  All randomness comes from ``self.np_random``: reset draws an episode seed whose named child
  streams drive mobility and channels, as in :mod:`simulate`.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np

from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.simulate import NetworkSim, Predictor

__all__ = ["NetworkTwinEnv", "action_to_sync", "observation"]

COST_SCALE = 10.0


def observation(p: NetworkTwinParams, state: dict[str, Any]) -> np.ndarray:
    """The learned agents' observation of a decision state (see the module docstring)."""
    pos = np.asarray(state["positions"], dtype=float).ravel() / p.half_blocks
    last = np.asarray(state["last_sync"], dtype=float).ravel() / p.half_blocks
    age = min(1.0, float(state["unsynced"]) / p.episode_slots)
    cost = p.epsilon * (float(state["rate_nosync"]) - float(state["rate_sync"])) / COST_SCALE
    extra = [age, float(np.clip(cost, 0.0, 10.0)), 1.0 if state["feasible"] else 0.0]
    return np.concatenate([pos, last, extra]).astype(np.float32)


def action_to_sync(action: Any) -> bool:
    """Discrete 1, or a continuous action above 0, means sync."""
    a = np.asarray(action)
    if np.issubdtype(a.dtype, np.floating):
        return bool(a.reshape(-1)[0] > 0.0)
    return bool(int(a.reshape(-1)[0]) == 1)


class NetworkTwinEnv(gym.Env[np.ndarray, Any]):
    metadata = {"render_modes": []}

    def __init__(self, params: NetworkTwinParams, predictor: Predictor,
                 action: Literal["discrete", "continuous"] = "discrete") -> None:
        if action not in ("discrete", "continuous"):
            raise ValueError(f"expected action 'discrete' or 'continuous', got {action!r}")
        self.p = params
        self.predictor = predictor
        self.action_kind = action
        self.action_space: gym.Space[Any] = (
            gym.spaces.Discrete(2) if action == "discrete"
            else gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32))
        U = params.U
        low = np.concatenate([-np.ones(4 * U), [0.0, 0.0, 0.0]]).astype(np.float32)
        high = np.concatenate([np.ones(4 * U), [1.0, 10.0, 1.0]]).astype(np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.sim: NetworkSim | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        episode_seed = int(self.np_random.integers(0, 2**62))
        self.sim = NetworkSim(self.p, episode_seed, self.predictor)
        return observation(self.p, self.sim.state()), {"episode_seed": episode_seed}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.sim is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)
                                          if self.action_kind == "continuous" else action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        rec = self.sim.step(action_to_sync(action))
        info = {k: rec[k] for k in ("synced", "sum_rate", "err_sq", "cloud_rb")}
        truncated = self.sim.slot >= self.p.episode_slots
        return (observation(self.p, self.sim.state()), float(rec["reward"]), False, truncated,
                info)
