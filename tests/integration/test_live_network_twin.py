"""The network-twin scenario across the live services: users move in the sensor service, the
basestation allocates RBs and asks the controller's agent, the cloud twin syncs or predicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twinbed.scenarios import get_scenario
from twinbed.scenarios.network_twin.params import NetworkTwinParams

pytestmark = pytest.mark.integration


def simulate(p: NetworkTwinParams, algorithm: str, seed: int, rounds: int,
             data_dir: str | None = None) -> list[dict]:
    """The in-process runner (the core's, over the scenario's world)."""
    return get_scenario("network-twin").simulate(p, algorithm, seed, rounds, data_dir)


@pytest.fixture(scope="module")
def gru_in_stack(live) -> Path:
    """A (briefly) trained GRU for U = 4 in the stack's data directory, as the train command
    leaves it."""
    from twinbed.scenarios.network_twin.gru import gru_path, train_gru

    data = Path(live.info.data_dir)
    p = NetworkTwinParams(U=4)
    train_gru(p, gru_path(data, p.U), n_trajectories=200, length=10, epochs=1,
              test_trajectories=20, progress=False)
    return data


@pytest.mark.parametrize("algorithm, params", [
    ("periodic-k", {"U": 4, "sync_period_slots": 3}),
    ("error-aware", {"U": 4, "epsilon": 0.5}),
    # beyond the paper: motion with memory; the sensor keeps the slot before (replays too)
    ("periodic-k", {"U": 4, "sync_period_slots": 3, "mobility": "gauss-markov",
                    "predictor": "hold"}),
])
def test_live_slots_equal_the_in_process_slots(live, gru_in_stack, algorithm, params) -> None:
    """Same seed: every live slot's decision, rates, twin error and reward equal the
    in-process simulation's; the twin shows each user's position, source and error."""
    seed, rounds = 7, 12
    run_id = live.start_run(scenario="network-twin", algorithm=algorithm, seed=seed,
                            rounds=rounds, params=params)
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    recs = view["rounds"]
    assert [r["round"] for r in recs] == list(range(rounds))
    assert all(r["missing"] == [] for r in recs)

    p = NetworkTwinParams(**params)
    sim = simulate(p, algorithm, seed, rounds, data_dir=str(gru_in_stack))
    for got, want in zip(recs, sim):
        assert got["synced"] == want["synced"]
        assert got["rb"] == want["rb"]
        assert got["cloud_rb"] == want["cloud_rb"]
        assert got["sum_rate"] == pytest.approx(want["sum_rate"], rel=1e-12)
        assert got["err_sq"] == pytest.approx(want["err_sq"], rel=1e-9, abs=1e-12)
        assert got["reward"] == pytest.approx(want["reward"], rel=1e-9)
    assert any(r["synced"] for r in recs) and not all(r["synced"] for r in recs)

    hist = live.cloud.get(f"/twins/{run_id}.network/history").json()
    assert [h["round"] for h in hist] == list(range(rounds))
    for h, want in zip(hist, sim):
        users = h["state"]["users"]
        assert len(users) == p.U
        xy = np.array([[u["x"], u["y"]] for u in users])
        np.testing.assert_allclose(xy, want["twin"], rtol=1e-12)
        truth = np.asarray(want["positions"])
        np.testing.assert_allclose([u["error"] for u in users],
                                   np.linalg.norm(xy - truth, axis=1), atol=1e-9)
        source = "measured" if want["synced"] else "predicted"
        assert {u["source"] for u in users} == {source}
        if want["synced"]:
            assert h["fidelity"]["exact"] is True and h["aoi_modeled_s"] > 0
    twin = live.cloud.get(f"/twins/{run_id}.network").json()
    assert twin["round"] == rounds - 1 and twin["version"] == rounds


def test_live_dqn_agent_decides_like_in_process(live, gru_in_stack) -> None:
    """A trained SB3 agent answers the basestation live exactly as it does in-process."""
    from twinbed.scenarios.network_twin.gru import gru_path, load_gru
    from twinbed.scenarios.network_twin.learned import AGENTS
    from twinbed.scenarios.network_twin.training import train_agent

    p = NetworkTwinParams(U=4, episode_slots=50)
    train_agent(p, load_gru(gru_path(gru_in_stack, 4), p), "dqn", 600, 0,
                AGENTS["dqn"].user_path(gru_in_stack, p, 0), progress=False, eval_episodes=1)
    run_id = live.start_run(scenario="network-twin", algorithm="dqn", seed=3, rounds=6,
                            params={"U": 4, "episode_slots": 50})
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    sim = simulate(p, "dqn", 3, 6, data_dir=str(gru_in_stack))
    assert [r["synced"] for r in view["rounds"]] == [r["synced"] for r in sim]
    for got, want in zip(view["rounds"], sim):
        assert got["reward"] == pytest.approx(want["reward"], rel=1e-9)


@pytest.mark.parametrize("algorithm, params, words", [
    ("sac", {"U": 4}, "twinbed train network-twin --algorithm sac --param U=4"),
    ("never", {"U": 7}, "twinbed train network-twin-gru --param U=7"),
    ("never", {"U": 4, "hidden": 8}, "retrain"),
    ("never", {"U": 4, "predictor": "crystal-ball"}, "predictor"),
])
def test_missing_or_bad_artifacts_get_422_saying_how_to_fix(live, gru_in_stack, algorithm,
                                                            params, words) -> None:
    resp = live.controller.post("/runs", json={"scenario": "network-twin",
                                               "algorithm": algorithm, "params": params})
    assert resp.status_code == 422, resp.text
    assert words in resp.json()["detail"]


def test_hold_predictor_needs_no_artifact(live) -> None:
    run_id = live.start_run(scenario="network-twin", algorithm="never", seed=1, rounds=4,
                            params={"U": 3, "predictor": "hold"})
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    want = simulate(NetworkTwinParams(U=3, predictor="hold"), "never", 1, 4)
    assert [r["reward"] for r in view["rounds"]] == pytest.approx([w["reward"] for w in want])


def test_cloud_killed_mid_run_twin_still_equals_simulation(live, gru_in_stack) -> None:
    """kill -9 the cloud during a run and restart it: every slot is in the twin's history
    once, and the twin (kept in Redis, not in the process) still equals the simulation."""
    import time

    params, rounds = {"U": 4, "sync_period_slots": 4}, 30
    run_id = live.start_run(scenario="network-twin", algorithm="periodic-k", seed=9,
                            rounds=rounds, params=params)
    live.wait_run(run_id, rounds_done=4)
    live.stack.kill("cloud")
    time.sleep(0.5)
    assert live.controller.get(f"/runs/{run_id}").json()["status"]["rounds_done"] < rounds
    live.stack.restart("cloud")
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    assert all(r["missing"] == [] for r in view["rounds"])
    hist = live.cloud.get(f"/twins/{run_id}.network/history").json()
    assert [h["round"] for h in hist] == list(range(rounds))
    sim = simulate(NetworkTwinParams(**params), "periodic-k", 9, rounds,
                   data_dir=str(gru_in_stack))
    for h, want in zip(hist, sim):
        xy = [[u["x"], u["y"]] for u in h["state"]["users"]]
        np.testing.assert_allclose(xy, want["twin"], rtol=1e-12)
    assert [r["reward"] for r in view["rounds"]] == pytest.approx([w["reward"] for w in sim])
