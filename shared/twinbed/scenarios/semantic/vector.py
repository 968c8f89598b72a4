"""n copies of :class:`~twinbed.scenarios.semantic.env.SemanticSyncEnv` stepped as one numpy
batch: a gymnasium ``VectorEnv`` (next-step autoreset, as ``SyncVectorEnv``'s default).

Every copy's episode is exactly N slots and never terminates, so copies reset together stay
in step: each keeps its own seeding (``reset(seed=s)`` seeds copy i with s + i, later episodes
draw from its own ``np_random``) and its own world, drawn at reset; a step evaluates eqs.
(5)-(22) for all copies at once with the single env's elementwise operations and per-row
reductions. Observations, rewards, flags and infos equal a ``SyncVectorEnv`` of single envs
bit for bit (tests/scenarios/test_semantic_fastpath.py).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from twinbed.scenarios.semantic.env import SemanticSyncEnv, _Episode, _sum_last
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import draw_cycles

__all__ = ["SemanticVectorEnv"]


class SemanticVectorEnv(gym.vector.VectorEnv):
    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, params: SemanticParams | None = None,
                 reward: str = "sampled") -> None:
        if num_envs < 1:
            raise ValueError(f"expected num_envs >= 1, got {num_envs}")
        self.envs = [SemanticSyncEnv(params, reward) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.params = self.envs[0].params
        self.reward_mode = reward
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._c = self.envs[0]._c
        self._n = 0
        self._autoreset = False
        self._tables: dict[str, np.ndarray] = {}

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None or isinstance(seed, int):
            seeds: list[int | None] = [None if seed is None else seed + i
                                       for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        return self._reset_all(seeds, options)

    def _reset_all(self, seeds: list[int | None], options: dict[str, Any] | None
                   ) -> tuple[np.ndarray, dict[str, Any]]:
        """Each copy's reset (its seeding, its run seed from its own np_random, as
        SemanticSyncEnv.reset), then every copy's cycle drawn in one pass (draw_cycles)."""
        run_seeds = []
        for env, s in zip(self.envs, seeds, strict=True):
            gym.Env.reset(env, seed=s)
            rs = (options or {}).get("run_seed")
            run_seeds.append(int(env.np_random.integers(0, 2**31 - 1)) if rs is None else int(rs))
        ep = _Episode(self.params, self._c, *draw_cycles(self.params, run_seeds),
                      self.envs[0]._nodes if self.reward_mode == "expected" else None)
        self._tables = {"obs": ep.obs, "D": ep.D, "ts": ep.ts, "es": ep.es, "CD": ep.CD,
                        "gain": ep.gain}
        self._n = 0
        self._autoreset = False
        every = np.ones(self.num_envs, dtype=np.bool_)
        return ep.obs[:, 0].copy(), {"run_seed": np.array(run_seeds), "_run_seed": every}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 dict[str, Any]]:
        n_env, p, c, tb, i = self.num_envs, self.params, self._c, self._tables, self._n
        if not tb:
            raise RuntimeError("call reset() before step()")
        if self._autoreset:  # the step after the cycle's last: every copy resets, no action
            obs, infos = self._reset_all([None] * n_env, None)
            none = np.zeros(n_env, dtype=np.bool_)
            return obs, np.zeros(n_env), none, none.copy(), infos
        K = p.K
        a = np.asarray(actions, dtype=float).reshape(n_env, 4, K)
        u = 0.5 * (np.minimum(np.maximum(a, -1.0), 1.0) + 1.0)
        lin = c.low3 + u[:, :3] * c.width3
        phi, f_hz, p_w = lin[:, 0], lin[:, 1], lin[:, 2]
        w = c.R ** u[:, 3]
        f_e = c.f_e_max * w / _sum_last(w)[:, None]
        D = tb["D"][:, i]
        lam = D / phi ** c.x
        ten = c.C * lam / f_hz
        u_bps = c.b * np.log2(1.0 + p_w[:, None, :] * tb["gain"][:, i] / c.sigma2)
        tup = (D * phi)[:, None, :] / u_bps
        tde = tb["CD"][:, i] * phi ** c.one_minus_y / f_e
        tdt = ten[:, None, :] + tup + tde[:, None, :]
        t = tb["ts"][:, i] + tdt
        e = tb["es"][:, i] + (c.Ck * lam * f_hz ** 2)[:, None, :] + tup * p_w[:, None, :]
        T = _sum_last(t)
        P_t = c.W * _sum_last(np.maximum(0.0, tdt - c.deadline))
        P_e = c.W * _sum_last(np.maximum(0.0, e - c.E_max))
        P_f = c.W * np.maximum(0.0, _sum_last(f_e) - c.f_e_max) / 1e9
        r = -(T + P_t + P_e + P_f[:, None])
        r0 = r[:, 0].copy()
        reward = r0 if self.reward_mode == "sampled" else np.mean(
            np.ascontiguousarray(r[:, 1:]), axis=-1)
        every = np.ones(n_env, dtype=np.bool_)
        infos = {
            "T_s": T[:, 0].copy(), "latency_s": T[:, 0] / K, "P_t": P_t[:, 0].copy(),
            "P_e": P_e[:, 0].copy(), "P_f": P_f, "phi_mean": _sum_last(phi) / K,
            "violations": np.count_nonzero((tdt[:, 0] > c.deadline) | (e[:, 0] > c.E_max),
                                           axis=-1).astype(int),
            "reward_sampled": r0.copy(),
        }
        infos.update({f"_{k}": every.copy() for k in list(infos)})
        self._n += 1
        truncated = self._n >= p.N
        if truncated:
            self._autoreset = True
        else:
            i = self._n
        return (tb["obs"][:, i].copy(), np.asarray(reward, dtype=np.float64),
                np.zeros(n_env, dtype=np.bool_), np.full(n_env, truncated), infos)
