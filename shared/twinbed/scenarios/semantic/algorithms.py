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
from twinbed.scenarios.semantic.world import SlotState
from twinbed.seeding import rng

__all__ = ["AGENTS", "ALGORITHMS", "BASELINES", "INTERFACE", "OBS_BOUND", "action_from_vector",
           "edge_share_ratio", "f_lower_hz", "observation", "observations"]

AGENTS = ("sac", "ppo")
OBS_BOUND = 10.0  # the observation box is [-OBS_BOUND, OBS_BOUND]^(2K)
INTERFACE = 2  # observation/action mapping version; a checkpoint records the one it was trained on


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
    """S[n] of eq. (20), centred and scaled to about [-1, 1] (a fixed normalization; README.md):
    ``[(d_k - d_c) / d_s ..., (D_k - D_mid) / D_half ...]``, float32, shape (2K,), clipped to
    [-10, 10]. d_c is the BS's distance to the centre of the UDs' initial disc and d_s = the
    disc's radius + the mean speed times the cycle T (how far a UD can get); D_mid and D_half
    are the centre and half-width of [D_min, D_max]."""
    d_c = float(np.hypot(np.hypot(*(np.asarray(p.area_center_m) - np.asarray(p.bs_pos_m[:2]))),
                         p.bs_pos_m[2]))
    d_s = p.area_radius_m + p.speed_mean_mps * p.T_s
    mid, half = 0.5 * (p.D_min_bits + p.D_max_bits), 0.5 * (p.D_max_bits - p.D_min_bits)
    D_n = (s.D_bits - mid) / half if half > 0 else np.zeros_like(s.D_bits)
    return np.clip(np.concatenate([(s.d_m - d_c) / d_s, D_n]), -OBS_BOUND, OBS_BOUND
                   ).astype(np.float32)


def observations(p: SemanticParams, d_m: np.ndarray, D_bits: np.ndarray) -> np.ndarray:
    """:func:`observation` of many slots at once: d and D (..., K) -> (..., 2K), the same
    elementwise operations (so the same float32 values)."""
    d_c = float(np.hypot(np.hypot(*(np.asarray(p.area_center_m) - np.asarray(p.bs_pos_m[:2]))),
                         p.bs_pos_m[2]))
    d_s = p.area_radius_m + p.speed_mean_mps * p.T_s
    mid, half = 0.5 * (p.D_min_bits + p.D_max_bits), 0.5 * (p.D_max_bits - p.D_min_bits)
    D_n = (D_bits - mid) / half if half > 0 else np.zeros_like(D_bits)
    return np.clip(np.concatenate([(d_m - d_c) / d_s, D_n], axis=-1), -OBS_BOUND, OBS_BOUND
                   ).astype(np.float32)


def f_lower_hz(p: SemanticParams) -> float:
    """Below this UD CPU frequency the slot's cost only falls as f grows, for every state and
    fading: d/df [C lam / f + W (C k lam f^2 + e_rest - E_max)^+] < 0 while f^3 < 1/(2 W k)
    (a missed deadline adds W C lam / f, which only steepens it). So no slot's optimum lies
    below min(f_u^max, (2 W k_loc)^(-1/3)) (0.368 GHz with Table II)."""
    return max(p.f_floor * p.f_u_max_hz, min(p.f_u_max_hz, (2.0 * p.W * p.k_loc) ** (-1.0 / 3.0)))


def edge_share_ratio(p: SemanticParams) -> float:
    """Largest ratio between two UDs' edge CPU at any slot's optimum. Each UD's best f_e at the
    budget's price nu lies in [sqrt(a/nu), sqrt(a (1 + W)/nu)] (optimum.py), a = C D phi^(1-y),
    so f_e,i / f_e,j <= sqrt((a_max / a_min) (1 + W)) with a_max / a_min = (D_max / D_min)
    phi_min^-|1-y| (6.09 with Table II)."""
    a_ratio = (p.D_max_bits / p.D_min_bits) * p.phi_min ** (-abs(1.0 - p.y))
    return float(np.sqrt(a_ratio * (1.0 + p.W)))


def action_from_vector(p: SemanticParams, a: np.ndarray) -> Action:
    """The agents' action in [-1, 1]^(4K) -> decisions (README.md: why this parametrization).
    With u = (a + 1)/2 in [0, 1] per block of K: phi = phi_min + u (1 - phi_min);
    f = f_lo + u (f_u^max - f_lo), f_lo = :func:`f_lower_hz`; p = p_min + u (p_max - p_min);
    edge shares f_e = f_e^max w / sum(w) with w = R^u, R = :func:`edge_share_ratio` (so (19h)
    holds by construction, a = 0 is an equal split and every optimum's split is reachable)."""
    a = np.clip(np.asarray(a, dtype=float).reshape(4, p.K), -1.0, 1.0)
    u = 0.5 * (a + 1.0)
    f_lo = f_lower_hz(p)
    w = edge_share_ratio(p) ** u[3]
    return Action(phi=p.phi_min + u[0] * (1.0 - p.phi_min),
                  f_hz=f_lo + u[1] * (p.f_u_max_hz - f_lo),
                  p_w=p.p_min_w + u[2] * (p.p_max_w - p.p_min_w),
                  f_e_hz=p.f_e_max_hz * w / np.sum(w))
