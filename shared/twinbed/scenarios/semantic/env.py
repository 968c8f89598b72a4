"""The gymnasium environment of the paper's MDP (Section IV-A).

``SemanticSyncEnv(params)`` is one cycle of N slots of K mobile UDs.

* Observation ``Box(-10, 10, (2K,), float32)``: S[n] of eq. (20), centred and scaled
  (:func:`~twinbed.scenarios.semantic.algorithms.observation`).
* Action ``Box(-1, 1, (4K,), float32)``: eq. (21) as four blocks of K, mapped by
  :func:`~twinbed.scenarios.semantic.algorithms.action_from_vector` to phi in [phi_min, 1],
  f in [f_lo, f_u^max], p in [p_min, p_max] and edge shares f_e (sum = f_e^max).
* Reward: eq. (22), r = -T[n] - P (penalties only for violations, model.slot), at the slot's
  realized fading (``reward="sampled"``, the default), or (``reward="expected"``, what the
  learners train on, README.md) its mean over the Rayleigh fading the state does not show:
  the midpoint rule on ``FADING_NODES`` quantiles of |g|^2 ~ Exp(1). Every term of (22) but
  P_f is a sum of per-UD terms, so one node for all UDs at once gives each UD's mean.
* Episode: N slots; ``truncated`` after slot N-1 (the cycle ends; the state is not terminal),
  never ``terminated``.
* info: ``T_s`` (T[n]), ``latency_s`` (T[n]/K), ``P_t``, ``P_e``, ``P_f``, ``phi_mean``,
  ``violations`` (UDs missing (16) or (19d)), ``reward_sampled`` (eq. 22 at the realized
  fading, whatever the reward mode).

Randomness: ``reset(seed=...)`` seeds ``self.np_random``, which draws the world's root seed;
``reset(options={"run_seed": s})`` plays exactly the world of a run with seed ``s`` (the same
named streams as the in-process runs and the live services, world.py).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.algorithms import OBS_BOUND, action_from_vector, observation
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import SemanticWorld, SlotState

__all__ = ["FADING_NODES", "REWARD_MODES", "SemanticSyncEnv", "fading_nodes", "make_env"]

FADING_NODES = 32
REWARD_MODES = ("sampled", "expected")


def fading_nodes(n: int = FADING_NODES) -> np.ndarray:
    """|g|^2 at the midpoints (m - 1/2)/n of n equal-probability bins of Exp(1), shape (n, 1)."""
    return -np.log1p(-(np.arange(n) + 0.5) / n)[:, None]


class SemanticSyncEnv(gym.Env[np.ndarray, np.ndarray]):
    metadata = {"render_modes": []}

    def __init__(self, params: SemanticParams | None = None, reward: str = "sampled") -> None:
        if reward not in REWARD_MODES:
            raise ValueError(f"expected reward in {REWARD_MODES}, got {reward!r}")
        self.params = params if params is not None else SemanticParams()
        self.reward_mode = reward
        self._nodes = fading_nodes()
        K = self.params.K
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (2 * K,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4 * K,), np.float32)
        self._world: SemanticWorld | None = None
        self._n = 0
        self._state: SlotState | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        opts = options or {}
        run_seed = opts.get("run_seed")
        if run_seed is None:
            run_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._world = SemanticWorld(self.params, int(run_seed))
        self._n = 0
        self._state = self._world.slot(0)
        return observation(self.params, self._state), {"run_seed": int(run_seed)}

    @property
    def state(self) -> SlotState:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        return self._state

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        p, s = self.params, self.state
        act = action_from_vector(p, action)
        out = model.slot(p, s.D_bits, s.d_m, s.h2, *act)
        info = {
            "T_s": float(out.T), "latency_s": float(out.T) / p.K, "P_t": float(out.P_t),
            "P_e": float(out.P_e), "P_f": float(out.P_f), "phi_mean": float(np.mean(act.phi)),
            "violations": int(np.sum((out.t_dt > p.deadline_s) | (out.e > p.E_max_j))),
            "reward_sampled": float(out.reward),
        }
        reward = float(out.reward)
        if self.reward_mode == "expected":
            reward = float(np.mean(model.slot(p, s.D_bits, s.d_m, self._nodes, *act).reward))
        if self._world is None:
            raise RuntimeError("call reset() before step()")
        self._n += 1
        truncated = self._n >= p.N
        if not truncated:
            self._state = self._world.slot(self._n)
        return observation(p, self.state), reward, False, truncated, info


def make_env(params: SemanticParams | None = None, reward: str = "sampled") -> SemanticSyncEnv:
    return SemanticSyncEnv(params, reward)
