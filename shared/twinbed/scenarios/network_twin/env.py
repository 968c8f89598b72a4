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
  streams drive mobility and channels, as in :mod:`world` (the same slots a run plays).

Speed: the world draws an episode's physical slots at reset (world.NetworkWorld) and the step
builds the observation from arrays, not from a validated ``SyncState``; observations, rewards
and info equal the slot-by-slot path's (``reference=True``) bit for bit
(tests/scenarios/test_network_twin_fastpath.py).
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np

from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.policies import action_to_sync, observation
from twinbed.scenarios.network_twin.world import NetworkWorld, NetworkWorldReference, Predictor

__all__ = ["NetworkTwinEnv", "action_to_sync", "observation"]


class NetworkTwinEnv(gym.Env[np.ndarray, Any]):
    metadata = {"render_modes": []}

    def __init__(self, params: NetworkTwinParams, predictor: Predictor,
                 action: Literal["discrete", "continuous"] = "discrete",
                 reference: bool = False) -> None:
        if action not in ("discrete", "continuous"):
            raise ValueError(f"expected action 'discrete' or 'continuous', got {action!r}")
        self.p = params
        self.predictor = predictor
        self.action_kind = action
        self.reference = reference
        self.action_space: gym.Space[Any] = (
            gym.spaces.Discrete(2) if action == "discrete"
            else gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32))
        U = params.U
        low = np.concatenate([-np.ones(4 * U), [0.0, 0.0, 0.0]]).astype(np.float32)
        high = np.concatenate([np.ones(4 * U), [1.0, 10.0, 1.0]]).astype(np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.sim: NetworkWorld | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        episode_seed = int(self.np_random.integers(0, 2**62))
        if self.reference:
            self.sim = NetworkWorldReference(self.p, episode_seed, self.predictor)
            return observation(self.p, self.sim.state()), {"episode_seed": episode_seed}
        self.sim = NetworkWorld(self.p, episode_seed, self.predictor)
        return self.sim.observation(), {"episode_seed": episode_seed}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.reference:
            return self._step_reference(action)
        sim = self.sim
        if sim is None:
            raise RuntimeError("call reset() before step()")
        if type(action) is int and self.action_kind == "discrete" and 0 <= action <= 1:
            sync = action == 1  # what the checks below conclude for a plain int
        else:
            if not self.action_space.contains(
                    np.asarray(action, dtype=self.action_space.dtype)
                    if self.action_kind == "continuous" else action):
                raise ValueError(f"action {action!r} is not in {self.action_space}")
            sync = action_to_sync(action)
        synced, rate, err, reward, cloud_rb, _ = sim.advance(sync)
        info = {"synced": synced, "sum_rate": rate, "err_sq": err, "cloud_rb": cloud_rb}
        truncated = sim.slot >= self.p.episode_slots
        return sim.observation(), reward, False, truncated, info

    def _step_reference(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """The step on the validated records (NetworkWorld.step, SyncState) the fast path
        equals."""
        if self.sim is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)
                                          if self.action_kind == "continuous" else action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        rec = self.sim.step(action_to_sync(action))
        info = {"synced": rec.synced, "sum_rate": rec.sum_rate, "err_sq": rec.err_sq,
                "cloud_rb": rec.cloud_rb}
        truncated = self.sim.slot >= self.p.episode_slots
        return observation(self.p, self.sim.state()), rec.reward, False, truncated, info
