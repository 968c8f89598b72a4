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

Speed: ``reset`` draws the whole cycle (:class:`~world.SemanticWorld`, one vectorized pass)
and precomputes what does not depend on the action (observations, sensing time and energy,
channel gains at the realized fading and at the ``FADING_NODES`` nodes); ``step`` evaluates
eqs. (5)-(22) with the same elementwise operations in the same order as
:func:`model.slot`, so observations, rewards and info equal the slot-by-slot path's bit for bit
(``SemanticSyncEnv(reference=True)``, kept for tests/scenarios/test_semantic_fastpath.py and
the bench).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.algorithms import (
    OBS_BOUND,
    action_from_vector,
    edge_share_ratio,
    f_lower_hz,
    observation,
    observations,
)
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import SemanticWorld, SemanticWorldReference, SlotState

__all__ = ["FADING_NODES", "REWARD_MODES", "SemanticSyncEnv", "fading_nodes", "make_env"]

FADING_NODES = 32
REWARD_MODES = ("sampled", "expected")


def fading_nodes(n: int = FADING_NODES) -> np.ndarray:
    """|g|^2 at the midpoints (m - 1/2)/n of n equal-probability bins of Exp(1), shape (n, 1)."""
    return -np.log1p(-(np.arange(n) + 0.5) / n)[:, None]


class SemanticSyncEnv(gym.Env[np.ndarray, np.ndarray]):
    metadata = {"render_modes": []}

    def __init__(self, params: SemanticParams | None = None, reward: str = "sampled",
                 reference: bool = False) -> None:
        if reward not in REWARD_MODES:
            raise ValueError(f"expected reward in {REWARD_MODES}, got {reward!r}")
        self.params = params if params is not None else SemanticParams()
        self.reward_mode = reward
        self.reference = reference
        self._nodes = fading_nodes()
        K = self.params.K
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (2 * K,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4 * K,), np.float32)
        self._world: SemanticWorld | None = None
        self._n = 0
        self._state: SlotState | None = None
        self._c = _Constants(self.params)
        self._ep: _Episode | None = None
        self._i = 0  # the slot the fast path's state is at

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        opts = options or {}
        run_seed = opts.get("run_seed")
        if run_seed is None:
            run_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._n = 0
        if self.reference:
            self._world = SemanticWorldReference(self.params, int(run_seed))
            self._state = self._world.slot(0)
            return observation(self.params, self._state), {"run_seed": int(run_seed)}
        self._world = SemanticWorld(self.params, int(run_seed))
        self._ep = _Episode(self.params, self._c, *self._world.slots(self.params.N),
                            self._nodes if self.reward_mode == "expected" else None)
        self._i = 0
        return self._ep.obs[0].copy(), {"run_seed": int(run_seed)}

    @property
    def state(self) -> SlotState:
        if self._world is None:
            raise RuntimeError("call reset() before step()")
        if self.reference:
            assert self._state is not None
            return self._state
        return self._world.slot(self._i)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.reference:
            return self._step_reference(action)
        ep, c, p, i = self._ep, self._c, self.params, self._i
        if ep is None:
            raise RuntimeError("call reset() before step()")
        # action_from_vector: u = (a + 1)/2; phi, f, p = low + u * width (rows 0-2);
        # f_e = f_e^max w / sum(w), w = R^u (row 3)
        a = np.asarray(action, dtype=float).reshape(4, p.K)
        u = 0.5 * (np.minimum(np.maximum(a, -1.0), 1.0) + 1.0)
        lin = c.low3 + u[:3] * c.width3
        phi, f_hz, p_w = lin[0], lin[1], lin[2]
        w = c.R ** u[3]
        f_e = c.f_e_max * w / _sum(w)
        # model.slot, term by term; the rows of gain are the realized fading (row 0) and,
        # for reward="expected", the FADING_NODES nodes
        D = ep.D[i]
        lam = D / phi ** c.x
        ten = c.C * lam / f_hz
        u_bps = c.b * np.log2(1.0 + p_w * ep.gain[i] / c.sigma2)
        tup = D * phi / u_bps
        tde = ep.CD[i] * phi ** c.one_minus_y / f_e
        tdt = ten + tup + tde
        t = ep.ts[i] + tdt
        e = ep.es[i] + c.Ck * lam * f_hz ** 2 + tup * p_w
        T = _sum_last(t)
        P_t = c.W * _sum_last(np.maximum(0.0, tdt - c.deadline))
        P_e = c.W * _sum_last(np.maximum(0.0, e - c.E_max))
        P_f = c.W * np.maximum(0.0, _sum(f_e) - c.f_e_max) / 1e9
        r = -(T + P_t + P_e + P_f)
        T0, r0 = float(T[0]), float(r[0])
        info = {
            "T_s": T0, "latency_s": T0 / p.K, "P_t": float(P_t[0]), "P_e": float(P_e[0]),
            "P_f": float(P_f), "phi_mean": float(_sum(phi)) / p.K,
            "violations": int(np.count_nonzero((tdt[0] > c.deadline) | (e[0] > c.E_max))),
            "reward_sampled": r0,
        }
        reward = r0 if ep.nodes is None else float(np.mean(r[1:]))
        self._n += 1
        truncated = self._n >= p.N
        if not truncated:
            self._i = self._n
        return ep.obs[self._i].copy(), reward, False, truncated, info

    def _step_reference(self, action: np.ndarray
                        ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """The slot-by-slot step (model.slot on the world's SlotState) the fast path equals."""
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


_sum = np.add.reduce  # np.sum of a vector without its Python wrapper (the same reduction)


def _sum_last(x: np.ndarray) -> np.ndarray:
    """np.sum(x, axis=-1), the same reduction."""
    return np.add.reduce(x, axis=-1)


class _Constants:
    """The parameters model.slot and action_from_vector read, as floats computed the way they
    compute them (once per environment instead of per step)."""

    def __init__(self, p: SemanticParams) -> None:
        f_lo = f_lower_hz(p)
        # phi_min + u (1 - phi_min), f_lo + u (f_max - f_lo), p_min + u (p_max - p_min)
        self.low3 = np.array([p.phi_min, f_lo, p.p_min_w])[:, None]
        self.width3 = np.array([1.0 - p.phi_min, p.f_u_max_hz - f_lo, p.p_max_w - p.p_min_w]
                               )[:, None]
        self.R = edge_share_ratio(p)
        self.f_e_max = p.f_e_max_hz
        self.x, self.one_minus_y = p.x, 1.0 - p.y
        self.C, self.Ck = p.C_cycles_per_bit, p.C_cycles_per_bit * p.k_loc
        self.b = np.asarray(p.B_hz / p.K, dtype=float)
        self.sigma2 = p.sigma2_w
        self.W, self.deadline, self.E_max = p.W, p.deadline_s, p.E_max_j


class _Episode:
    """One cycle's action-independent terms, (..., N, ...) each (any leading axes: a batch of
    envs): observations, D, sensing time t^s = D / v^s and energy e^s = p^s D, C D (eq. 14's
    numerator) and the channel gains beta_0 d^-alpha |g|^2, (..., N, 1 + nodes, K): the
    realized fading first."""

    def __init__(self, p: SemanticParams, c: _Constants, d: np.ndarray, D: np.ndarray,
                 h2: np.ndarray, nodes: np.ndarray | None) -> None:
        self.nodes = nodes
        self.obs = observations(p, d, D)
        self.D = D
        self.ts = model.t_sense(p, D)[..., None, :]
        self.es = model.e_sense(p, D)[..., None, :]
        self.CD = c.C * D
        g = h2[..., None, :] if nodes is None else np.concatenate(
            [h2[..., None, :], np.broadcast_to(nodes, (*h2.shape[:-1], len(nodes), p.K))],
            axis=-2)
        self.gain = model.channel_gain(p, d[..., None, :], g)


def make_env(params: SemanticParams | None = None, reward: str = "sampled",
             reference: bool = False) -> SemanticSyncEnv:
    return SemanticSyncEnv(params, reward, reference)
