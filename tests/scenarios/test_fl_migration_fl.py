"""fl-migration's real federated learning: non-i.i.d. users with exact EMDs (eq. 10), eq. (4),
the weights' wire format, a real training run, and the fit of eqs. (11)-(12)."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios.fl_migration import fl
from twinbed.scenarios.fl_migration.calibration import fit_alphas, utility_curve
from twinbed.scenarios.fl_migration.params import FlMigrationParams


@pytest.fixture(scope="module")
def digits() -> fl.Digits:
    return fl.load_digits(0)


@pytest.mark.parametrize("emd", [0.0, 0.2, 0.4, 0.6])
@pytest.mark.parametrize("n", [200, 1000, 2000])
def test_users_have_the_papers_emd(digits: fl.Digits, emd: float, n: int) -> None:
    g = np.random.default_rng(0)
    idx = fl.user_indices(digits, n, emd, 3, g)
    assert idx.size == n
    # integer counts: each of the 10 classes is off by < 1 sample
    assert fl.emd_of(digits.y_train[idx], digits.p_all) == pytest.approx(emd, abs=10.0 / n)


def test_unreachable_emd_is_refused(digits: fl.Digits) -> None:
    with pytest.raises(ValueError, match="not reachable"):
        fl.user_counts(100, 1.95, 0, digits.p_all)


def test_fedavg_is_eq_4_and_weights_survive_the_wire() -> None:
    import torch

    a, b = fl.new_model(1).state_dict(), fl.new_model(2).state_dict()
    avg = fl.fedavg([a, b], np.array([300.0, 100.0]))
    for k in a:
        torch.testing.assert_close(avg[k], 0.75 * a[k] + 0.25 * b[k])
    blob = fl.state_bytes(avg)
    back = fl.state_from_bytes(blob)
    assert all(torch.equal(back[k], avg[k]) for k in avg)
    assert fl.sha256(blob) == fl.sha256(fl.state_bytes(back))
    with pytest.raises(ValueError, match="positive"):
        fl.fedavg([a, b], np.zeros(2))


def test_real_fl_slot_learns(digits: fl.Digits) -> None:
    """One slot of the paper's FL (few epochs) lifts test accuracy far above chance (0.1)."""
    r = fl.fl_accuracy(digits, 200, 0.4, seed=0, users=4, edges=2, E_s=20, E_us=2)
    assert r["accuracy"] > 0.5 and r["global_accuracy"] > 0.5
    assert r["emd_realized"] == pytest.approx(0.4, abs=0.01)


def test_fit_recovers_known_alphas() -> None:
    """Points drawn from eq. (11) with known alphas (plus tiny noise) are fitted back."""
    p = FlMigrationParams()
    true = (0.8, 5.0, 0.001, 0.95, 0.05, 1.2)
    n = np.repeat([200.0, 400.0, 700.0, 1000.0, 1500.0, 2000.0], 4)
    phi = np.tile([0.0, 0.2, 0.4, 0.6], 6)
    acc = utility_curve(np.vstack([n, phi]), *true)
    acc = acc + np.random.default_rng(0).normal(0, 1e-4, acc.size)
    rows = [{"n": a, "emd_realized": b, "accuracy": c} for a, b, c in zip(n, phi, acc)]
    fit = fit_alphas(rows, p)
    assert fit["rmse"] < 3e-4
    pred = utility_curve(np.vstack([n, phi]), *fit["alphas"].values())
    np.testing.assert_allclose(pred, acc, atol=1e-3)
