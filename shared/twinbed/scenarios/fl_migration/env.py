"""The association MDP of Section IV-A as a gymnasium environment.

``FlMigrationEnv(params, instance_seed, episode_slots, continuous)``: one scenario instance
(edge servers, their q_s/p_s/eps_s, the users' twins: ``draw_instance(params,
instance_seed)``); each episode draws a new user trajectory from ``self.np_random``.

Action (a[t] = kappa^t):
    discrete (``ppo``, ``actor-critic``): ``MultiDiscrete([S] * U)``, the server of each twin;
    continuous (``ddpg``): ``Box(-1, 1, (U * S,))`` scores, decoded by
    :func:`algorithms.feasible_assign` (each twin to its best-scored server that still fits).
The historical-data ratios gamma^t are then the exact solution of (26) (allocation.py).

Observation (``Box(0, 1, (5U + 2S + 2US,))``, float32), the state s[t] of the paper:
    ==========  =====  ==========================================================
    slice       size   content
    ==========  =====  ==========================================================
    user_xy     2U     user positions / area side
    es_xy       2S     edge server positions / area side
    emd         U      phi_u / 2
    n_new       U      D_{u,t} in samples / new_samples_high
    n_prev      U      D_{u,t-1} in samples / new_samples_high
    assoc       US     kappa^{t-1} one-hot (where each twin is now)
    dist        US     Manhattan distance user-server / (2 area side)
    ==========  =====  ==========================================================

Reward: r[t] of eq. (25) (objective (22) minus the log barriers of C2 and C3, continued
linearly near the boundary so that an infeasible action costs a finite, steep penalty).
Episode: ``episode_slots`` slots, then ``truncated``; never ``terminated``.
``info``: objective, utility, cost_total, cost_norm, feasible, migrations, gamma_mean.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from twinbed.scenarios.fl_migration import algorithms, model
from twinbed.scenarios.fl_migration.allocation import allocate_fast
from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["FlMigrationEnv", "decode", "observe"]

INFO_KEYS = ("objective", "utility", "cost_total", "cost_norm", "migrations", "gamma_mean")


def observe(p: FlMigrationParams, inst: model.Instance, st: model.SlotState) -> np.ndarray:
    """The observation vector of a slot state (see the module docstring)."""
    S = inst.es_xy.shape[0]
    onehot = np.zeros((p.U, S))
    onehot[np.arange(p.U), st.prev_assoc] = 1.0
    dist = model.manhattan(st.user_xy[:, None, :], inst.es_xy[None, :, :]) / (2 * p.area_m)
    parts = [st.user_xy.ravel() / p.area_m, inst.es_xy.ravel() / p.area_m, inst.emd / 2.0,
             st.n_new / p.new_samples_high, st.n_prev / p.new_samples_high, onehot.ravel(),
             dist.ravel()]
    return np.clip(np.concatenate(parts), 0.0, 1.0).astype(np.float32)


def decode(p: FlMigrationParams, inst: model.Instance, st: model.SlotState, action: Any,
           continuous: bool) -> np.ndarray:
    """An action to a feasible-as-possible association (U,)."""
    S = inst.es_xy.shape[0]
    a = np.asarray(action)
    if not continuous:
        a = a.astype(np.int64).reshape(p.U)
        if np.any((a < 0) | (a >= S)):
            raise ValueError(f"expected servers in [0, {S}), got {a.tolist()}")
        return a
    scores = a.astype(float).reshape(p.U, S)
    return algorithms.feasible_assign(p, inst, st, -scores)


class FlMigrationEnv(gym.Env[np.ndarray, np.ndarray]):
    metadata = {"render_modes": []}

    def __init__(self, params: FlMigrationParams | None = None, instance_seed: int = 0,
                 episode_slots: int = 50, continuous: bool = False,
                 emds: tuple[float, ...] | None = None, reference: bool = False) -> None:
        super().__init__()
        self.reference = reference  # allocation's search as written before (tests, bench)
        self.params = params or FlMigrationParams()
        if episode_slots < 1:
            raise ValueError(f"expected episode_slots >= 1, got {episode_slots}")
        self.instance_seed = instance_seed
        self.episode_slots = episode_slots
        self.continuous = continuous
        self.emds = emds
        self.inst = model.draw_instance(self.params, instance_seed)
        U, S = self.params.U, self.params.S
        if continuous:
            self.action_space = spaces.Box(-1.0, 1.0, (U * S,), dtype=np.float32)
        else:
            self.action_space = spaces.MultiDiscrete(np.full(U, S, dtype=np.int64))
        self.observation_space = spaces.Box(0.0, 1.0, (5 * U + 2 * S + 2 * U * S,),
                                            dtype=np.float32)
        self.state: model.SlotState | None = None
        self._traj_seed = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._traj_seed = int(self.np_random.integers(2**31 - 1))
        if self.emds:
            emd = float(self.emds[int(self.np_random.integers(len(self.emds)))])
            self.inst = self.inst._replace(emd=np.full(self.params.U, emd))
        self.state = model.first_state(self.params, self.inst, self._traj_seed)
        return observe(self.params, self.inst, self.state), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        p, st = self.params, self.state
        assoc = decode(p, self.inst, st, action, self.continuous)
        coef = model.server_coefficients(p, self.inst, st, assoc)
        gamma = allocate_fast(p, coef, assoc, self.inst.q, self.reference).gamma
        ev = model.evaluate(p, self.inst, st, assoc, gamma)
        info = {k: ev[k] for k in (*INFO_KEYS, "feasible")}
        self.state = model.next_state(p, st, assoc, self._traj_seed)
        truncated = self.state.t >= self.episode_slots
        return observe(p, self.inst, self.state), float(ev["reward"]), False, truncated, info
