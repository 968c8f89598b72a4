"""The paper's equations (1)-(10), vectorized over sensors.

Every function takes numpy arrays (one entry per sensor) or scalars and returns the same shape.
Symbols follow the seed: beta compression ratio, b bandwidth [Hz], f DT processing speed [Hz],
D bits, f_S compression speed [Hz], c cycles/bit, H_gain = |H_k|^2 (path loss and fading).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import lambertw

from twinbed.radio import path_gain, rician_power, shannon_rate_bps
from twinbed.scenarios.compression.params import CompressionParams

__all__ = [
    "SensorArrays",
    "Timings",
    "best_response",
    "complexity",
    "draw_channel_gain",
    "rate_bps",
    "sensor_arrays",
    "t_comp",
    "t_dt",
    "t_tr",
    "timings",
]


class SensorArrays(NamedTuple):
    """Per-sensor constants, shape (K,)."""

    D_bits: np.ndarray
    p_w: np.ndarray
    f_s_hz: np.ndarray
    c_cycles_per_bit: np.ndarray
    distance_m: np.ndarray


class Timings(NamedTuple):
    """Modeled times [s] of eqs. (2), (5), (6), (7), shape (K,)."""

    T_comp: np.ndarray
    T_tr: np.ndarray
    T_DT: np.ndarray
    T_total: np.ndarray


def sensor_arrays(p: CompressionParams) -> SensorArrays:
    ones = np.ones(p.K)
    return SensorArrays(
        D_bits=p.D_bits * ones,
        p_w=p.p_w * ones,
        f_s_hz=p.f_s_hz * ones,
        c_cycles_per_bit=p.c_cycles_per_bit * ones,
        distance_m=p.distance_m * ones,
    )


def draw_channel_gain(p: CompressionParams, rng: np.random.Generator) -> np.ndarray:
    """|H_k|^2 of eq. (4): path loss A0 d^-alpha times Rician fading |h_k|^2.

    h_k = sigma (sqrt(kappa/(kappa+1)) e^{j theta} + sqrt(1/(kappa+1)) CN(0, 1)), so that
    E|h_k|^2 = sigma^2 and the LoS/NLoS energy ratio is kappa; theta ~ U[0, 2 pi)
    (:func:`twinbed.radio.rician_power`).
    """
    fading = rician_power(rng, p.K, p.rician_k, p.fading_sigma)
    return path_gain(sensor_arrays(p).distance_m, p.A0, p.alpha) * fading


def complexity(beta: np.ndarray | float, epsilon: float) -> np.ndarray:
    """eta(beta, eps) = e^{beta eps} - e^{eps} (eq. 1)."""
    return np.exp(np.asarray(beta) * epsilon) - np.exp(epsilon)


def rate_bps(b_hz: np.ndarray, H_gain: np.ndarray, p_w: np.ndarray, N0: float) -> np.ndarray:
    """Shannon rate of eq. (3), b log2(1 + |H|^2 p / (N0 b)); 0 where no bandwidth is
    allocated (:func:`twinbed.radio.shannon_rate_bps`)."""
    b = np.asarray(b_hz, dtype=float)
    return shannon_rate_bps(b, np.asarray(H_gain) * p_w, N0 * b)


def t_comp(beta: np.ndarray, D_bits: np.ndarray, f_s_hz: np.ndarray, epsilon: float) -> np.ndarray:
    """Compression time, eq. (2)."""
    return D_bits * complexity(beta, epsilon) / f_s_hz


def t_tr(beta: np.ndarray, D_bits: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Transmission time, eq. (5); inf without rate."""
    with np.errstate(divide="ignore"):
        return D_bits / (np.asarray(beta) * rate)


def t_dt(f_hz: np.ndarray, D_bits: np.ndarray, c: np.ndarray) -> np.ndarray:
    """DT processing time, eq. (6); inf without processing speed."""
    with np.errstate(divide="ignore"):
        return D_bits * c / np.asarray(f_hz, dtype=float)


def best_response(
    rate: np.ndarray, f_s_hz: np.ndarray, epsilon: float, beta_max: float
) -> np.ndarray:
    """A sensor's best compression ratio for its rate: the minimizer of eq. (8) over (9a).

    dU/dbeta = D eps/f_S e^{beta eps} - D/(r beta^2) = 0
    <=>  beta e^{beta eps/2} = sqrt(f_S/(r eps)),
    so beta* = (2/eps) W((eps/2) sqrt(f_S/(r eps))) with W the principal Lambert W; U is strictly
    convex, so clipping beta* to [1, beta_max] gives the constrained minimizer. D cancels.
    """
    rate = np.asarray(rate, dtype=float)
    with np.errstate(divide="ignore"):
        z = 0.5 * epsilon * np.sqrt(np.asarray(f_s_hz) / (rate * epsilon))
    beta = (2.0 / epsilon) * np.real(lambertw(z))
    beta = np.where(np.isfinite(z), beta, beta_max)  # no rate at all: compress as hard as allowed
    return np.clip(beta, 1.0, beta_max)


def timings(
    p: CompressionParams,
    beta: np.ndarray,
    b_hz: np.ndarray,
    f_hz: np.ndarray,
    H_gain: np.ndarray,
    s: SensorArrays | None = None,
) -> Timings:
    """All modeled times for given decisions (eqs. 2, 5, 6, 7)."""
    s = sensor_arrays(p) if s is None else s
    r = rate_bps(b_hz, H_gain, s.p_w, p.N0_w_per_hz)
    tc = t_comp(beta, s.D_bits, s.f_s_hz, p.epsilon)
    tt = t_tr(beta, s.D_bits, r)
    td = t_dt(f_hz, s.D_bits, s.c_cycles_per_bit)
    return Timings(tc, tt, td, tc + tt + td)
