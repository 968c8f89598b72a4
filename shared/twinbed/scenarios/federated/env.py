"""The DMO environment: one frame per step, GS and SOCF inside, the agents' actions outside.

The paper's N + 2 PPO agents (one per ES for its resource allocation Phi_n = (z_n, l_n), A_K
and A_N for the two sides' preference lists) act on the same frame; their actions together are
one MultiDiscrete action. :mod:`twinbed.scenarios.federated.dmo` trains them as N + 2 separate
PPO agents with their own rewards (DMO); :mod:`twinbed.scenarios.federated.dmo_shared` trains
one SB3 policy with a categorical head per action on this env's team reward (a comparison).

Action (MultiDiscrete, length 3N + K):

======================  ===========================  =====================================
slice                   meaning                      values
======================  ===========================  =====================================
``[0:N]``               rounds level of ES agent n   l_n = ceil((i + 1) l_max / ELL_LEVELS)
``[N:2N]``              z_n - 1, ES agent n          0 .. z_levels - 1
``[2N:2N+K]``           A_K: first choice of k       an ES index
``[2N+K:]``             A_N: first choice of n       a partial-DT index
======================  ===========================  =====================================

Preference lists: each partial-DT (ES) ranks its first choice first and the rest by the
frame's utility estimate; GS then matches them. (A full ranking per agent as a K x N grid of
ranking values made 2KN + 2N categorical heads, too many for PPO to assign credit to in a
budget of minutes.)

Observation (Box, float32): importance weights (K), log-normalized cumulative data (K), last
assignment one-hot (K*N), ES CPU speeds / f_max (N), last coalition sizes / Z_max (N), the
utility estimate normalized (K*N), t / T (1).

Reward: the frame's performance minus the frame-time penalty (eqs. 23-24, 37-38 with zeta),
times ``reward_scale``. The episode ends (truncation) after ``frames`` frames.

Speed (issue 15): the env draws an episode's frames at reset and plays each frame with the
frame-only terms computed then (:mod:`.episode`); ``FederatedEnv(reference=True)`` keeps the
frame-by-frame path (draw, estimate, :func:`~.world.play_frame` per step), which
``tests/scenarios/test_federated_envfast.py`` compares it with, bit for bit. The centralized
framework (``framework="cen"``) always takes the frame-by-frame path.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.algorithms import Decision, View, utility_estimate
from twinbed.scenarios.federated.episode import Episode
from twinbed.scenarios.federated.episode import frame_ctx as episode_frame_ctx
from twinbed.scenarios.federated.games import gale_shapley, socf
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import FrameResult, frame_record, play_frame
from twinbed.seeding import rng

__all__ = ["ELL_LEVELS", "FederatedEnv", "PREF_LEVELS", "action_nvec", "ell_of_level",
           "decode_action", "observation", "obs_size"]

PREF_LEVELS = 3
ELL_LEVELS = 4
OBS_HIGH = 10.0


def obs_size(p: FederatedParams) -> int:
    return 2 * p.K + 2 * p.K * p.N + 2 * p.N + 1


def _norm_estimate(est: np.ndarray) -> np.ndarray:
    lo, hi = float(est.min()), float(est.max())
    return (est - lo) / (hi - lo) if hi > lo else np.zeros_like(est)


def observation(v: View, est: np.ndarray) -> np.ndarray:
    p, st = v.p, v.state
    onehot = np.zeros((p.K, p.N))
    if (st.assign >= 0).all():
        onehot[np.arange(p.K), st.assign] = 1.0
    obs = np.concatenate([
        v.frame.omega, np.log1p(st.D_bits * p.varpi_per_bit) / 5.0, onehot.ravel(),
        v.inst.f_hz / p.f_max_hz, st.Y.sum(axis=0) / p.Z_max, _norm_estimate(est).ravel(),
        [st.t / max(1, p.frames)],
    ])
    return np.clip(obs, 0.0, OBS_HIGH).astype(np.float32)


def action_nvec(p: FederatedParams) -> list[int]:
    return [ELL_LEVELS] * p.N + [p.z_levels] * p.N + [p.N] * p.K + [p.K] * p.N


def ell_of_level(p: FederatedParams, level: np.ndarray) -> np.ndarray:
    return np.ceil((np.asarray(level) + 1) * p.ell_max / ELL_LEVELS).astype(int)


def decode_action(p: FederatedParams, action: np.ndarray, est: np.ndarray,
                  prior: np.ndarray | None = None) -> Decision:
    """The frame's decision of a joint action; ``prior``: ``_norm_estimate(est)`` if the
    caller has it."""
    a = np.asarray(action, dtype=int)
    N, K = p.N, p.K
    ell = ell_of_level(p, a[:N])
    z = a[N:2 * N] + 1
    if prior is None:
        prior = _norm_estimate(est)  # in [0, 1]
    sk = prior.copy()
    sk[np.arange(K), a[2 * N:2 * N + K]] += PREF_LEVELS
    sn = prior.T.copy()
    sn[np.arange(N), a[2 * N + K:]] += PREF_LEVELS
    return Decision(gale_shapley(sk, sn), z, ell, None)


class FederatedEnv(gym.Env[np.ndarray, np.ndarray]):
    """Frames of the federated scenario; a new random instance per episode (see module doc)."""

    metadata = {"render_modes": []}

    def __init__(self, params: FederatedParams | None = None, frames: int | None = None,
                 reward_scale: float = 0.1, framework: str = "federated",
                 reference: bool = False) -> None:
        super().__init__()
        self.p = params or FederatedParams()
        # the frame-by-frame path (tests, bench); the centralized framework always takes it
        self.reference = reference or framework == "cen"
        self.frames = frames or self.p.frames
        self.reward_scale = reward_scale
        self.framework = framework
        p = self.p
        self.action_space = spaces.MultiDiscrete(action_nvec(p))
        self._nvec = np.asarray(action_nvec(p))
        self.observation_space = spaces.Box(0.0, OBS_HIGH, (obs_size(p),), np.float32)
        self._seed = 0
        self._view: View | None = None
        self._est: np.ndarray | None = None
        self._prior: np.ndarray | None = None
        self._ep: Episode | None = None
        # the parameters SOCF and the outcome see (play_frame's q: Y_max = 1 for NOV)
        self._q = p if framework != "nov" else p.model_copy(update={"Y_max": 1})

    def _observe(self) -> np.ndarray:
        if self._ep is not None:
            return self._observe_fast(self._ep)
        frame = model.draw_frame(self.p, self.inst, self._seed, self.state.t)
        self._view = View(self.p, self.inst, frame, self.state, np.random.default_rng(0))
        self._est = utility_estimate(self._view)
        return observation(self._view, self._est)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._seed = int((options or {}).get("instance_seed", self.np_random.integers(2**31)))
        self.inst = model.draw_instance(self.p, self._seed)
        self.state = model.initial_state(self.p)
        if not self.reference:
            self._ep = Episode(self.p, self.inst, self._seed, self.frames)
        return self._observe(), {"instance_seed": self._seed}

    def _observe_fast(self, ep: Episode) -> np.ndarray:
        """:meth:`_observe` from the episode's draws (the same numbers)."""
        from twinbed.scenarios.federated.socf_fast import observe_prepared

        st = self.state
        i = ep.at(st.t)
        self._view = None  # built when asked for (frame_view, _current)
        obs, self._est, self._prior = observe_prepared(
            self.p, ep.top[i], ep.omega[i], st, float(ep.est_acc), ep.est_e_bit, ep.f_obs,
            OBS_HIGH)
        return obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._ep is not None and self._prior is not None:
            a = np.asarray(action, dtype=int)
            if a.shape == self._nvec.shape and (a >= 0).all() and (a < self._nvec).all():
                from twinbed.scenarios.federated.socf_fast import decode_kernel

                p = self.p
                assign = np.empty(p.K, dtype=int)
                ell = np.empty(p.N, dtype=int)
                z = np.empty(p.N, dtype=int)
                decode_kernel(a, self._prior, p.ell_max, ELL_LEVELS, float(PREF_LEVELS), assign,
                              ell, z)
                return self.step_decision(Decision(assign, z, ell, None))
        return self.step_decision(decode_action(self.p, action, self.estimate, self._prior))

    @property
    def estimate(self) -> np.ndarray:
        """The current frame's utility estimate (what the action decodes against)."""
        if self._est is None:
            raise RuntimeError("call reset() before step()")
        return self._est

    def _current(self) -> View:
        if self._view is None and self._ep is not None and self._est is not None:
            self._view = View(self.p, self.inst, self._ep.frame(self.state.t), self.state,
                              np.random.default_rng(0))
        if self._view is None:
            raise RuntimeError("call reset() before step()")
        return self._view

    def frame_view(self) -> View:
        """The current frame as a decision maker sees it, with the frame's SOCF random stream
        (the one :func:`~twinbed.scenarios.federated.world.play_frame` uses)."""
        return View(self.p, self.inst, self._current().frame, self.state,
                    rng(self._seed, "federated", "socf", self.state.t))

    def step_decision(self, d: Decision) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One frame with a decoded decision (``d.Y`` given: the coalitions too, no SOCF)."""
        if self._ep is not None:
            res, self.state = self._play_fast(self._ep, d)
        else:
            res, self.state = play_frame(self.p, self.inst, self._current().frame, self.state,
                                         _Fixed(d), self.framework, self._seed)
        info = frame_record(self.state.t - 1, res)
        info["U_n"] = res.outcome.U_n.tolist()  # per-ES utilities: the ES agents' rewards (37)
        reward = float(res.outcome.reward) * self.reward_scale
        truncated = self.state.t >= self.frames
        return self._observe(), reward, False, truncated, info

    def _play_fast(self, ep: Episode, d: Decision) -> tuple[FrameResult, model.State]:
        """:func:`~.world.play_frame` of decision ``d`` on the episode's frame (the same
        numbers): SOCF in the env's framework unless ``d.Y`` is given, then eqs. (2)-(25)."""
        if self._est is None:
            raise RuntimeError("call reset() before step()")
        q, st = self._q, self.state
        t = st.t
        pre = episode_frame_ctx(q, ep, t, st, d.assign, d.z, d.ell)
        fc = pre.fc
        res = None
        passes = 0
        if d.Y is None:
            from twinbed.scenarios.federated.socf_fast import socf_init_prepared

            g = ep.socf_g[ep.at(t)]
            Y0 = socf_init_prepared(q, pre, g, q.Y_max)
            if q.protect_members:  # rule (iii) takes SOCF's numpy form
                res = socf(q, fc, Y0, g)
                Y, passes = res.Y, res.passes
            else:  # the same partition and passes, without the potentials' record
                from twinbed.scenarios.federated.socf_fast import socf_prepared

                Y, passes = socf_prepared(q, pre, Y0, g, q.Y_max)
        else:
            Y = d.Y
        from twinbed.scenarios.federated.socf_fast import evaluate_prepared

        out, nxt = evaluate_prepared(q, pre, ep.omega[ep.at(t)], st, d.assign, Y)
        return FrameResult(d, Y, out, res, passes), nxt


class _Fixed:
    """A policy that plays one given decision (the env's action)."""

    def __init__(self, d: Decision) -> None:
        self.d = d

    def act(self, v: View) -> Decision:
        return self.d

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass
