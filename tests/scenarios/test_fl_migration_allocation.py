"""Problem (26): the closed-form allocator against cvxpy, against brute force, and the finding
that (26) is not convex for the paper's Norm (Theorem 2's eta_3 has the wrong sign)."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios.fl_migration import allocation as A
from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.algorithms import nearest
from twinbed.scenarios.fl_migration.params import FlMigrationParams


def _slot(p: FlMigrationParams, seed: int, mode: str):
    inst = model.draw_instance(p, seed)
    st = model.first_state(p, inst, seed)
    st = model.next_state(p, st, st.prev_assoc, seed)
    g = np.random.default_rng(seed)
    if mode == "nearest":
        assoc = nearest(p, inst, st)
    elif mode == "crowded":  # few servers take everyone: q_s binds or is exceeded
        assoc = g.integers(0, min(3, p.S), p.U)
    else:
        assoc = g.integers(0, p.S, p.U)
    return inst, st, assoc


@pytest.mark.parametrize("S", [3, 9, 21])
@pytest.mark.parametrize("mode", ["nearest", "random", "crowded"])
def test_fast_equals_cvxpy(S: int, mode: str) -> None:
    """Objective to 1e-6 (measured ~1e-12) and gamma to 1e-4 over several seeds."""
    p = FlMigrationParams(S=S, emd=0.4)
    for seed in range(4):
        inst, st, assoc = _slot(p, seed, mode)
        coef = model.server_coefficients(p, inst, st, assoc)
        fast = A.allocate_fast(p, coef, assoc, inst.q)
        ref = A.allocate_cvxpy(p, coef, assoc, inst.q)
        assert fast.value == pytest.approx(ref.value, abs=1e-6)
        np.testing.assert_allclose(fast.gamma, ref.gamma, atol=1e-4)
        ev = model.evaluate(p, inst, st, assoc, fast.gamma)
        assert ev["objective"] == pytest.approx(fast.value, abs=1e-12)
        c = ev["costs"]
        zero = model.costs(p, inst, st, assoc, np.zeros(p.U))
        fits = zero.cmp <= inst.q
        assert np.all(c.cmp[fits] <= inst.q[fits] * (1 + 1e-9))  # C1 of (26) where possible
        assert np.all(fast.gamma[~fits[assoc]] == 0.0)  # hopeless server: least violation


def test_mixed_emds_use_one_power_cone_per_value() -> None:
    p = FlMigrationParams(U=8, S=3, emd_per_user=(0, .2, .4, .6, 0, .2, .4, .6))
    inst, st, assoc = _slot(p, 5, "random")
    coef = model.server_coefficients(p, inst, st, assoc)
    assert A.allocate_fast(p, coef, assoc, inst.q).value == pytest.approx(
        A.allocate_cvxpy(p, coef, assoc, inst.q).value, abs=1e-6)


def _single(p, U, S, n_new, n_prev, c, b, a0, cap):
    m = len(n_new)
    v = model.emd_factor(np.zeros(m), p)
    return A.ServerProblems(*(np.atleast_2d(np.asarray(x, float)) for x in (n_new, n_prev, v, c, b)),
                            np.ones((1, m), bool), np.array([a0], float), np.array([cap], float))


@pytest.mark.parametrize("case", range(6))
def test_global_optimum_against_brute_force_grid(case: int) -> None:
    """Two users on one server, a 601 x 601 grid of gamma: the exact solver is never worse
    than the grid and the grid comes within its resolution of it (incl. binding q_s)."""
    p = FlMigrationParams()
    g = np.random.default_rng(case)
    U, S = 20, 9
    n_new = g.integers(200, 1000, 2)
    n_prev = g.integers(200, 1000, 2)
    b = n_prev * 784 * 55e-7 * 60
    c = b * g.choice([1.0, 1.0, 30.0], 2)  # some twins migrated: much dearer history
    a0 = float(g.uniform(0, 3000))
    cap = float(g.choice([1e9, 0.6 * b.sum()]))
    pr = _single(p, U, S, n_new, n_prev, c, b, a0, cap)
    gam, f = A.solve_problems(p, U, S, pr)
    x = np.linspace(0, 1, 601)
    G1, G2 = np.meshgrid(x, x, indexing="ij")
    grid = np.stack([G1.ravel(), G2.ravel()], -1)
    vals = A.problem_values(p, U, S, pr._replace(**{k: np.repeat(getattr(pr, k), grid.shape[0], 0)
                                                     for k in pr._fields}), grid)
    vals = np.where(grid @ b <= cap, vals, -np.inf)
    assert f[0] >= vals.max() - 1e-12
    assert f[0] - vals.max() < 1e-5
    assert gam[0] @ b <= cap * (1 + 1e-9)


def test_problem_26_is_not_convex_for_the_papers_norm() -> None:
    """-e^t along a line in gamma violates midpoint convexity: Theorem 2 does not hold (the
    normalization tanh(x / 4 f0) is concave, so eta_3 of eq. 30 is negative)."""
    p = FlMigrationParams()
    U, S = 20, 9
    pr = _single(p, U, S, [1000, 1000, 1000], [1000, 1000, 1000], [259.0] * 3, [259.0] * 3,
                 300.0, 1e9)
    worst = 0.0
    for a in np.linspace(0, 1, 11):
        for bb in np.linspace(0, 1, 11):
            pts = np.array([[a] * 3, [bb] * 3, [(a + bb) / 2] * 3])
            neg = -A.problem_values(p, U, S, pr._replace(**{k: np.repeat(getattr(pr, k), 3, 0)
                                                            for k in pr._fields}), pts)
            worst = max(worst, neg[2] - (neg[0] + neg[1]) / 2)
    assert worst > 1e-5  # the midpoint lies above the chord somewhere


def test_unknown_method_is_rejected() -> None:
    p = FlMigrationParams(U=2, S=2)
    inst, st, assoc = _slot(p, 0, "random")
    with pytest.raises(ValueError, match="expected method"):
        A.allocate(p, model.server_coefficients(p, inst, st, assoc), assoc, inst.q, "magic")


def _gamma_at_price_reference(p: FlMigrationParams, U: int, coef: dict[str, np.ndarray],
                              price: np.ndarray) -> np.ndarray:
    """The inner solver as first written (every coefficient broadcast to the prices' shape,
    nan_to_num before the clip): the fast path must give the same numbers, bit for bit."""
    from scipy.special import wrightomega

    v = np.broadcast_to(coef["v"], price.shape)
    n_new = np.broadcast_to(coef["n_new"], price.shape)
    n_prev = np.broadcast_to(coef["n_prev"], price.shape)
    k = (1.0 - v) / v
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.log(price * U / (p.beta1 * n_prev * p.alpha1 * p.alpha2 * p.alpha3 * v))
        x = k / p.alpha2 * np.real(wrightomega(np.log(p.alpha2 / k) - L / k))
        n = x ** (1.0 / v) / p.alpha3
        g = (n - n_new) / n_prev
    g = np.where(price <= 0, 1.0, g)
    g = np.where(n_prev <= 0, 0.0, g)
    return np.clip(np.nan_to_num(g, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


@pytest.mark.parametrize("seed", range(4))
def test_inner_solver_equals_the_reference_bit_for_bit(seed: int) -> None:
    """On random problems (zero, negative, tiny and huge prices; users with no previous
    samples) and on every call a few environment slots make, the same array."""
    p = FlMigrationParams()
    g = np.random.default_rng(seed)
    B, m = 7, 5
    coef = {"v": g.uniform(0.05, 0.95, (B, m)), "n_new": g.uniform(0, 3e3, (B, m)),
            "n_prev": np.where(g.random((B, m)) < 0.2, 0.0, g.uniform(0, 3e3, (B, m)))}
    price = 10.0 ** g.uniform(-12, 6, (11, B, m)) * g.choice([1.0, 1.0, 0.0, -1.0],
                                                              (11, B, m))
    price[0] = 0.0
    price[1] = np.inf
    price[2] = 1e-300
    for pr in (price, price[3]):
        want = _gamma_at_price_reference(p, 20, coef, pr)
        got = A._gamma_at_price(p, 20, coef, pr)
        assert got.shape == want.shape and np.array_equal(got, want)

    calls = []
    fast = A._gamma_at_price

    def record(p_, U, coef_, price_):  # noqa: ANN001, ANN202
        out = fast(p_, U, coef_, price_)  # copies: the caller writes into its result
        calls.append((U, {k: v.copy() for k, v in coef_.items()}, price_.copy(), out.copy()))
        return out

    from twinbed.scenarios.fl_migration.env import FlMigrationEnv

    env = FlMigrationEnv(continuous=bool(seed % 2))
    env.reset(seed=seed)
    env.action_space.seed(seed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(A, "_gamma_at_price", record)
        for _ in range(5):
            env.step(env.action_space.sample())
    assert calls
    for U, coef_, price_, out in calls:
        want = _gamma_at_price_reference(p, U, coef_, price_)
        assert out.shape == want.shape and np.array_equal(out, want)
