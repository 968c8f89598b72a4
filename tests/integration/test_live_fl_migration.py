"""fl-migration across the live services: two edge processes really train and exchange twins,
the cloud aggregates (eq. 4) and rejects stale or corrupt model updates."""

from __future__ import annotations

import hashlib
import io
import json
import time

import numpy as np
import pytest

from twinbed import keys
from twinbed.bus import encode
from twinbed.scenarios.fl_migration import FlMigrationParams
from twinbed.scenarios.fl_migration.world import simulate

pytestmark = pytest.mark.integration

# small and fast: 6 users on 3 servers (servers 0, 2 in edge process 0, server 1 in edge.1),
# users that move a lot (so nearest migrates twins between processes), few epochs
PARAMS = {"U": 6, "S": 3, "new_samples_low": 30, "new_samples_high": 60, "E_s": 3, "E_us": 1,
          "mobility_sigma_m": 35.0, "emd": 0.4}
MODELED = ("objective", "reward", "utility", "cost_total", "cost_mig", "cost_syn", "cost_cmp",
           "gamma_mean", "migrations")


def _assert_slots_equal_the_simulation(live, recs: list, seed: int, rounds: int) -> None:
    """Every slot recorded, no party missing, and the modeled metrics of `nearest` equal to
    the in-process simulation of the same seed."""
    assert [r["round"] for r in recs] == list(range(rounds))
    assert all(r["missing"] == [] for r in recs), live.logs()
    sim = simulate(FlMigrationParams(**PARAMS), "nearest", seed, rounds)
    for got, want in zip(recs, sim):
        assert got["assoc"] == want["assoc"]
        np.testing.assert_allclose(got["gamma"], want["gamma"], rtol=0, atol=1e-12)
        for k in MODELED:
            assert got[k] == pytest.approx(want[k], rel=1e-12, abs=1e-12), k


def test_live_slots_train_migrate_aggregate_and_equal_the_simulation(live) -> None:
    seed, rounds = 5, 5
    run_id = live.start_run(scenario="fl-migration", algorithm="nearest", seed=seed,
                            rounds=rounds, params=PARAMS)
    view = live.wait_run(run_id, timeout_s=240)
    assert view["status"]["status"] == "completed", live.logs()
    recs = view["rounds"]
    _assert_slots_equal_the_simulation(live, recs, seed, rounds)
    # one real aggregation per slot, real accuracy measured per user, nothing rejected
    assert [r["model_version"] for r in recs] == list(range(1, rounds + 1))
    assert all(r["rejected_updates"] == 0 for r in recs)
    acc = [r["accuracy_mean"] for r in recs]
    assert all(0.0 < a <= 1.0 for a in acc)
    assert acc[-1] > max(0.2, acc[0])  # the federated model really learns, slot after slot
    assert all(len(r["accuracy"]) == 6 and None not in r["accuracy"] for r in recs)
    assert all(r["update_bytes"] > 0 and r["train_s"] > 0 for r in recs)
    assert all(r["uploaded_bytes"] > 0 for r in recs)  # the users' data came over the bus
    # twins really moved between the two edge processes, and were charged eq. 13 for it
    across = [r for r in recs if r["migrations_across_processes"] > 0]
    assert across, "no twin crossed processes: make the users move more"
    assert all(r["moved_bytes"] > 0 and r["moved_bits_modeled"] > 0 for r in across)
    assert all(r["mig_energy_charged"] > 0 for r in recs if r["migrations"] > 0)
    assert all(r["mig_energy_charged"] == 0 for r in recs if r["migrations"] == 0)
    # the cloud's twins: one per user and per edge server, a version per slot
    hist = live.cloud.get(f"/twins/{run_id}.user-0/history").json()
    assert [h["round"] for h in hist] == list(range(rounds))
    for h, r in zip(hist, recs):
        s = h["state"]
        assert s["server"] == r["assoc"][0] and s["model_version"] == r["model_version"]
        assert s["accuracy"] == r["accuracy"][0] and s["rho"] == pytest.approx(r["rho"][0])
        assert abs(s["emd_realized"] - 0.4) < 0.05
    es = live.cloud.get(f"/twins/{run_id}.es-1").json()
    assert es["state"]["process"] == 1


def test_stale_and_corrupt_updates_are_rejected_and_recorded(live) -> None:
    from twinbed.scenarios.fl_migration.messages import ModelUpdate

    rounds = 40
    run_id = live.start_run(scenario="fl-migration", algorithm="nearest", seed=2,
                            rounds=rounds, params=PARAMS)
    live.wait_run(run_id, rounds_done=2, timeout_s=120)
    r = live.redis()
    cloud = keys.stream(run_id, "cloud")
    blob = b"not a torch state dict at all"
    corrupt = ModelUpdate(run_id=run_id, round=2, server=0, base_version=2, samples=10,
                          sha256=hashlib.sha256(b"something else").hexdigest(), train_s=0.1)
    stale = ModelUpdate(run_id=run_id, round=0, server=0, base_version=0, samples=10,
                        sha256=hashlib.sha256(blob).hexdigest(), train_s=0.1)
    edge = live.stack.bus_keys("edge")  # an edge's key holder sends them
    r.xadd(cloud, encode(corrupt, "edge-intruder", 1, blob, stream=cloud, keys=edge))
    r.xadd(cloud, encode(stale, "edge-intruder", 2, blob, stream=cloud, keys=edge))
    rejected_key = keys.role_key(run_id, "cloud", "rejected")
    deadline = time.monotonic() + 30
    while r.llen(rejected_key) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    rejected = [json.loads(x) for x in r.lrange(rejected_key, 0, -1)]
    reasons = " | ".join(x["reason"] for x in rejected)
    assert "corrupt" in reasons and "stale" in reasons, reasons
    view = live.wait_run(run_id, timeout_s=300)
    assert view["status"]["status"] == "completed", live.logs()
    versions = [x["model_version"] for x in view["rounds"]]
    assert versions == list(range(1, rounds + 1))  # nothing extra was averaged in
    assert sum(x["rejected_updates"] for x in view["rounds"]) == 2


def test_live_ppo_run_uses_its_trained_agent_and_refuses_without_one(live) -> None:
    """POST /runs with ppo and no agent: 422 naming the train command; after a (tiny) real
    training into the stack's data directory the live run equals the simulation."""
    from pathlib import Path

    from twinbed.scenarios.fl_migration.training import train_scheme

    p = FlMigrationParams(**PARAMS)
    body = {"scenario": "fl-migration", "algorithm": "ppo", "seed": 7, "rounds": 2,
            "params": PARAMS}
    resp = live.controller.post("/runs", json=body)
    assert resp.status_code == 422 and "twinbed train fl-migration" in resp.text
    train_scheme(p, "ppo", 7, 128, Path(live.info.data_dir), episode_slots=8, progress=False,
                 eval_episodes=1)
    run_id = live.start_run(**body)
    view = live.wait_run(run_id, timeout_s=120)
    assert view["status"]["status"] == "completed", live.logs()
    sim = simulate(p, "ppo", 7, 2, data_dir=live.info.data_dir)
    assert [r["assoc"] for r in view["rounds"]] == [r["assoc"] for r in sim]
    assert [r["objective"] for r in view["rounds"]] == pytest.approx([r["objective"] for r in sim])


def _run_with_kills(live, role: str, kills: list[tuple[int, float]], seed: int, rounds: int
                    ) -> tuple[str, dict]:
    """One nearest run with ``role`` killed (SIGKILL) after ``rounds_done`` slots plus ``delay``
    seconds, for each (rounds_done, delay) in ``kills``, and restarted at once."""
    run_id = live.start_run(scenario="fl-migration", algorithm="nearest", seed=seed,
                            rounds=rounds, params=PARAMS)
    for done, delay in kills:
        live.wait_run(run_id, rounds_done=done, timeout_s=180)
        time.sleep(delay)
        if role == "edge.1" and delay == 0:  # aim at its step 3: told to train, not trained yet
            _wait_for_edge_step(live, run_id, 1, lambda s: s["go"] and not s["trained"])
        if role == "cloud" and delay == 0:  # aim at steps 3-4: plan out, not aggregated yet
            _wait_for_cloud_waiting_for_updates(live, run_id)
        live.stack.kill(role)
        live.stack.restart(role)
    view = live.wait_run(run_id, timeout_s=300)
    assert view["status"]["status"] == "completed", live.logs()
    return run_id, view


def _wait_for_edge_step(live, run_id: str, replica: int, cond, timeout_s: float = 10.0) -> bool:
    """Poll the edge process's persisted slot until ``cond`` holds (best effort: a slot of
    this size is short, so the window may be missed; the kill then lands elsewhere)."""
    r = live.redis()
    key = keys.role_key(run_id, "edge", replica, "slot")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        raw = r.get(key)
        if raw is not None and cond(json.loads(raw)):
            return True
        time.sleep(0.001)
    return False


def _wait_for_cloud_waiting_for_updates(live, run_id: str, timeout_s: float = 10.0) -> bool:
    """Poll the cloud's persisted slot until its plan is out and it has not aggregated yet
    (best effort, like ``_wait_for_edge_step``)."""
    r = live.redis()
    key = keys.role_key(run_id, "cloud", "slot")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        raw = r.get(key)
        if raw is not None:
            slot = json.loads(raw)
            if "expected" in slot and "aggregate_s" not in slot:
                return True
        time.sleep(0.001)
    return False


def _assert_nothing_lost(live, run_id: str, view: dict, ref: dict, seed: int, rounds: int) -> None:
    """Every slot is there, equals the simulation in its modeled metrics, and equals an
    undisturbed run of the same seed in what was really trained and measured."""
    recs = view["rounds"]
    _assert_slots_equal_the_simulation(live, recs, seed, rounds)
    # one aggregation per slot, nothing counted twice, nothing rejected
    assert [r["model_version"] for r in recs] == list(range(1, rounds + 1))
    assert all(r["rejected_updates"] == 0 for r in recs)
    # the twins' data survived: the same samples, the same training, the same accuracies
    for got, want in zip(recs, ref["rounds"]):
        assert got["accuracy"] == want["accuracy"], got["round"]
        assert None not in got["accuracy"]
        for k in ("moved_bytes", "moved_bits_modeled", "mig_energy_charged", "uploaded_bytes",
                  "update_bytes", "migrations_across_processes"):
            assert got[k] == pytest.approx(want[k], rel=1e-12), (got["round"], k)
    for u in range(PARAMS["U"]):
        hist = live.cloud.get(f"/twins/{run_id}.user-{u}/history").json()
        assert [h["round"] for h in hist] == list(range(rounds))
        assert [h["state"]["model_version"] for h in hist] == list(range(1, rounds + 1))
        assert [h["state"]["accuracy"] for h in hist] == [r["accuracy"][u] for r in recs]
        assert all(h["state"]["samples"] for h in hist)
    # and every twin is in Redis, once, at the edge process hosting its last server: its data
    # has the samples the cloud's twin says, its weights give the accuracy that was reported
    from twinbed.scenarios.fl_migration import fl

    r = live.redis()
    digits = fl.load_digits(seed)
    last = recs[-1]
    for u in range(PARAMS["U"]):
        host = last["assoc"][u] % 2
        assert r.exists(keys.role_key(run_id, "edge", 1 - host, "twin", u)) == 0
        z = np.load(io.BytesIO(r.get(keys.role_key(run_id, "edge", host, "twin", u))))
        assert z["y"].size == hist_samples(live, run_id, u)
        m = fl.new_model(seed)
        blob = r.get(keys.role_key(run_id, "edge", host, "twin-model", u))
        m.load_state_dict(fl.state_from_bytes(blob))
        assert fl.accuracy(m, digits.x_test, digits.y_test) == last["accuracy"][u]


def hist_samples(live, run_id: str, u: int) -> int:
    return live.cloud.get(f"/twins/{run_id}.user-{u}").json()["state"]["samples"]


KILL_SEED, KILL_ROUNDS = 3, 8


@pytest.fixture(scope="module")
def undisturbed(live) -> dict:
    run_id = live.start_run(scenario="fl-migration", algorithm="nearest", seed=KILL_SEED,
                            rounds=KILL_ROUNDS, params=PARAMS)
    view = live.wait_run(run_id, timeout_s=240)
    assert view["status"]["status"] == "completed", live.logs()
    assert any(r["migrations_across_processes"] > 0 for r in view["rounds"])
    return view


def test_edge_process_killed_mid_run_loses_no_twin(live, undisturbed) -> None:
    """kill -9 edge.1 twice mid-run (it hosts server 1's twins) and restart it: its twins,
    uploads and slot state come back from Redis; every slot completes and equals both the
    simulation and an undisturbed run (same accuracies: the same data was trained on)."""
    run_id, view = _run_with_kills(live, "edge.1", [(2, 0.0), (5, 0.35)], KILL_SEED, KILL_ROUNDS)
    _assert_nothing_lost(live, run_id, view, undisturbed, KILL_SEED, KILL_ROUNDS)


def test_cloud_killed_mid_run_loses_no_slot(live, undisturbed) -> None:
    """kill -9 the cloud twice mid-run and restart it: the association history, the slot's
    accepted updates, the global model and the edge reports come back from Redis; no slot is
    lost and every slot equals the simulation and an undisturbed run."""
    run_id, view = _run_with_kills(live, "cloud", [(2, 0.2), (5, 0.0)], KILL_SEED, KILL_ROUNDS)
    _assert_nothing_lost(live, run_id, view, undisturbed, KILL_SEED, KILL_ROUNDS)
