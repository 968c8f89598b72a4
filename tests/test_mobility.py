"""twinbed.mobility: every model and border rule against closed forms, and (so a scenario can
switch to the core without changing a number) the same draws as the scenario's own model."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.mobility import (
    GaussMarkovPolar,
    GaussMarkovVelocity,
    GridRandomWalk,
    Reflect,
    Stay,
    Unbounded,
    uniform_box,
    uniform_disc,
)

N = 200_000


def test_reflect_border_closed_form() -> None:
    """x < 0 -> -x, x > L -> 2L - x, velocity component reversed; inside untouched."""
    old = np.zeros((3, 2))
    new = np.array([[-1.0, 5.0], [12.0, 3.0], [4.0, 4.0]])
    vel = np.array([[-1.0, 1.0], [2.0, 1.0], [1.0, 1.0]])
    x, v = Reflect(0.0, 10.0).apply(old, new, vel)
    assert np.array_equal(x, [[1.0, 5.0], [8.0, 3.0], [4.0, 4.0]])
    assert v is not None and np.array_equal(v, [[1.0, 1.0], [-2.0, 1.0], [1.0, 1.0]])


def test_stay_border_rejects_the_whole_step() -> None:
    old = np.array([[0.0, 0.0], [1.0, 1.0]])
    new = np.array([[0.0, 3.5], [2.0, 1.0]])
    x, _ = Stay(3.0).apply(old, new)
    assert np.array_equal(x, [[0.0, 0.0], [2.0, 1.0]])
    assert np.array_equal(Unbounded().apply(old, new)[0], new)


def test_gauss_markov_velocity_is_ar1_with_stationary_variance() -> None:
    """mean 0: v' = a v + sqrt(1 - a^2) sigma w keeps Var v = sigma^2, corr(v, v') = a."""
    a, sigma = 0.7, 2.0
    g = np.random.default_rng(0)
    vel = g.normal(0.0, sigma, (N, 2))
    model = GaussMarkovVelocity(a, 0.0, sigma)
    pos, v2 = model.step(g, np.zeros((N, 2)), vel)
    assert np.array_equal(pos, v2)  # unbounded: x' = x + v'
    assert v2.var() == pytest.approx(sigma**2, rel=0.01)
    assert np.corrcoef(vel[:, 0], v2[:, 0])[0, 1] == pytest.approx(a, abs=0.005)


def test_gauss_markov_velocity_deterministic_reflection() -> None:
    """a = 1 (no noise): a straight line, reflected at the border, velocity reversed."""
    model = GaussMarkovVelocity(1.0, 3.0, 1.0, Reflect(0.0, 10.0))
    pos, vel = np.array([[8.0, 5.0]]), np.array([[3.0, 0.0]])
    pos, vel = model.step(np.random.default_rng(0), pos, vel)
    assert np.allclose(pos, [[9.0, 5.0]]) and np.allclose(vel, [[-3.0, 0.0]])


def test_gauss_markov_polar_means_converge_in_closed_form() -> None:
    """Without noise, speed_n = a^n s_0 + (1 - a^n) s_mean and the heading likewise; each step
    first moves tau s_n along the current heading."""
    a, tau = 0.8, 2.0
    model = GaussMarkovPolar(a, 5.0, 0.0, 0.0, tau)
    g = np.random.default_rng(1)
    st = model.start(g, np.zeros((3, 2)))
    st = st._replace(speed=np.array([1.0, 5.0, 9.0]), heading=st.heading + 1.0)
    h0, s0 = st.heading.copy(), st.speed.copy()
    nxt = model.step(g, st)
    assert np.allclose(nxt.pos, tau * s0[:, None] * np.stack([np.cos(h0), np.sin(h0)], 1))
    for n in range(1, 6):
        if n > 1:
            nxt = model.step(g, nxt)
        assert np.allclose(nxt.speed, a**n * s0 + (1 - a**n) * 5.0)
        assert np.allclose(nxt.heading, a**n * h0 + (1 - a**n) * st.mean_heading)


def test_gauss_markov_polar_stationary_speed_variance() -> None:
    model = GaussMarkovPolar(0.5, 10.0, 1.0, 0.3, 1.0)
    g = np.random.default_rng(2)
    st = model.start(g, np.zeros((N, 2)))
    st = st._replace(speed=g.normal(10.0, 1.0, N))
    nxt = model.step(g, st)
    assert nxt.speed.mean() == pytest.approx(10.0, abs=0.01)
    assert nxt.speed.var() == pytest.approx(1.0, rel=0.02)


def test_grid_random_walk_mean_and_variance_per_step() -> None:
    """Displacement per slot: mean step sum p_i m_i, variance step^2 (sum p_i m_i^2 - mean^2)."""
    moves = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]], dtype=float)
    p = np.array([0.2, 0.4, 0.1, 0.1, 0.2])
    walk = GridRandomWalk(moves, 2.0)
    start = np.zeros((N, 2))
    d = walk.move(np.random.default_rng(3), start, np.tile(p, (N, 1))) - start
    mean = 2.0 * p @ moves
    var = 4.0 * (p @ moves**2) - mean**2
    assert d.mean(axis=0) == pytest.approx(mean, abs=0.01)
    assert d.var(axis=0) == pytest.approx(var, rel=0.02)
    edge = walk.move(np.random.default_rng(3), np.array([[0.0, 1.0]]), np.array([[0, 1, 0, 0, 0]]))
    assert np.array_equal(edge, [[0.0, 3.0]])
    boxed = GridRandomWalk(moves, 2.0, Stay(2.0))
    assert np.array_equal(boxed.move(np.random.default_rng(3), np.array([[0.0, 1.0]]),
                                     np.array([[0, 1.0, 0, 0, 0]])), [[0.0, 1.0]])


def test_uniform_placements() -> None:
    g = np.random.default_rng(4)
    x = uniform_disc(g, N, (10.0, -5.0), 3.0)
    r2 = ((x - [10.0, -5.0]) ** 2).sum(axis=1)
    assert r2.max() <= 9.0 and np.mean(r2 <= 2.25) == pytest.approx(0.25, abs=0.005)
    b = uniform_box(g, N, 0.0, 4.0)
    assert b.min() >= 0 and b.max() < 4 and b.mean() == pytest.approx(2.0, abs=0.01)


# -- the scenarios' own models, reproduced draw for draw (what a migration keeps) -----------
def test_same_draws_as_fl_migration_gauss_markov() -> None:
    from twinbed.scenarios.fl_migration import model as flm
    from twinbed.scenarios.fl_migration.params import FlMigrationParams

    p = FlMigrationParams()
    g0 = np.random.default_rng(5)
    xy, vel = g0.uniform(0, p.area_m, (p.U, 2)), g0.normal(0, 5.0, (p.U, 2))
    want = flm.mobility_step(p, xy, vel, np.random.default_rng(6))
    gm = GaussMarkovVelocity(p.mobility_memory, p.mobility_mean_m, p.mobility_sigma_m,
                             Reflect(0.0, p.area_m))
    got = gm.step(np.random.default_rng(6), xy, vel)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_same_draws_as_semantic_gauss_markov() -> None:
    from twinbed.scenarios.semantic import model as sem
    from twinbed.scenarios.semantic.params import SemanticParams

    p = SemanticParams()
    want0 = sem.init_mobility(p, np.random.default_rng(7))
    g = np.random.default_rng(7)
    pos = uniform_disc(g, p.K, p.area_center_m, p.area_radius_m)
    gm = GaussMarkovPolar(p.memory, p.speed_mean_mps, p.speed_std_mps, p.heading_std_rad,
                          p.tau_s)
    st = gm.start(g, pos)
    for a, b in zip(st, want0, strict=True):
        assert np.array_equal(a, b)
    want = sem.step_mobility(p, want0, np.random.default_rng(8))
    got = gm.step(np.random.default_rng(8), st)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)


def test_same_draws_as_network_twin_random_walk() -> None:
    from twinbed.scenarios.network_twin import model as nt
    from twinbed.scenarios.network_twin.params import NetworkTwinParams

    p = NetworkTwinParams()
    pos = nt.initial_positions(p, np.random.default_rng(9))
    want = nt.move(p, pos, np.random.default_rng(10))
    walk = GridRandomWalk(nt.MOVES, p.step_blocks, Stay(p.half_blocks))
    assert np.array_equal(walk.move(np.random.default_rng(10), pos, p.move_probs()), want)
