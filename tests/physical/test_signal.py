"""The band-limited ground-truth signal: determinism, range, continuity, spectrum, ratio."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from twinbed.codecs import LADDER, calibrate
from twinbed.physical import BandLimitedSignal, SignalParams, from_bytes, to_bytes

N = 250  # samples per round: 4000 bits, the paper's D_k = 4 kbit


@pytest.fixture(scope="module")
def sig() -> BandLimitedSignal:
    return BandLimitedSignal(seed=3, n_channels=6)


def test_determinism(sig: BandLimitedSignal) -> None:
    again = BandLimitedSignal(seed=3, n_channels=6)
    assert to_bytes(sig.samples(2, 5, N)) == to_bytes(again.samples(2, 5, N))
    # query order doesn't matter (per-channel parameters are drawn lazily)
    fresh = BandLimitedSignal(seed=3, n_channels=6)
    fresh.samples(4, 0, N)
    assert np.array_equal(fresh.samples(2, 5, N), sig.samples(2, 5, N))
    base = sig.samples(2, 5, N)
    for other in [
        BandLimitedSignal(seed=4, n_channels=6).samples(2, 5, N),
        sig.samples(3, 5, N),
        sig.samples(2, 6, N),
    ]:
        assert not np.array_equal(base, other)


def test_dtype_and_range(sig: BandLimitedSignal) -> None:
    x = sig.samples_matrix(range(6), 0, 5000)
    assert x.dtype == np.int16 and x.shape == (6, 5000)
    low, high = sig.params.code_range
    assert (low, high) == (-2048, 2047)
    assert x.min() >= low and x.max() <= high
    # the clean peak is bounded by full_scale, so only noise can go slightly beyond it
    assert np.abs(x).max() <= sig.params.full_scale * high + 6 * sig.params.noise_lsb
    assert x.std() > 100  # not a constant signal
    assert sig.samples(0, 0, 0).shape == (0,)


def test_clipping_to_adc_range() -> None:
    p = SignalParams(adc_bits=4, full_scale=1.0, noise_lsb=3.0)
    x = BandLimitedSignal(seed=1, n_channels=1, params=p).samples(0, 0, 4000)
    assert x.min() >= -8 and x.max() <= 7
    assert x.min() == -8 or x.max() == 7  # noise beyond full scale really gets clipped


def test_continuity(sig: BandLimitedSignal) -> None:
    for channel in range(3):
        for block in range(4):
            a, b = sig.samples(channel, block, N), sig.samples(channel, block + 1, N)
            within = np.abs(np.diff(np.concatenate([a, b]).astype(np.int32)))
            within = np.concatenate([within[: N - 1], within[N:]])  # drop the boundary step
            jump = abs(int(b[0]) - int(a[-1]))
            assert jump <= within.max() + 6 * sig.params.noise_lsb


def test_clean_part_is_a_function_of_global_time(sig: BandLimitedSignal) -> None:
    # block 1 of size 100 covers the same instants as blocks 2 and 3 of size 50;
    # only the noise differs (std of the difference: noise_lsb * sqrt(2) plus rounding)
    whole = sig.samples(1, 1, 100).astype(float)
    halves = np.concatenate([sig.samples(1, 2, 50), sig.samples(1, 3, 50)]).astype(float)
    diff = whole - halves
    assert abs(diff.mean()) < 1.0
    assert diff.std() < 2 * sig.params.noise_lsb * np.sqrt(2) + 1


def test_samples_matrix_matches_samples(sig: BandLimitedSignal) -> None:
    channels = [5, 0, 3]
    m = sig.samples_matrix(channels, 7, N)
    assert m.shape == (3, N) and m.dtype == np.int16
    for row, c in enumerate(channels):
        assert np.array_equal(m[row], sig.samples(c, 7, N))
    assert np.array_equal(sig.samples_matrix(np.array(channels), 7, N), m)
    assert sig.samples_matrix([], 0, N).shape == (0, N)


def test_channels_are_correlated(sig: BandLimitedSignal) -> None:
    x = sig.samples_matrix(range(6), 0, 20000).astype(float)
    corr = np.corrcoef(x)
    off_diag = np.abs(corr[~np.eye(6, dtype=bool)])
    assert off_diag.mean() > 0.05


def test_band_limit() -> None:
    p = SignalParams()
    s = BandLimitedSignal(seed=9, n_channels=2, params=p)
    n = 1 << 15
    window = np.hanning(n)
    freqs = np.fft.rfftfreq(n, d=1 / p.sample_rate_hz)
    above = freqs > p.bandwidth_hz * 1.1
    for channel in range(2):
        x = s.samples(channel, 0, n).astype(float)
        # Hann-windowed periodogram scaled so white noise of variance v has mean v per bin
        power = np.abs(np.fft.rfft((x - x.mean()) * window)) ** 2 / (window**2).sum()
        white = p.noise_lsb**2 + 1 / 12  # measurement noise + rounding to integer codes
        assert power[above].mean() == pytest.approx(white, rel=0.25)
        # and nearly all the energy is inside the band
        assert power[above].sum() < 0.01 * power.sum()


def test_compressibility() -> None:
    """With D_k = 250 samples, delta16 settings reach ~1.7-2.0; plain settings stay lower."""
    s = BandLimitedSignal(seed=5, n_channels=4)
    for channel in range(4):
        for block in (0, 17, 400):
            points = calibrate(to_bytes(s.samples(channel, block, N)), repeats=1)
            best = max(p.ratio for p in points)
            plain = max(p.ratio for p in points if not p.name.startswith("delta16+"))
            assert 1.5 <= best <= 3.0
            assert max(points, key=lambda p: p.ratio).name.startswith("delta16+")
            assert plain < best - 0.2
    assert len(points) == len(LADDER)


def test_bytes_helpers() -> None:
    x = np.array([0, 1, -1, 2047, -2048, 32767, -32768], dtype=np.int16)
    b = to_bytes(x)
    assert b[:4] == b"\x00\x00\x01\x00" and len(b) == 2 * len(x)
    y = from_bytes(b)
    assert y.dtype == np.int16 and np.array_equal(x, y)
    y[0] = 5  # writable copy
    assert np.array_equal(from_bytes(to_bytes(np.array([3, -4]))), [3, -4])
    with pytest.raises(ValueError):
        from_bytes(b"\x00")
    with pytest.raises(ValueError):
        to_bytes(np.array([40000]))
    with pytest.raises(TypeError):
        to_bytes(np.array([0.5]))


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"bandwidth_hz": 500.0}, "bandwidth_hz < 500"),
        ({"bandwidth_hz": 0.0}, "0 < bandwidth_hz"),
        ({"adc_bits": 17}, "2 <= adc_bits <= 16"),
        ({"adc_bits": 1}, "2 <= adc_bits <= 16"),
        ({"n_components": 0}, "n_components >= 1"),
        ({"noise_lsb": -1.0}, "noise_lsb >= 0"),
        ({"full_scale": 1.5}, "full_scale <= 1"),
        ({"sample_rate_hz": -1.0}, "sample_rate_hz > 0"),
    ],
)
def test_params_validation(kwargs: dict[str, float], expected: str) -> None:
    with pytest.raises(ValidationError, match=f"expected .*{expected}.*, got"):
        SignalParams(**kwargs)


def test_params_forbid_extra_and_bad_arguments() -> None:
    with pytest.raises(ValidationError):
        SignalParams(bandwith_hz=10.0)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        BandLimitedSignal(seed=0, n_channels=0)
    s = BandLimitedSignal(seed=0, n_channels=2)
    with pytest.raises(IndexError):
        s.samples(2, 0, N)
    with pytest.raises(ValueError):
        s.samples(0, -1, N)
    assert np.array_equal(s.samples(np.int64(1), np.int64(2), N), s.samples(1, 2, N))
