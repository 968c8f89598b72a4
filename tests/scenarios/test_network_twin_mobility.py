"""network-twin beyond the paper (issue 18): a mobility model with memory, the Kalman
baseline, and a GRU that can see motion."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios import get_scenario
from twinbed.scenarios.network_twin import gru, model
from twinbed.scenarios.network_twin.learned import GRU
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.world import NetworkWorld

WALK = NetworkTwinParams()
GM = NetworkTwinParams(mobility="gauss-markov")


def _steps(p: NetworkTwinParams, n: int = 400, length: int = 40) -> np.ndarray:
    return np.diff(gru.trajectories(p, n, length, seed=3, name="test"), axis=1)


def test_gauss_markov_keeps_each_users_step_variance_and_adds_memory() -> None:
    m = 1.0 - WALK.move_probs()[:, 0]
    for p, corr in ((WALK, 0.0), (GM, GM.gm_memory)):
        d = _steps(p)  # (n, T-1, U, 2)
        var = np.mean(d**2, axis=(0, 1, 3))
        # each coordinate's step variance is m_u dl^2 / 2 under both (the border aside)
        np.testing.assert_allclose(var[3:], m[3:] / 2, rtol=0.12)
        lag1 = np.sum(d[:, 1:] * d[:, :-1]) / np.sum(d[:, :-1] ** 2)
        assert lag1 == pytest.approx(corr, abs=0.05)


def test_the_walk_draws_what_it_drew_before_the_mobility_choice() -> None:
    """mobility='walk' consumes its generator as eq. (1) always did (same numbers)."""
    pos = model.initial_positions(WALK, np.random.default_rng(0))
    a = model.move(WALK, pos, np.random.default_rng(1))
    b = model.move(WALK, pos, np.random.default_rng(1), before=pos - 1.0)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(np.abs(a - pos))) <= {0.0, 1.0}


def test_kalman_holds_under_the_walk_and_extrapolates_under_memory() -> None:
    for p in (WALK, GM):
        train = gru.trajectories(p, 400, 30, seed=0, name="train")
        test = gru.trajectories(p, 100, 30, seed=1, name="test")
        k = gru.KalmanPredictor.fit(train)
        kal = gru.per_user_mse(k, test, p.M)
        hold = gru.per_user_mse(gru.HoldPredictor(), test, p.M)
        if p is WALK:
            assert abs(k.a) < 0.05
            np.testing.assert_allclose(kal, hold, rtol=0.02)
        else:
            assert k.a == pytest.approx(p.gm_memory, abs=0.05)
            # what is left is the innovation: (1 - a^2) of the step variance
            ratio = kal[3:].sum() / hold[3:].sum()
            assert ratio == pytest.approx(1 - p.gm_memory**2, abs=0.08)


def test_gru_sees_motion_only_with_relative_inputs(tmp_path) -> None:  # noqa: ANN001
    """Under memory, a GRU fed absolute positions (the shipped reconstruction) stays at
    hold-last within a small budget; fed each window relative to its newest state it learns
    the velocity, as the Kalman filter does."""
    mse = {}
    for how in ("absolute", "relative"):
        p = NetworkTwinParams(mobility="gauss-markov", gru_input=how, hidden=32)
        path = tmp_path / f"{how}.pt"
        gru.train_gru(p, path, n_trajectories=600, length=20, epochs=4,
                      test_trajectories=100, progress=False)
        pred = gru.load_gru(path, p)
        assert pred.inputs == how
        test = gru.trajectories(p, 100, 30, seed=7, name="test")
        mse[how] = gru.per_user_mse(pred, test, p.M)[3:].sum()
        hold = gru.per_user_mse(gru.HoldPredictor(), test, p.M)[3:].sum()
    assert mse["absolute"] > 0.9 * hold
    assert mse["relative"] < 0.75 * hold


def test_a_gru_for_another_mobility_has_its_own_file_and_is_refused(tmp_path) -> None:  # noqa: ANN001
    assert GRU.file_name(WALK, 0) == "network-twin-gru-U10.pt"  # the shipped name stays
    assert GRU.file_name(GM, 0) == "network-twin-gru-U10-mobilitygauss-markov.pt"
    rel = NetworkTwinParams(mobility="gauss-markov", gru_input="relative")
    assert "gru_inputrelative" in GRU.file_name(rel, 0)
    small = NetworkTwinParams(hidden=8)
    path = tmp_path / "walk.pt"
    gru.train_gru(small, path, n_trajectories=50, length=8, epochs=1, test_trajectories=10,
                  progress=False)
    with pytest.raises(ValueError, match="mobility"):
        gru.load_gru(path, NetworkTwinParams(hidden=8, mobility="gauss-markov"))


def test_a_gauss_markov_run_is_reproducible_and_moves_with_memory() -> None:
    p = NetworkTwinParams(mobility="gauss-markov", predictor="hold", U=4)
    sim = get_scenario("network-twin").simulate
    a, b = sim(p, "periodic-k", 3, 40), sim(p, "periodic-k", 3, 40)
    assert a == b
    w = NetworkWorld(p, 3, gru.HoldPredictor())
    pos = [w.pos.copy()]
    for _ in range(40):
        w.step(False)
        pos.append(w.pos.copy())
    np.testing.assert_allclose(np.array([r["positions"] for r in a]), np.array(pos[:40]))


def test_sync_map_marks_where_syncing_pays(tmp_path) -> None:  # noqa: ANN001
    """The map beyond Table I: every (N, epsilon) cell, each rule's paired gain over `never`
    with its interval; with the error weighing 0.09 per block^2 (epsilon 0.1) syncing pays."""
    import csv

    from twinbed.scenarios.network_twin import figures

    p = NetworkTwinParams(episode_slots=8)
    res = figures.reproduce("sync-map", p, tmp_path, tmp_path, seeds=2, episodes=2)
    rows = list(csv.DictReader(res.files.csv.open()))
    assert len(rows) == len(figures.MAP_RBS) * len(figures.MAP_EPSILONS)
    for a in figures.MAP_RULES:
        assert {f"{a}_minus_never", f"{a}_minus_never_lo", f"{a}_minus_never_hi"} <= rows[0].keys()
    low = [r for r in rows if float(r["epsilon"]) == 0.1]
    assert low and all(r["sync_pays"] == "True" for r in low)
    assert res.files.png.stat().st_size > 10_000
    assert "pays" in res.table() and "yes" in res.table()
    with pytest.raises(ValueError, match="seeds >= 2"):
        figures.reproduce("sync-map", p, tmp_path, tmp_path, seeds=1)


def test_fig3_away_from_table_one_says_its_claims_are_table_ones() -> None:
    from twinbed.figcheck import check_reasons
    from twinbed.scenarios.network_twin import figures

    check_reasons(figures.BEYOND_TABLE_I, list(figures.BEYOND_TABLE_I))  # links resolve
    assert figures._reasons(NetworkTwinParams()) is figures.REASONS
    assert figures._reasons(NetworkTwinParams(epsilon=0.5)) is figures.BEYOND_TABLE_I
    assert figures._reasons(NetworkTwinParams(N=8)) is figures.BEYOND_TABLE_I
