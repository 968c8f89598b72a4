"""Decision makers of the ``semantic`` scenario, selectable by name.

Each maps a slot to an :class:`~twinbed.scenarios.semantic.optimum.Action`. What they may see:

* ``per-slot-optimum``: everything (d, D and this slot's fading |g|^2), solved exactly
  (optimum.py). The lower bound on latency that no causal policy can beat.
* ``no-semantic`` (the paper's "w/o SC"): phi = 1; p, f and f_e are the optimum for the state
  S[n] = {d, D} of eq. (20) with the fading at its mean (|g|^2 = 1), as a learned policy sees it.
* ``random``: phi ~ U[phi_min, 1] drawn from ``rng(seed, "random-phi", n)``; the rest as above.
* ``sac``, ``ppo``: trained stable-baselines3 agents on env.py (state S[n] only), see
  :func:`agent_action`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from twinbed.scenarios.semantic.optimum import Action, solve_slot
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.process import SlotState
from twinbed.seeding import rng

__all__ = ["AGENTS", "ALGORITHMS", "BASELINES", "action_from_vector", "observation"]

AGENTS = ("sac", "ppo")
D_REF_M = 100.0  # distances are observed in units of 100 m


def per_slot_optimum(p: SemanticParams, s: SlotState, seed: int) -> Action:
    return solve_slot(p, s.D_bits, s.d_m, s.h2)


def no_semantic(p: SemanticParams, s: SlotState, seed: int) -> Action:
    return solve_slot(p, s.D_bits, s.d_m, np.ones(p.K), phi_fixed=np.ones(p.K))


def random_phi(p: SemanticParams, s: SlotState, seed: int) -> Action:
    phi = rng(seed, "random-phi", s.slot).uniform(p.phi_min, 1.0, p.K)
    return solve_slot(p, s.D_bits, s.d_m, np.ones(p.K), phi_fixed=phi)


BASELINES: dict[str, Callable[[SemanticParams, SlotState, int], Action]] = {
    "per-slot-optimum": per_slot_optimum,
    "no-semantic": no_semantic,
    "random": random_phi,
}
ALGORITHMS: tuple[str, ...] = (*BASELINES, *AGENTS)  # the first is the CLI default


def observation(p: SemanticParams, s: SlotState) -> np.ndarray:
    """S[n] of eq. (20), scaled: [d_k / 100 m ..., D_k / D_max ...], float32, shape (2K,)."""
    return np.concatenate([np.clip(s.d_m / D_REF_M, 0.0, 10.0),
                           s.D_bits / p.D_max_bits]).astype(np.float32)


def action_from_vector(p: SemanticParams, a: np.ndarray) -> Action:
    """The agents' action in [-1, 1]^(4K) -> decisions. With u = (a + 1)/2 in [0, 1] per block
    of K: phi = phi_min + u (1 - phi_min); f = f_u^max max(u, f_floor); p = p_min + u (p_max -
    p_min); f_e = f_e^max w / sum(w), w = u + 1e-3 (a share, so (19h) holds by construction)."""
    a = np.clip(np.asarray(a, dtype=float).reshape(4, p.K), -1.0, 1.0)
    u = 0.5 * (a + 1.0)
    w = u[3] + 1e-3
    return Action(phi=p.phi_min + u[0] * (1.0 - p.phi_min),
                  f_hz=p.f_u_max_hz * np.maximum(u[1], p.f_floor),
                  p_w=p.p_min_w + u[2] * (p.p_max_w - p.p_min_w),
                  f_e_hz=p.f_e_max_hz * w / np.sum(w))

