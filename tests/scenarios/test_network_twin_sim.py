"""The network-twin slots, agents, GRU predictor and gymnasium environment."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.agents import MissingArtifactError
from twinbed.scenarios import get_scenario
from twinbed.scenarios.network_twin import gru, model
from twinbed.scenarios.network_twin.algorithms import rule
from twinbed.scenarios.network_twin.contract import BasestationShare, CloudShare, SlotReport
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.world import NetworkWorld

HOLD = NetworkTwinParams(predictor="hold")


def simulate(p: NetworkTwinParams, algorithm: str, seed: int, rounds: int) -> list[dict]:
    return get_scenario("network-twin").simulate(p, algorithm, seed, rounds)


@pytest.fixture(scope="module")
def small_gru(tmp_path_factory: pytest.TempPathFactory) -> tuple[NetworkTwinParams, object]:
    p = NetworkTwinParams(hidden=16)
    path = gru.gru_path(tmp_path_factory.mktemp("data"), p.U)
    gru.train_gru(p, path, n_trajectories=500, length=12, epochs=4, test_trajectories=100,
                  progress=False)
    return p, path


def test_same_seed_same_slots_other_seed_other_slots() -> None:
    a = simulate(HOLD, "periodic-k", seed=4, rounds=30)
    b = simulate(HOLD, "periodic-k", seed=4, rounds=30)
    c = simulate(HOLD, "periodic-k", seed=5, rounds=30)
    assert a == b
    assert a != c


def test_twin_takes_the_state_on_sync_and_the_prediction_otherwise() -> None:
    sim = NetworkWorld(HOLD, 1, gru.HoldPredictor())
    for t in range(40):
        sync = t % 7 == 3
        state = sim.state()
        rec = sim.step(sync)
        if sync:
            assert rec.synced and rec.err_sq == 0.0
            assert rec.twin == rec.positions
            assert rec.reward == pytest.approx(HOLD.epsilon * state.rate_sync)
        else:
            # hold: the twin stays at the last sent state; eq. (15)
            assert rec.twin == state.last_sync
            err = model.twin_error_sq(np.asarray(rec.positions), np.asarray(state.last_sync))
            assert rec.err_sq == pytest.approx(err)
            assert rec.reward == pytest.approx(
                HOLD.epsilon * state.rate_nosync - (1 - HOLD.epsilon) / HOLD.U * err)


def test_no_sync_when_no_rb_meets_the_delay_bound() -> None:
    p = NetworkTwinParams(predictor="hold", gamma=1e-9)
    recs = simulate(p, "always", seed=0, rounds=5)
    assert all(r["requested_sync"] and not r["synced"] for r in recs)


def test_agents_rank_as_the_model_says_over_a_long_run() -> None:
    """Over 600 slots the twin drifts: never pays the error, always the RB each slot, while
    syncing now and then beats both; error-aware syncs exactly when (17) > (15)."""
    mean = {a: np.mean([r["reward"] for r in simulate(HOLD, a, seed=2, rounds=600)])
            for a in ("never", "always", "periodic-k", "error-aware")}
    assert mean["periodic-k"] > max(mean["never"], mean["always"])
    assert mean["error-aware"] > max(mean["never"], mean["always"])
    sim = NetworkWorld(HOLD, 2, gru.HoldPredictor())
    synced = 0
    for _ in range(600):
        s = sim.state()
        r17 = HOLD.epsilon * s.rate_sync
        r15 = HOLD.epsilon * s.rate_nosync - (1 - HOLD.epsilon) / HOLD.U * s.err_if_skip
        assert rule(HOLD, "error-aware", s) == (r17 > r15)
        synced += sim.step(rule(HOLD, "error-aware", s)).synced
    assert synced > 0


def test_periodic_k_syncs_every_kth_slot() -> None:
    p = NetworkTwinParams(predictor="hold", sync_period_slots=4)
    recs = simulate(p, "periodic-k", seed=0, rounds=12)
    assert [r["synced"] for r in recs] == [False, False, False, True] * 3


def test_gru_trajectories_and_windows() -> None:
    p = NetworkTwinParams(U=3)
    tr = gru.trajectories(p, 5, 8, seed=0)
    assert tr.shape == (5, 8, 3, 2)
    steps = np.abs(np.diff(tr, axis=1)).sum(axis=-1)
    assert set(np.unique(steps)) <= {0.0, 1.0}
    X, Y = gru._windows(tr, p.M)
    assert X.shape == (5 * 3, p.M, 3, 2)
    np.testing.assert_array_equal(X[1, -1], tr[0, p.M])
    np.testing.assert_array_equal(Y[1], tr[0, p.M + 1])


def test_gru_trains_saves_loads_and_predicts_like_the_best_predictor(small_gru) -> None:
    p, path = small_gru
    rec = (path.with_suffix(".json")).read_text()
    assert "test_mse_per_user" in rec
    pred = gru.load_gru(path, p)
    test = gru.trajectories(p, 100, 12, seed=9, name="check")
    mse = gru.per_user_mse(pred, test, p.M)
    hold = gru.per_user_mse(gru.HoldPredictor(), test, p.M)
    # for i.i.d. symmetric moves the best one-step predictor is the last position: the GRU
    # must learn (close to) that, and users' errors rise with their move probability
    assert np.all(mse <= hold * 1.2 + 0.005), (mse, hold)
    assert mse[-1] > mse[len(mse) // 2] > mse[0]
    again = gru.load_gru(path, p)
    w = test[0, :p.M]
    np.testing.assert_array_equal(pred.predict(w), again.predict(w))


def test_gru_missing_or_mismatched_says_how_to_fix(tmp_path, small_gru) -> None:
    p, path = small_gru
    with pytest.raises(MissingArtifactError, match="twinbed train network-twin-gru"):
        gru.load_gru(tmp_path / "nope.pt", p)
    with pytest.raises(ValueError, match="retrain"):
        gru.load_gru(path, NetworkTwinParams(hidden=32))


@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_env_passes_both_checkers_and_is_seeded(action: str) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    from twinbed.scenarios.network_twin.env import NetworkTwinEnv

    p = NetworkTwinParams(predictor="hold", episode_slots=20)
    env = NetworkTwinEnv(p, gru.HoldPredictor(), action)
    check_env(env, skip_render_check=True)
    sb3_check(env)

    def rollout() -> list[float]:
        e = NetworkTwinEnv(p, gru.HoldPredictor(), action)
        obs, _ = e.reset(seed=7)
        e.action_space.seed(7)
        out, done = [], False
        while not done:
            obs, r, term, trunc, _ = e.step(e.action_space.sample())
            out.append(r)
            done = term or trunc
        return out

    a, b = rollout(), rollout()
    assert a == b and len(a) == 20
    with pytest.raises(ValueError, match="not in"):
        env.reset(seed=0)
        env.step(5 if action == "discrete" else np.array([3.0], dtype=np.float32))


def test_spec_summarize_needs_both_parties_for_a_reward() -> None:
    from twinbed.scenarios import get_scenario

    spec = get_scenario("network-twin")
    p = NetworkTwinParams()
    bs = SlotReport(basestation=BasestationShare(
        requested_sync=True, synced=True, sum_rate=20.0, rb=[0] * 10, cloud_rb=2,
        cloud_delay=0.05, bs_err_if_skip=1.0, solve_s=0.0, modeled_start_s=3.0))
    cloud = SlotReport(cloud=CloudShare(err_sq=0.0, source="measured", aoi_slots=0.05,
                                        twin_wall=2.0, sampled_wall=1.5))
    full = spec.summarize_json(p, 3, {"basestation": bs.model_dump(),
                                      "cloud": cloud.model_dump()}, [])
    assert full["reward"] == pytest.approx(0.987 * 20.0) and full["slot_s"] == 1.0
    assert full["pipeline_wall_s"] == pytest.approx(0.5)
    half = spec.summarize_json(p, 3, {"basestation": bs.model_dump()}, ["cloud"])
    assert "reward" not in half and half["missing"] == ["cloud"]
    # the twin's error unknown (its oracle entry gone): no reward either
    blind = SlotReport(cloud=cloud.cloud.model_copy(update={"err_sq": None}))
    none = spec.summarize_json(p, 3, {"basestation": bs.model_dump(),
                                      "cloud": blind.model_dump()}, [])
    assert "reward" not in none and "err_sq" not in none and none["source"] == "measured"
    assert spec.parties(p) == ["basestation", "cloud"] and spec.first_role == "sensor"


def test_world_plays_slots_in_order_and_the_runner_matches_it() -> None:
    world = NetworkWorld(HOLD, 5, gru.HoldPredictor())
    with pytest.raises(ValueError, match="in order"):
        world.decision_state(1)
    recs = simulate(HOLD, "periodic-k", 5, 6)
    again = NetworkWorld(HOLD, 5, gru.HoldPredictor())
    for r, rec in enumerate(recs):
        state = again.decision_state(r)
        want = again.step(state.unsynced + 1 >= HOLD.sync_period_slots, float(r))
        assert rec == want.model_dump()
        assert rec["modeled_start_s"] == float(r) and rec["slot_s"] == 1.0
