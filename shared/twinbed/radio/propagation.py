"""Large-scale propagation and link capacity, vectorized.

* :func:`path_gain` A0 d^-alpha (linear), :func:`path_loss_db` its dB loss;
* :func:`snr` received power over noise;
* :func:`shannon_rate_bps` b log2(1 + SNR), 0 where no bandwidth is allocated.
"""

from __future__ import annotations

import numpy as np

from twinbed.radio.units import Array, ArrayLike

__all__ = ["noise_power_w", "path_gain", "path_loss_db", "shannon_rate_bps", "snr"]


def path_gain(distance_m: ArrayLike, a0: float, alpha: float) -> Array:
    """Linear power gain A0 d^-alpha (A0: the gain at the 1 m reference, alpha: exponent)."""
    return a0 * np.asarray(distance_m, dtype=float) ** (-alpha)


def path_loss_db(distance_m: ArrayLike, a0_db: float, alpha: float) -> Array:
    """The same in dB of loss: -A0_dB + 10 alpha log10 d (positive for a loss)."""
    return -a0_db + 10.0 * alpha * np.log10(np.asarray(distance_m, dtype=float))


def noise_power_w(n0_w_per_hz: ArrayLike, bandwidth_hz: ArrayLike) -> Array:
    """Thermal noise power N0 b [W]."""
    return np.asarray(n0_w_per_hz) * np.asarray(bandwidth_hz)


def snr(p_w: ArrayLike, gain: ArrayLike, noise_w: ArrayLike) -> Array:
    """Received SNR: gain p / noise (the order of operations: (gain p) / noise)."""
    return np.asarray(gain) * p_w / np.asarray(noise_w)


def shannon_rate_bps(bandwidth_hz: ArrayLike, signal_w: ArrayLike, noise_w: ArrayLike) -> Array:
    """b log2(1 + signal/noise) [bit/s]; exactly 0 where b = 0 (no division warning)."""
    b = np.asarray(bandwidth_hz, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = b * np.log2(1.0 + np.asarray(signal_w) / noise_w)
    return np.where(b > 0, r, 0.0)
