"""twinbed.radio units."""

import numpy as np
import pytest

from twinbed.radio import (
    Rayleigh,
    Rician,
    db_to_lin,
    dbm_to_w,
    lin_to_db,
    noise_power_w,
    path_gain,
    path_loss_db,
    rayleigh_power,
    rician_power,
    shannon_rate_bps,
    snr,
    w_to_dbm,
)


def test_known_values_and_round_trips() -> None:
    assert dbm_to_w(30.0) == 1.0 and dbm_to_w(0.0) == pytest.approx(1e-3)
    assert dbm_to_w(15.0) == pytest.approx(0.0316227766)
    assert db_to_lin(-30.0) == pytest.approx(1e-3)
    x = np.array([-90.0, 0.0, 23.0])
    assert np.allclose(w_to_dbm(dbm_to_w(x)), x) and np.allclose(lin_to_db(db_to_lin(x)), x)


# -- fading: moments against closed forms ------------------------------------------------------
N = 400_000


@pytest.mark.parametrize("method", ["exponential", "complex"])
@pytest.mark.parametrize("mean", [1.0, 2.5])
def test_rayleigh_power_is_exponential(method: str, mean: float) -> None:
    """|h|^2 of Rayleigh fading is exponential: E = mean, Var = mean^2, P(|h|^2 > x) = e^-x/mean."""
    x = rayleigh_power(np.random.default_rng(1), N, mean, method)  # type: ignore[arg-type]
    assert x.shape == (N,) and x.min() >= 0
    assert x.mean() == pytest.approx(mean, rel=0.01)
    assert x.var() == pytest.approx(mean**2, rel=0.02)
    assert np.mean(x > mean) == pytest.approx(np.exp(-1.0), abs=0.003)


@pytest.mark.parametrize("k, sigma", [(0.0, 1.0), (10.0, 1.0), (3.0, 2.0)])
def test_rician_power_moments(k: float, sigma: float) -> None:
    """E|h|^2 = sigma^2 and Var|h|^2 = sigma^4 (1 + 2K) / (1 + K)^2 (noncentral chi-square)."""
    x = rician_power(np.random.default_rng(2), (N // 4, 4), k, sigma)
    assert x.shape == (N // 4, 4)
    assert x.mean() == pytest.approx(sigma**2, rel=0.01)
    assert x.var() == pytest.approx(sigma**4 * (1 + 2 * k) / (1 + k) ** 2, rel=0.03)


def test_pluggable_fading_objects_draw_the_same_as_the_functions() -> None:
    a = Rician(10.0).power(np.random.default_rng(3), 5)
    assert np.array_equal(a, rician_power(np.random.default_rng(3), 5, 10.0))
    b = Rayleigh(2.0, "complex").power(np.random.default_rng(3), 5)
    assert np.array_equal(b, rayleigh_power(np.random.default_rng(3), 5, 2.0, "complex"))


# -- propagation ------------------------------------------------------------------------------
def test_path_gain_and_loss_closed_form() -> None:
    d = np.array([1.0, 10.0, 378.0])
    g = path_gain(d, 1e-3, 2.0)
    assert g == pytest.approx(1e-3 / d**2, rel=1e-15)
    assert path_loss_db(d, -30.0, 2.0) == pytest.approx(-lin_to_db(g), rel=1e-12)


def test_shannon_rate_closed_forms() -> None:
    """b log2(1 + S/(N0 b)): 1 bit/s/Hz at SNR 1, 0 without bandwidth, S/(N0 ln 2) as b->inf."""
    assert shannon_rate_bps(1e3, 1.0, 1.0) == pytest.approx(1e3)
    r = shannon_rate_bps(np.array([0.0, 1e3]), np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    assert r[0] == 0.0 and r[1] == pytest.approx(2e3)
    S, N0 = 1e-9, 1e-18
    b = np.array([1e12])
    assert shannon_rate_bps(b, S, noise_power_w(N0, b))[0] == pytest.approx(
        S / (N0 * np.log(2.0)), rel=1e-3)
    assert snr(2.0, 0.5, 4.0) == pytest.approx(0.25)
