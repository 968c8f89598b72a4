"""The compression scenario's equations (seed 000, eqs. 1-9) and parameters (Section V)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.optimize import minimize_scalar

from twinbed.scenarios.compression import model
from twinbed.scenarios.compression.params import CompressionParams

# The uniform scenario of Section V-A, evaluated by hand (not through the package).
D = 4000.0
P_W = 10 ** ((15 - 30) / 10)  # 15 dBm
N0 = 10 ** ((-90 - 30) / 10)  # -90 dBm/Hz
PATH_LOSS = 1e-3 * 378.0**-2.0  # A0 = -30 dB, d = 378 m, alpha = 2
B_K = 100e3 / 4  # equal split of B
F_K = 50e6 / 4  # equal split of C_DT


def _cost(beta: float, rate: float, f_s: float, eps: float, d_bits: float) -> float:
    """Eq. (8) written out: D (e^{beta eps} - e^eps) / f_S + D / (beta r)."""
    return d_bits * (math.exp(beta * eps) - math.exp(eps)) / f_s + d_bits / (beta * rate)


# -- best response (eq. 9) ------------------------------------------------------------------
def test_best_response_matches_numerical_minimizer_of_eq8() -> None:
    """The Lambert-W best response equals a bounded numerical minimizer of eq. (8) on [1, beta_max]."""
    g = np.random.default_rng(20250901)
    kinds = {"low": 0, "high": 0, "interior": 0}
    for _ in range(400):
        rate = 10 ** g.uniform(-3, 9)
        f_s = 10 ** g.uniform(2, 8)
        eps = g.uniform(0.5, 6.0)
        beta_max = g.uniform(1.05, 6.0)
        d_bits = g.uniform(16, 1e6)  # D cancels in the closed form; the minimizer sees it
        got = float(model.best_response(rate, f_s, eps, beta_max))
        res = minimize_scalar(_cost, bounds=(1.0, beta_max), method="bounded",
                              args=(rate, f_s, eps, d_bits), options={"xatol": 1e-12})
        assert res.success
        assert got == pytest.approx(res.x, abs=1e-6), (rate, f_s, eps, beta_max)
        # the closed form is never worse than the numerical optimum
        c_got, c_num = _cost(got, rate, f_s, eps, d_bits), _cost(res.x, rate, f_s, eps, d_bits)
        assert c_got <= c_num * (1 + 1e-12)
        kinds["low" if got == 1.0 else "high" if got == beta_max else "interior"] += 1
    # the draws really exercise both clipping bounds and the interior
    assert min(kinds.values()) >= 20, kinds


def test_best_response_interior_is_stationary_point() -> None:
    """An interior best response zeroes dU/dbeta = D eps e^{beta eps}/f_S - D/(r beta^2)."""
    rate, f_s, eps, beta_max = 317.889, 200e3, 3.5, 3.0  # the uniform scenario's fair share
    beta = float(model.best_response(rate, f_s, eps, beta_max))
    assert 1.0 < beta < beta_max
    grad_terms = (eps * math.exp(beta * eps) / f_s, 1.0 / (rate * beta**2))
    assert grad_terms[0] == pytest.approx(grad_terms[1], rel=1e-10)


def test_best_response_clips_at_one_for_huge_rate() -> None:
    """A very fast link makes compression not worth it: beta = 1."""
    assert float(model.best_response(1e12, 200e3, 3.5, 3.0)) == 1.0


def test_best_response_clips_at_beta_max_for_tiny_rate() -> None:
    """A very slow link makes maximal compression best: beta = beta_max."""
    assert float(model.best_response(1e-6, 200e3, 3.5, 3.0)) == 3.0


def test_best_response_zero_rate_gives_beta_max_without_warnings() -> None:
    """rate = 0 (no bandwidth) yields beta_max, scalar and inside an array, with no numpy warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(model.best_response(0.0, 200e3, 3.5, 3.0)) == 3.0
        out = model.best_response(np.array([0.0, 1e12, 0.0]), np.full(3, 200e3), 3.5, 2.5)
    np.testing.assert_array_equal(out, [2.5, 1.0, 2.5])


def test_best_response_beta_max_one_is_always_one() -> None:
    """With beta_max = 1 (no compression possible) every best response is 1."""
    out = model.best_response(np.array([0.0, 1e-3, 1.0, 1e9]), np.full(4, 200e3), 3.5, 1.0)
    np.testing.assert_array_equal(out, np.ones(4))


def test_best_response_vectorized_equals_scalar_calls() -> None:
    """A vectorized call equals per-element scalar calls, with the same shape as the input."""
    g = np.random.default_rng(7)
    rate = 10 ** g.uniform(-3, 9, 64)
    f_s = 10 ** g.uniform(2, 8, 64)
    vec = model.best_response(rate, f_s, 2.7, 4.0)
    assert vec.shape == (64,)
    one_by_one = [float(model.best_response(float(r), float(f), 2.7, 4.0)) for r, f in zip(rate, f_s)]
    np.testing.assert_array_equal(vec, one_by_one)


def test_best_response_monotone_in_rate() -> None:
    """A faster link never raises the compression ratio (eq. 8 trade-off)."""
    rates = np.logspace(-3, 9, 200)
    beta = model.best_response(rates, np.full(200, 200e3), 3.5, 3.0)
    assert np.all(np.diff(beta) <= 0)
    assert beta[0] == 3.0 and beta[-1] == 1.0


# -- rate (eq. 3) ---------------------------------------------------------------------------
@pytest.mark.parametrize("b, H, p, n0", [
    (25e3, PATH_LOSS, P_W, N0),
    (1e6, 1e-6, 0.1, 1e-15),
    (1.0, 3e-9, 1.0, 4e-21),
])
def test_rate_matches_eq3(b: float, H: float, p: float, n0: float) -> None:
    """r = b log2(1 + |H|^2 p / (N0 b)) by hand."""
    want = b * math.log2(1 + H * p / (n0 * b))
    assert float(model.rate_bps(b, H, p, n0)) == pytest.approx(want, rel=1e-13)


def test_rate_uniform_scenario_value() -> None:
    """The uniform scenario's fair share (25 kHz at 378 m, |h|^2 = 1) gives ~317.889 bit/s."""
    assert float(model.rate_bps(B_K, PATH_LOSS, P_W, N0)) == pytest.approx(317.8891099858, rel=1e-9)


def test_rate_zero_bandwidth_is_zero_without_warnings() -> None:
    """b = 0 gives rate 0 (not nan) and raises no numpy warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = model.rate_bps(np.array([0.0, 25e3, 0.0]), np.full(3, PATH_LOSS), np.full(3, P_W), N0)
    assert r[0] == 0.0 and r[2] == 0.0
    assert r[1] > 0
    assert not np.any(np.isnan(r))


# -- timings (eqs. 1, 2, 5, 6, 7) -----------------------------------------------------------
def _uniform(beta: float) -> model.Timings:
    p = CompressionParams()
    return model.timings(p, np.full(4, beta), np.full(4, B_K), np.full(4, F_K), np.full(4, PATH_LOSS))


def test_timings_total_is_sum_of_parts() -> None:
    """T_total = T_comp + T_tr + T_DT (eq. 7) for random decisions."""
    p = CompressionParams(K=6)
    g = np.random.default_rng(3)
    t = model.timings(p, g.uniform(1, 3, 6), g.uniform(1e3, 5e4, 6), g.uniform(1e6, 2e7, 6),
                      PATH_LOSS * g.uniform(0.1, 3, 6))
    np.testing.assert_allclose(t.T_total, t.T_comp + t.T_tr + t.T_DT, rtol=1e-15)
    assert all(a.shape == (6,) for a in t)


def test_t_comp_zero_without_compression() -> None:
    """eta(1, eps) = 0, so T_comp = 0 at beta = 1, and it grows with beta."""
    t1, t2 = _uniform(1.0), _uniform(2.0)
    np.testing.assert_array_equal(t1.T_comp, np.zeros(4))
    assert np.all(t2.T_comp > 0)


def test_timings_uniform_scenario_by_hand() -> None:
    """Section V-A defaults, equal split, |h|^2 = 1, beta = 2: T_DT = 3.2 s, T_comp and T_tr by hand."""
    t = _uniform(2.0)
    rate = B_K * math.log2(1 + PATH_LOSS * P_W / (N0 * B_K))
    np.testing.assert_allclose(t.T_DT, 3.2, rtol=1e-14)  # 4000 * 1e4 / (50e6 / 4)
    np.testing.assert_allclose(t.T_comp, D * (math.exp(7.0) - math.exp(3.5)) / 200e3, rtol=1e-13)
    np.testing.assert_allclose(t.T_comp, 21.2703541294, rtol=1e-10)
    np.testing.assert_allclose(t.T_tr, D / (2.0 * rate), rtol=1e-13)
    np.testing.assert_allclose(t.T_tr, 6.2915020904, rtol=1e-9)
    np.testing.assert_allclose(t.T_total, 3.2 + 21.2703541294 + 6.2915020904, rtol=1e-10)


def test_timings_no_resources_give_infinite_times() -> None:
    """b = 0 or f = 0 gives infinite T_tr / T_DT, without warnings."""
    p = CompressionParams(K=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = model.timings(p, np.array([1.5, 1.5]), np.array([0.0, B_K]), np.array([F_K, 0.0]),
                          np.full(2, PATH_LOSS))
    assert t.T_tr[0] == math.inf and math.isfinite(t.T_tr[1])
    assert t.T_DT[1] == math.inf and math.isfinite(t.T_DT[0])


# -- channel (eq. 4, Rician fading) ---------------------------------------------------------
def test_channel_gain_shape_and_positive() -> None:
    """One positive |H_k|^2 per sensor."""
    for K in (1, 4, 9):
        H = model.draw_channel_gain(CompressionParams(K=K), np.random.default_rng(K))
        assert H.shape == (K,)
        assert np.all(H > 0) and np.all(np.isfinite(H))


@pytest.mark.parametrize("sigma, kappa, distance, alpha", [
    (1.0, 10.0, 378.0, 2.0),
    (2.0, 3.0, 100.0, 2.0),
    (0.5, 0.0, 50.0, 3.0),
])
def test_channel_gain_mean_is_sigma2_times_path_loss(sigma: float, kappa: float, distance: float,
                                                     alpha: float) -> None:
    """E|H|^2 = sigma^2 A0 d^-alpha (within 2 % over 1e5 draws)."""
    p = CompressionParams(K=100_000, fading_sigma=sigma, rician_k=kappa, distance_m=distance,
                          alpha=alpha)
    H = model.draw_channel_gain(p, np.random.default_rng(11))
    want = sigma**2 * 1e-3 * distance**-alpha
    assert H.mean() == pytest.approx(want, rel=0.02)


@pytest.mark.parametrize("kappa", [0.0, 1.0, 10.0])
def test_channel_gain_rician_k_factor(kappa: float) -> None:
    """The moment-based K-factor estimate (LoS power / NLoS power) from |h|^2 samples recovers kappa.

    For |h|^2 = P with LoS power nu^2 and NLoS power s2: Var P / (E P)^2 = gamma = (2 kappa + 1) /
    (kappa + 1)^2, so kappa = sqrt(1 - gamma) / (1 - sqrt(1 - gamma)).
    """
    p = CompressionParams(K=100_000, rician_k=kappa, fading_sigma=1.5)
    P = np.concatenate([model.draw_channel_gain(p, np.random.default_rng(s)) for s in (1, 2, 3)])
    P = P / (p.A0 * p.distance_m ** -p.alpha)
    gamma = P.var() / P.mean() ** 2
    root = math.sqrt(max(0.0, 1.0 - gamma))
    est = root / (1.0 - root)
    assert est == pytest.approx(kappa, abs=0.05 + 0.05 * kappa)
    los = P.mean() * root  # LoS power = E P * kappa / (kappa + 1)
    assert los == pytest.approx(1.5**2 * kappa / (kappa + 1), abs=0.03)


def test_channel_gain_same_seed_same_draw() -> None:
    """Equal generator seeds give identical channels; different seeds differ."""
    p = CompressionParams(K=8)
    a = model.draw_channel_gain(p, np.random.default_rng(42))
    b = model.draw_channel_gain(p, np.random.default_rng(42))
    c = model.draw_channel_gain(p, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# -- parameters (Section V, Table I) --------------------------------------------------------
def test_params_defaults_are_the_papers() -> None:
    """Defaults are Section V-A's uniform scenario, converted to SI units."""
    p = CompressionParams()
    assert (p.K, p.distance_m, p.D_bits, p.f_s_hz, p.beta_max) == (4, 378.0, 4000, 200e3, 3.0)
    assert (p.B_hz, p.C_dt_hz, p.c_cycles_per_bit) == (100e3, 50e6, 1e4)
    assert (p.epsilon, p.alpha, p.rician_k, p.fading_sigma) == (3.5, 2.0, 10.0, 1.0)
    assert (p.xi, p.L_max) == (1e-6, 30)
    assert p.p_w == pytest.approx(0.0316227766, rel=1e-9)
    assert p.N0_w_per_hz == pytest.approx(1e-12, rel=1e-12)
    assert p.A0 == pytest.approx(1e-3, rel=1e-12)
    assert p.n_samples == 250


def test_params_unknown_field_rejected_by_name() -> None:
    """A misspelt parameter is an error that names it."""
    with pytest.raises(ValidationError, match="beta_maxx"):
        CompressionParams(beta_maxx=2.0)


def test_params_d_bits_must_be_whole_samples() -> None:
    """D_bits not a multiple of 16 is rejected with a message saying so."""
    with pytest.raises(ValidationError, match=r"multiple of 16.*4001"):
        CompressionParams(D_bits=4001)
    assert CompressionParams(D_bits=4016).n_samples == 251


@pytest.mark.parametrize("K", [0, -1])
def test_params_k_at_least_one(K: int) -> None:
    """K < 1 is rejected, naming K."""
    with pytest.raises(ValidationError, match="K"):
        CompressionParams(K=K)


def test_params_frozen() -> None:
    """Parameters are immutable once built."""
    p = CompressionParams()
    with pytest.raises(ValidationError):
        p.K = 5  # type: ignore[misc]


@pytest.mark.parametrize("field, value", [("p_dbm", math.nan), ("B_hz", math.inf)])
def test_params_reject_non_finite(field: str, value: float) -> None:
    """Non-finite parameter values are rejected."""
    with pytest.raises(ValidationError, match=field):
        CompressionParams(**{field: value})
