"""The network-twin system model: mobility (1), rates (2, 3), cloud RB, Hungarian RBs, rewards."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydantic import ValidationError

from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.params import NetworkTwinParams


def test_table_one_defaults() -> None:
    p = NetworkTwinParams()
    assert (p.U, p.N, p.B, p.P, p.N0, p.fading_mean) == (10, 6, 1.0, 1.0, 1e-5, 1.0)
    assert p.bs_xy == (0.0, 0.0) and p.cloud_xy == (20.0, 20.0)
    assert (p.epsilon, p.D, p.gamma, p.M, p.hidden) == (0.987, 0.1, 2.5, 5, 128)
    assert (p.sac_alpha, p.lr_pi, p.lr_q, p.discount) == (0.05, 1e-4, 1e-3, 0.8)


def test_params_reject_unknown_and_inconsistent_values() -> None:
    with pytest.raises(ValidationError, match="Uu"):
        NetworkTwinParams(Uu=3)
    with pytest.raises(ValidationError, match="move_prob_min <= move_prob_max"):
        NetworkTwinParams(move_prob_min=0.5, move_prob_max=0.1)
    with pytest.raises(ValidationError):
        NetworkTwinParams(N=1)


def test_move_probabilities_are_distributions_rising_in_dynamics() -> None:
    P = NetworkTwinParams().move_probs()
    assert P.shape == (10, 5)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    moving = 1 - P[:, 0]
    assert np.all(np.diff(moving) > 0)
    assert moving[0] == pytest.approx(0.002) and moving[-1] == pytest.approx(0.97)
    np.testing.assert_allclose(P[:, 1:], np.repeat(moving[:, None] / 4, 4, axis=1))


def test_random_walk_follows_the_five_moves_with_their_probabilities() -> None:
    p = NetworkTwinParams(U=4, move_prob_min=0.2, move_prob_max=0.8, step_blocks=2.0)
    probs = p.move_probs()
    rng = np.random.default_rng(1)
    n = 40_000
    pos = np.zeros((p.U, 2))
    counts = np.zeros((p.U, 5))
    for _ in range(n):
        new = model.move(p, pos, rng)
        d = (new - pos) / p.step_blocks
        idx = np.argmax(np.all(d[:, None, :] == model.MOVES[None], axis=2), axis=1)
        assert np.all(np.all(d[:, None, :] == model.MOVES[None], axis=2).any(axis=1))
        counts[np.arange(p.U), idx] += 1
    np.testing.assert_allclose(counts / n, probs, atol=0.01)


def test_users_never_leave_the_area() -> None:
    p = NetworkTwinParams(U=50, area_blocks=6, move_prob_min=0.9, move_prob_max=1.0)
    rng = np.random.default_rng(2)
    pos = model.initial_positions(p, rng)
    for _ in range(500):
        pos = model.move(p, pos, rng)
        assert np.all(np.abs(pos) <= 3)


def test_rates_follow_eqs_2_and_3() -> None:
    p = NetworkTwinParams(U=2, N=3)
    ch = model.Channel(fading=np.array([[1.0, 0.5, 2.0], [0.3, 1.0, 1.0]]),
                       cloud_fading=np.array([1.0, 0.1, 2.0]),
                       interference=np.array([1e-4, 0.0, 3e-4]))
    pos = np.array([[3.0, 4.0], [0.0, 0.0]])  # d = 5; the second sits on the BS (floor 1)
    c = model.user_rates(p, pos, ch)
    assert c[0, 1] == pytest.approx(np.log2(1 + 0.5 / 25 / (0 + 1e-5)))
    assert c[1, 2] == pytest.approx(np.log2(1 + 1.0 / 1 / (3e-4 + 1e-5)))
    cc = model.cloud_rates(p, ch)
    assert cc[2] == pytest.approx(np.log2(1 + 2.0 / 800 / (3e-4 + 1e-5)))


def test_cloud_rb_is_the_slowest_that_meets_the_delay_bound() -> None:
    p = NetworkTwinParams(U=1, N=4)
    ch = model.Channel(np.ones((1, 4)), np.array([1.0, 1e-4, 0.01, 3.0]), np.full(4, 1e-4))
    c = model.cloud_rates(p, ch)
    delay = p.D / c
    R, T = model.cloud_rb(p, ch)
    feasible = np.flatnonzero(delay <= p.gamma)
    assert 1 not in feasible and R in feasible  # RB 1 is too slow for gamma
    assert T == pytest.approx(delay[feasible].max()) and T <= p.gamma
    none = NetworkTwinParams(U=1, N=4, gamma=1e-6)
    assert model.cloud_rb(none, ch) == (-1, float("inf"))


@pytest.mark.parametrize("U, N", [(4, 3), (3, 5), (5, 5)])
def test_hungarian_matches_brute_force(U: int, N: int) -> None:
    rng = np.random.default_rng(U * 10 + N)
    for _ in range(20):
        rates = rng.exponential(1.0, (U, N))
        for reserved in (-1, int(rng.integers(N))):
            rb, total = model.assign_rbs(rates, reserved)
            cols = [n for n in range(N) if n != reserved]
            k = min(U, len(cols))
            best = max(sum(rates[u, c] for u, c in zip(us, cs))
                       for us in itertools.permutations(range(U), k)
                       for cs in itertools.combinations(cols, k))
            assert total == pytest.approx(best)
            used = rb[rb >= 0]
            assert len(set(used)) == len(used) and reserved not in used  # 5b, 16a
            assert total == pytest.approx(rates[rb >= 0, used].sum())


def test_sync_costs_rate_and_rewards_are_eqs_15_and_17() -> None:
    p = NetworkTwinParams()
    rng = np.random.default_rng(3)
    pos = model.initial_positions(p, rng)
    for _ in range(50):
        out = model.slot_outcome(p, pos, model.draw_channel(p, rng))
        assert out.feasible
        assert out.rate_sync <= out.rate_nosync + 1e-12
        assert out.cloud_rb not in out.rb_sync
        assert out.cloud_delay <= p.gamma
    assert model.reward(p, True, 10.0, 99.0) == pytest.approx(0.987 * 10)
    assert model.reward(p, False, 10.0, 50.0) == pytest.approx(0.987 * 10 - 0.013 / 10 * 50)
    assert model.twin_error_sq([[0, 0], [1, 1]], [[3, 4], [1, 1]]) == 25.0
