"""The seed's system model, vectorized over users and resource blocks.

- Mobility (eq. 1): each slot user u stays, or moves one step forward (+y), backward (-y),
  left (-x) or right (+x) with its own probabilities ``p_u``; positions stay inside the
  area (a step across the border is not taken).
- Rates (eqs. 2, 3): ``c = B log2(1 + P o d^-2 / (I_n + B N0))`` with Rayleigh fading power
  ``o`` (exponential, mean ``fading_mean``) drawn per user, RB and slot, ``d`` the distance to
  the BS (floored at ``min_distance_blocks``) and ``I_n`` the interference on RB n from one
  out-of-area user per RB (uniform in the ring of neighbouring cells, its own fading).
- The cloud link uses RB ``R = argmax_n {T^C_n : T^C_n <= gamma}`` with ``T^C_n = D / c^C_n``
  (Section III-C, constraint 5e): of the RBs that meet the delay bound, the slowest one, so
  the best RBs stay with the users. No feasible RB: no sync is possible this slot.
- RBs for users (5a, 5b, 16a): each user at most one RB, each RB at most one user, maximum
  sum rate: the Hungarian method (``scipy.optimize.linear_sum_assignment``).
- Twin status (eq. 4): the state when synced, else the twin's prediction.
- Reward (15) without a sync, (17) with one; per slot this is the summand of objective (5).

The physics is the core's, with this paper's settings: the walk is
:class:`twinbed.mobility.GridRandomWalk` with the :class:`~twinbed.mobility.Stay` border, the
fading :func:`twinbed.radio.rayleigh_power` (exponential draws), the rate
:func:`twinbed.radio.shannon_rate_bps` (the same draws and operations as before: no number
changes, tests/test_mobility.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from twinbed.mobility import GaussMarkovVelocity, GridRandomWalk, Stay
from twinbed.radio import rayleigh_power, shannon_rate_bps
from twinbed.scenarios.network_twin.params import NetworkTwinParams

__all__ = [
    "MOVES",
    "Channel",
    "SlotOutcome",
    "assign_rbs",
    "cloud_rates",
    "cloud_rb",
    "draw_channel",
    "initial_positions",
    "move",
    "reward",
    "slot_outcome",
    "twin_error_sq",
    "user_rates",
]

# eq. (1): stay, forward, backward, left, right as (dx, dy) in steps
MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]], dtype=float)


class Channel(NamedTuple):
    fading: np.ndarray  # (U, N) Rayleigh fading power of each user on each RB
    cloud_fading: np.ndarray  # (N,) the BS-cloud link's fading on each RB
    interference: np.ndarray  # (N,) I_n, received power of the out-of-area user on RB n


class SlotOutcome(NamedTuple):
    """Both branches of one slot: without a sync (all N RBs for users) and with one."""

    rates: np.ndarray  # (U, N) c_ut on every RB
    rb_nosync: np.ndarray  # (U,) RB of each user without a sync, -1 = none
    rate_nosync: float  # sum_u c_ut, no sync
    cloud_rb: int  # R, -1 if no RB meets the delay bound
    cloud_delay: float  # T^C_t on R (inf if none)
    rb_sync: np.ndarray  # (U,) RB of each user when R carries the sync
    rate_sync: float  # sum_u c_ut with R reserved (== rate_nosync if R = -1)

    @property
    def feasible(self) -> bool:
        return self.cloud_rb >= 0

    @property
    def sync_cost(self) -> float:
        """Weighted rate given up by syncing: eps * (rate without - rate with)."""
        return self.rate_nosync - self.rate_sync


def initial_positions(p: NetworkTwinParams, rng: np.random.Generator) -> np.ndarray:
    """(U, 2) starting blocks, uniform over the area's grid points (Section IV)."""
    h = int(np.floor(p.half_blocks))
    return rng.integers(-h, h + 1, size=(p.U, 2)).astype(float)


def move(p: NetworkTwinParams, pos: np.ndarray, rng: np.random.Generator,
         probs: np.ndarray | None = None, before: np.ndarray | None = None) -> np.ndarray:
    """One slot of the users' mobility; a step that would leave the area is not taken.

    ``p.mobility == "walk"``: eq. (1) with each user's move probabilities ``probs`` (default
    :meth:`NetworkTwinParams.move_probs`); ``before`` is not used.

    ``"gauss-markov"`` (beyond the paper): each user's velocity is the Gauss-Markov model of
    :class:`twinbed.mobility.GaussMarkovVelocity` with mean 0, v' = a v + sqrt(1 - a^2)
    sigma_u w, where v is the user's last displacement ``pos - before`` (so a user the border
    stopped starts again from rest) and sigma_u = step sqrt(m_u / 2) with m_u = 1 - p_u,1 the
    user's eq. (1) move probability: each coordinate's step has the variance it has in the
    walk, but consecutive steps are correlated (a = ``gm_memory``). ``before is None`` (the
    first move): v is drawn from the stationary N(0, sigma_u^2) first. Draws:
    ``standard_normal((n, 2))`` for that v (first move only), then one for w.
    """
    probs = p.move_probs() if probs is None else probs
    if p.mobility == "walk":
        walk = GridRandomWalk(MOVES, p.step_blocks, Stay(p.half_blocks))
        return walk.move(rng, pos, probs)
    sigma = p.step_blocks * np.sqrt((1.0 - probs[:, 0]) / 2.0)[:, None]
    vel = (sigma * rng.standard_normal(pos.shape) if before is None
           else np.asarray(pos, float) - np.asarray(before, float))
    gm = GaussMarkovVelocity(p.gm_memory, 0.0, sigma, Stay(p.half_blocks))
    new, _ = gm.step(rng, np.asarray(pos, float), vel)
    return new


def draw_channel(p: NetworkTwinParams, rng: np.random.Generator) -> Channel:
    """One slot's fading and interference (all Rayleigh, mean ``fading_mean``)."""
    fading = rayleigh_power(rng, (p.U, p.N), p.fading_mean)
    cloud_fading = rayleigh_power(rng, p.N, p.fading_mean)
    lo, hi = p.interferer_ring_blocks
    r = np.sqrt(rng.uniform(lo * lo, hi * hi, size=p.N))  # uniform over the ring's area
    interference = p.P * rayleigh_power(rng, p.N, p.fading_mean) / r**2
    return Channel(fading, cloud_fading, interference)


def _rate(p: NetworkTwinParams, gain: np.ndarray, interference: np.ndarray) -> np.ndarray:
    return shannon_rate_bps(p.B, p.P * gain, interference + p.B * p.N0)


def user_rates(p: NetworkTwinParams, pos: np.ndarray, ch: Channel) -> np.ndarray:
    """(U, N) c_ut on each RB (eq. 2), h = o d^-2."""
    d = np.maximum(np.linalg.norm(pos - np.asarray(p.bs_xy), axis=1), p.min_distance_blocks)
    return _rate(p, ch.fading / d[:, None] ** 2, ch.interference[None, :])


def cloud_rates(p: NetworkTwinParams, ch: Channel) -> np.ndarray:
    """(N,) c^C_t on each RB (eq. 3)."""
    d = max(float(np.linalg.norm(np.subtract(p.cloud_xy, p.bs_xy))), p.min_distance_blocks)
    return _rate(p, ch.cloud_fading / d**2, ch.interference)


def cloud_rb(p: NetworkTwinParams, ch: Channel) -> tuple[int, float]:
    """(R, T^C on R): the slowest RB that still meets the delay bound; (-1, inf) if none."""
    c = cloud_rates(p, ch)
    with np.errstate(divide="ignore"):
        delay = np.where(c > 0, p.D / np.where(c > 0, c, 1.0), np.inf)
    feasible = delay <= p.gamma
    if not feasible.any():
        return -1, float("inf")
    R = int(np.argmax(np.where(feasible, delay, -np.inf)))
    return R, float(delay[R])


def assign_rbs(rates: np.ndarray, reserved: int = -1) -> tuple[np.ndarray, float]:
    """Max-sum-rate assignment, one RB per user and one user per RB (Hungarian method).

    ``reserved`` (an RB index) carries the sync and goes to nobody (16a). Returns the RB of
    each user (-1 = none) and the sum rate.
    """
    cols = np.arange(rates.shape[1])
    if reserved >= 0:
        cols = cols[cols != reserved]
    rows, idx = linear_sum_assignment(rates[:, cols], maximize=True)
    rb = np.full(rates.shape[0], -1, dtype=int)
    rb[rows] = cols[idx]
    return rb, float(rates[rows, cols[idx]].sum())


def slot_outcome(p: NetworkTwinParams, pos: np.ndarray, ch: Channel) -> SlotOutcome:
    rates = user_rates(p, pos, ch)
    rb0, r0 = assign_rbs(rates)
    R, delay = cloud_rb(p, ch)
    if R < 0:
        rb1, r1 = rb0, r0
    else:
        rb1, r1 = assign_rbs(rates, reserved=R)
    return SlotOutcome(rates, rb0, r0, R, delay, rb1, r1)


def twin_error_sq(state: np.ndarray, twin: np.ndarray) -> float:
    """||s_t - s'_t||_2^2 over all users' coordinates."""
    return float(np.sum((np.asarray(state) - np.asarray(twin)) ** 2))


def reward(p: NetworkTwinParams, synced: bool, sum_rate: float, err_sq: float) -> float:
    """Eq. (17) if synced (the twin equals the state), else eq. (15)."""
    if synced:
        return p.epsilon * sum_rate
    return p.epsilon * sum_rate - (1.0 - p.epsilon) / p.U * err_sq
