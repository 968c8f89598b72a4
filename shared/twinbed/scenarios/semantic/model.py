"""The paper's equations (1)-(22), vectorized over UDs (and any leading batch axes).

Symbols follow the seed: D bits to sense, phi semantic extraction factor, f UD CPU [Hz], p
transmit power [W], f_e edge CPU given to the UD [Hz], h2 = |g^NLoS|^2 the Rayleigh fading power,
d the UD-BS distance [m]. Per-UD functions broadcast elementwise; :func:`slot` sums over the last
axis (the UDs) into T[n] and the penalties of eq. (22).

The physics is the core's with this paper's settings: Gauss-Markov mobility on speed and
heading (:class:`twinbed.mobility.GaussMarkovPolar`, no border), Rayleigh fading drawn as a
complex Gaussian (:func:`twinbed.radio.rayleigh_power`, ``method="complex"``), the Shannon
rate (:func:`twinbed.radio.shannon_rate_bps`); the same draws and operations as before, so no
number changes (tests/test_mobility.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from twinbed.mobility import GaussMarkovPolar, PolarState, uniform_disc
from twinbed.radio import rayleigh_power, shannon_rate_bps
from twinbed.scenarios.semantic.params import SemanticParams

__all__ = [
    "Mobility",
    "SlotOutcome",
    "channel_gain",
    "distance_m",
    "draw_data_bits",
    "draw_fading",
    "e_extract",
    "e_sense",
    "e_up",
    "init_mobility",
    "load_extract",
    "rate_bps",
    "slot",
    "step_mobility",
    "t_extract",
    "t_recover",
    "t_sense",
    "t_up",
]


class Mobility(NamedTuple):
    """Gauss-Markov state of every UD: positions (K, 2) [m], speed (K,) [m/s], heading (K,)
    [rad] and each UD's mean heading (K,) [rad]."""

    pos_m: np.ndarray
    speed_mps: np.ndarray
    heading_rad: np.ndarray
    mean_heading_rad: np.ndarray


def init_mobility(p: SemanticParams, rng: np.random.Generator) -> Mobility:
    """UDs uniform in the disc of radius ``area_radius_m`` around ``area_center_m`` (Section V),
    moving at the mean speed in a uniformly random direction (which is also their mean heading)."""
    pos = uniform_disc(rng, p.K, p.area_center_m, p.area_radius_m)
    return Mobility(*_gauss_markov(p).start(rng, pos))


def _gauss_markov(p: SemanticParams) -> GaussMarkovPolar:
    return GaussMarkovPolar(p.memory, p.speed_mean_mps, p.speed_std_mps, p.heading_std_rad,
                            p.tau_s)


def step_mobility(p: SemanticParams, m: Mobility, rng: np.random.Generator) -> Mobility:
    """Eqs. (1)-(2) with the standard sin for y (the paper prints cos twice), then the
    Gauss-Markov update of [26]: v' = a v + (1-a) v_mean + sqrt(1-a^2) sigma_v w and the same for
    the heading around each UD's mean heading (a = ``memory``); speeds are kept >= 0."""
    return Mobility(*_gauss_markov(p).step(rng, PolarState(*m)))


def distance_m(p: SemanticParams, pos_m: np.ndarray) -> np.ndarray:
    """d_k^B = ||p_k - p_B||_2 with UDs on the ground (z = 0)."""
    bs = np.asarray(p.bs_pos_m)
    dxy = np.asarray(pos_m) - bs[None, :2]
    return np.sqrt(np.sum(dxy**2, axis=-1) + bs[2] ** 2)


def draw_data_bits(p: SemanticParams, rng: np.random.Generator) -> np.ndarray:
    """D_k[n] ~ U[D_min, D_max] bits."""
    return rng.uniform(p.D_min_bits, p.D_max_bits, p.K)


def draw_fading(p: SemanticParams, rng: np.random.Generator) -> np.ndarray:
    """|g^NLoS|^2 with g^NLoS ~ CN(0, 1) (eq. 10): exponential with mean 1."""
    return rayleigh_power(rng, p.K, 1.0, method="complex")


def t_sense(p: SemanticParams, D: np.ndarray) -> np.ndarray:
    """Eq. (5): t^s = D / v^s."""
    return np.asarray(D) / p.v_s


def e_sense(p: SemanticParams, D: np.ndarray) -> np.ndarray:
    """Eq. (6): e^s = p^s D."""
    return p.p_s_j_per_bit * np.asarray(D)


def load_extract(D: np.ndarray, phi: np.ndarray, x: float) -> np.ndarray:
    """Eq. (7): lambda = D / phi^x."""
    return np.asarray(D) / np.asarray(phi) ** x


def t_extract(p: SemanticParams, lam: np.ndarray, f_hz: np.ndarray) -> np.ndarray:
    """Eq. (8): t^en = C lambda / f."""
    return p.C_cycles_per_bit * lam / f_hz


def e_extract(p: SemanticParams, lam: np.ndarray, f_hz: np.ndarray) -> np.ndarray:
    """Eq. (9): e^en = C k_loc lambda f^2."""
    return p.C_cycles_per_bit * p.k_loc * lam * np.asarray(f_hz) ** 2


def channel_gain(p: SemanticParams, d_m: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """|g_k^B|^2 = beta_0 d^-alpha |g^NLoS|^2 (eq. 10; the paper's d^alpha_3 is a path *loss*,
    so the exponent is negative)."""
    return p.beta0 * np.asarray(d_m) ** (-p.alpha) * np.asarray(h2)


def rate_bps(p: SemanticParams, gain: np.ndarray, p_w: np.ndarray) -> np.ndarray:
    """Eq. (11): u = (B/K) log2(1 + p |g|^2 / sigma^2), OFDMA with equal bandwidth."""
    return shannon_rate_bps(p.B_hz / p.K, np.asarray(p_w) * gain, p.sigma2_w)


def t_up(D: np.ndarray, phi: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Eq. (12): t^up = D phi / u."""
    return np.asarray(D) * np.asarray(phi) / rate


def e_up(t_up_s: np.ndarray, p_w: np.ndarray) -> np.ndarray:
    """Eq. (13): e^up = t^up p."""
    return t_up_s * p_w


def t_recover(p: SemanticParams, D: np.ndarray, phi: np.ndarray, f_e_hz: np.ndarray) -> np.ndarray:
    """Eq. (14): t^de = C D phi / (phi^y f^e)."""
    phi = np.asarray(phi)
    return p.C_cycles_per_bit * np.asarray(D) * phi ** (1.0 - p.y) / f_e_hz


class SlotOutcome(NamedTuple):
    """One slot's per-UD terms (last axis K) and totals (eqs. 5-22)."""

    t_s: np.ndarray
    t_en: np.ndarray
    t_up: np.ndarray
    t_de: np.ndarray
    t_dt: np.ndarray  # eq. (15)
    t: np.ndarray  # eq. (17)
    e_s: np.ndarray
    e_en: np.ndarray
    e_up: np.ndarray
    e: np.ndarray  # eq. (18)
    rate_bps: np.ndarray
    T: np.ndarray  # T[n] = sum_k t_k[n]
    P_t: np.ndarray
    P_e: np.ndarray
    P_f: np.ndarray
    reward: np.ndarray  # eq. (22)


def slot(
    p: SemanticParams,
    D: np.ndarray,
    d_m: np.ndarray,
    h2: np.ndarray,
    phi: np.ndarray,
    f_hz: np.ndarray,
    p_w: np.ndarray,
    f_e_hz: np.ndarray,
) -> SlotOutcome:
    """Every modeled quantity of one slot for given decisions.

    Penalties (eq. 22) count only violations, per UD as constraints (19c) and (19d) are stated:
    P_t = W sum_k max(0, t^dt_k - (1-eta) tau), P_e = W sum_k max(0, e_k - E_max) and
    P_f = W max(0, sum_k f^e_k - f_e^max) with the edge CPU in GHz. README.md explains why.
    """
    lam = load_extract(D, phi, p.x)
    ts = t_sense(p, D)
    ten = t_extract(p, lam, f_hz)
    u = rate_bps(p, channel_gain(p, d_m, h2), p_w)
    tup = t_up(D, phi, u)
    tde = t_recover(p, D, phi, f_e_hz)
    tdt = ten + tup + tde
    t = ts + tdt
    es, een, eup = e_sense(p, D), e_extract(p, lam, f_hz), e_up(tup, p_w)
    e = es + een + eup
    T = np.sum(t, axis=-1)
    P_t = p.W * np.sum(np.maximum(0.0, tdt - p.deadline_s), axis=-1)
    P_e = p.W * np.sum(np.maximum(0.0, e - p.E_max_j), axis=-1)
    P_f = p.W * np.maximum(0.0, np.sum(f_e_hz, axis=-1) - p.f_e_max_hz) / 1e9
    return SlotOutcome(ts, ten, tup, tde, tdt, t, es, een, eup, e, u, T, P_t, P_e, P_f,
                       -(T + P_t + P_e + P_f))
