"""The ground-truth physical process: a band-limited, correlated multichannel signal.

Channel ``c`` at time ``t`` (seconds) is, before the ADC,

    peak * ((1 - s_c) * own_c(t) + s_c * common(t)) + noise

* ``own_c`` is a sum of ``n_components`` sinusoids whose frequencies (Hz), amplitudes and phases
  are drawn from ``rng(seed, "process", c)``; amplitudes are normalised to sum to 1.
* ``common`` is a mix of a few slow sinusoids (lowest quarter of the band) drawn from
  ``rng(seed, "process", "common")``, shared by all channels, so channels are correlated;
  ``s_c`` (drawn with channel ``c``'s parameters) is how much of it channel ``c`` carries.
* ``peak = full_scale * (2**(adc_bits-1) - 1)`` in LSB. Both mixes have amplitudes summing to 1,
  so ``peak`` bounds the clean signal: it never exceeds ``full_scale`` of the ADC range.
* ``noise`` is white Gaussian measurement noise with standard deviation ``noise_lsb`` (LSB),
  drawn from ``rng(seed, "noise", c, block)``.

The sum is rounded to integer codes and clipped to the signed ``adc_bits`` range, giving int16
samples. Every sinusoid lies strictly below ``bandwidth_hz`` (and so below Nyquist).

Sample ``k`` (a global index, ``k = block * n + i``) is taken at ``t = k / sample_rate_hz``;
the clean part depends only on ``t``, so consecutive blocks of the same size join smoothly.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from twinbed.seeding import rng

__all__ = ["SignalParams", "BandLimitedSignal", "to_bytes", "from_bytes"]

# Shape of the common (shared) component; fixed, as only the mix per channel matters.
_N_COMMON = 3  # sinusoids in the common mix
_COMMON_BAND = 0.25  # common frequencies lie in the lowest quarter of the band
_COMMON_SHARE = (0.2, 0.6)  # s_c, the common component's share of a channel, is uniform here
_MIN_FREQ = 0.02  # lowest component frequency, as a fraction of bandwidth_hz (avoids ~DC)
_MAX_FREQ = 0.95  # highest component frequency, as a fraction of bandwidth_hz (strictly below)


class SignalParams(BaseModel):
    """Parameters of :class:`BandLimitedSignal` (frequencies in Hz, noise in ADC LSB)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_rate_hz: float = 1000.0
    """Samples per second of every channel."""
    bandwidth_hz: float = 50.0
    """Band limit: every sinusoid's frequency is strictly below it; must be < Nyquist."""
    n_components: int = 6
    """Sinusoids per channel, besides the common component."""
    adc_bits: int = 12
    """ADC resolution; samples are int16 holding a signed ``adc_bits``-bit value."""
    noise_lsb: float = 1.5
    """Standard deviation of the white measurement noise, in LSB."""
    full_scale: float = 0.8
    """Fraction of the ADC's positive range that the clean signal's peak may reach."""

    @model_validator(mode="after")
    def _check(self) -> SignalParams:
        nyquist = self.sample_rate_hz / 2
        checks = [
            (self.sample_rate_hz > 0, "sample_rate_hz > 0", self.sample_rate_hz),
            (0 < self.bandwidth_hz < nyquist, f"0 < bandwidth_hz < {nyquist:g} (Nyquist)",
             self.bandwidth_hz),
            (self.n_components >= 1, "n_components >= 1", self.n_components),
            (2 <= self.adc_bits <= 16, "2 <= adc_bits <= 16", self.adc_bits),
            (self.noise_lsb >= 0, "noise_lsb >= 0", self.noise_lsb),
            (0 < self.full_scale <= 1, "0 < full_scale <= 1", self.full_scale),
        ]
        for ok, expected, got in checks:
            if not ok:  # also catches NaN, which fails every comparison
                raise ValueError(f"expected {expected}, got {got}")
        return self

    @property
    def code_range(self) -> tuple[int, int]:
        """Smallest and largest ADC code, e.g. ``(-2048, 2047)`` for 12 bits."""
        half = 1 << (self.adc_bits - 1)
        return -half, half - 1


@dataclass(frozen=True)
class _Tones:
    """A sum of sinusoids: ``sum(amp * sin(2*pi*freq_hz*t + phase))``."""

    freq_hz: np.ndarray
    amp: np.ndarray
    phase: np.ndarray

    @classmethod
    def draw(cls, gen: np.random.Generator, n: int, low_hz: float, high_hz: float) -> _Tones:
        """``n`` tones, frequencies uniform in ``[low_hz, high_hz)``, amplitudes summing to 1."""
        freq = gen.uniform(low_hz, high_hz, n)
        amp = gen.uniform(0.2, 1.0, n)
        phase = gen.uniform(0.0, 2 * math.pi, n)
        return cls(freq, amp / amp.sum(), phase)

    def at(self, t: np.ndarray) -> np.ndarray:
        """Evaluate at times ``t`` (seconds); vectorised over tones and times."""
        arg = 2 * math.pi * self.freq_hz[:, None] * t[None, :] + self.phase[:, None]
        return self.amp @ np.sin(arg)


class BandLimitedSignal:
    """``n_channels`` channels of the process described in the module docstring.

    Deterministic: ``samples(channel, block, n)`` depends only on ``(seed, channel, block, n)``
    (and ``params``), in any process. Thread-safe: per-channel parameters are drawn lazily and
    identically by whichever thread asks first.
    """

    def __init__(self, seed: int, n_channels: int, params: SignalParams | None = None) -> None:
        if n_channels < 1:
            raise ValueError(f"expected n_channels >= 1, got {n_channels}")
        self.seed = seed
        self.n_channels = n_channels
        self.params = params if params is not None else SignalParams()
        bw = self.params.bandwidth_hz
        self._common = _Tones.draw(
            rng(seed, "process", "common"), _N_COMMON, _MIN_FREQ * bw, _COMMON_BAND * bw
        )
        self._channels: dict[int, tuple[_Tones, float]] = {}

    def _channel(self, channel: int) -> tuple[_Tones, float]:
        """Channel ``channel``'s own tones and its common share ``s_c`` (cached)."""
        if channel not in self._channels:
            gen = rng(self.seed, "process", channel)
            bw = self.params.bandwidth_hz
            tones = _Tones.draw(gen, self.params.n_components, _MIN_FREQ * bw, _MAX_FREQ * bw)
            share = float(gen.uniform(*_COMMON_SHARE))
            self._channels[channel] = (tones, share)
        return self._channels[channel]

    def clean(self, channel: int, t: np.ndarray) -> np.ndarray:
        """The noise-free, unquantised signal of ``channel`` at times ``t`` (s), in LSB."""
        self._check_channel(channel)
        p = self.params
        peak = p.full_scale * p.code_range[1]
        tones, share = self._channel(channel)
        return peak * ((1 - share) * tones.at(t) + share * self._common.at(t))

    def samples(self, channel: int, block: int, n: int) -> np.ndarray:
        """ADC samples ``block*n ... block*n + n - 1`` of ``channel``: int16, shape ``(n,)``."""
        channel, block, n = operator.index(channel), operator.index(block), operator.index(n)
        if block < 0 or n < 0:
            raise ValueError(f"expected block >= 0 and n >= 0, got block={block}, n={n}")
        self._check_channel(channel)
        p = self.params
        t = (block * n + np.arange(n, dtype=np.int64)) / p.sample_rate_hz
        noise = rng(self.seed, "noise", channel, block).normal(0.0, p.noise_lsb, n)
        low, high = p.code_range
        return np.clip(np.rint(self.clean(channel, t) + noise), low, high).astype(np.int16)

    def samples_matrix(
        self, channels: Sequence[int] | np.ndarray, block: int, n: int
    ) -> np.ndarray:
        """Rows ``samples(c, block, n)`` for each ``c`` in ``channels``: int16, ``(len, n)``."""
        out = np.empty((len(channels), n), dtype=np.int16)
        for row, channel in enumerate(channels):
            out[row] = self.samples(channel, block, n)
        return out

    def _check_channel(self, channel: int) -> None:
        if not 0 <= channel < self.n_channels:
            raise IndexError(f"expected 0 <= channel < {self.n_channels}, got {channel}")


def to_bytes(x: np.ndarray) -> bytes:
    """Serialise integer samples as little-endian int16 (2 bytes per sample)."""
    x = np.asarray(x)
    if x.dtype != np.int16:
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"expected integer samples, got dtype {x.dtype}")
        if x.size and (x.min() < -(1 << 15) or x.max() >= 1 << 15):
            raise ValueError(f"expected values in int16 range, got [{x.min()}, {x.max()}]")
    return x.astype("<i2").tobytes()


def from_bytes(b: bytes) -> np.ndarray:
    """Inverse of :func:`to_bytes`: a new, writable native int16 array."""
    if len(b) % 2:
        raise ValueError(f"expected an even number of bytes (int16 samples), got {len(b)}")
    return np.frombuffer(b, dtype="<i2").astype(np.int16)
