"""The live stack on a Redis Cluster (issue #19): the services started as `twinbed up` starts
them, all given one ``redis+cluster://`` URL (``TWINBED_STACK_REDIS_URL``: the stack starts no
Redis of its own). A run on the cluster equals the same run on the single-Redis stack
(``live``), scenario by scenario; and with 3 primaries + 3 replicas, the primary holding the
run's hash slot killed with SIGKILL mid-run: the replica is promoted and the run completes,
equal to the single-Redis run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from twinbed import keys
from twinbed.localcluster import LocalCluster
from twinbed.stack import Stack

pytestmark = pytest.mark.integration

# per scenario: a small run, and the round-record fields that depend only on the seed
# (measured times and codec choices excluded)
CASES: dict[str, tuple[str, int, int, dict[str, Any], tuple[str, ...]]] = {
    "compression": ("fixed-bf", 11, 5, {"K": 4},
                    ("modeled_start_s", "T_max_s", "beta_model", "b_hz", "f_hz", "rate_bps",
                     "T_comp_s", "T_tr_s", "T_DT_s", "T_total_s")),
    "network-twin": ("periodic-k", 7, 6, {"U": 4, "sync_period_slots": 3, "predictor": "hold"},
                     ("synced", "rb", "cloud_rb", "sum_rate", "err_sq", "reward")),
    "federated": ("greedy", 5, 3, {"M": 16, "N": 5, "K": 4}, ("assign", "associations", "perf",
                                                                "Q")),
    "fl-migration": ("nearest", 2, 2,
                     {"U": 6, "S": 3, "new_samples_low": 30, "new_samples_high": 60, "E_s": 3,
                      "E_us": 1, "mobility_sigma_m": 35.0, "emd": 0.4},
                     ("objective", "reward", "utility", "cost_total", "cost_mig", "cost_syn",
                      "cost_cmp", "gamma_mean", "migrations")),
    "semantic": ("per-slot-optimum", 21, 2, {"K": 3},
                 ("phi", "f_hz", "p_w", "f_e_hz", "D_bits", "d_m", "h2", "rate_bps", "t_s",
                  "t_en", "t_up", "t_de", "t_dt", "t", "e")),
}


def _start(live: Any, data: Path, url: str, **env: str) -> Any:
    """A stack on ``url`` (free ports), as `twinbed up` starts one; a ``live``-like handle."""
    stack = Stack(data, fixed_ports=False, redis_url=url,
                  env={"TWINBED_ROUND_DEADLINE_S": "60", "TWINBED_RECLAIM_IDLE_S": "2", **env})
    return type(live)(stack, stack.start())


def _run(live: Any, scenario: str, timeout_s: float = 180) -> tuple[str, dict[str, Any]]:
    algorithm, seed, rounds, params, _ = CASES[scenario]
    run_id = live.start_run(scenario=scenario, algorithm=algorithm, seed=seed, rounds=rounds,
                            params=params)
    return run_id, live.wait_run(run_id, timeout_s=timeout_s)


def _same_run(scenario: str, a: tuple[str, dict[str, Any]], b: tuple[str, dict[str, Any]],
              live_a: Any, live_b: Any, rounds: int | None = None) -> None:
    """Both completed with every round once and no party missing, the seed-determined fields
    of every round equal, and every twin's history the same rounds and versions."""
    _, _, n, _, fields = CASES[scenario]
    rounds = n if rounds is None else rounds
    for (_, view), lv in ((a, live_a), (b, live_b)):
        assert view["status"]["status"] == "completed", (view["status"], lv.logs())
        assert [r["round"] for r in view["rounds"]] == list(range(rounds))
        assert all(r["missing"] == [] for r in view["rounds"]), lv.logs()
    for ra, rb in zip(a[1]["rounds"], b[1]["rounds"], strict=True):
        for f in fields:
            assert ra[f] == pytest.approx(rb[f], rel=1e-12), (scenario, ra["round"], f)
    hist: list[dict[str, list[tuple[int, int]]]] = []
    for (run_id, _), lv in ((a, live_a), (b, live_b)):
        twins = lv.cloud.get("/twins", params={"run_id": run_id}).json()
        names = sorted(t["id"].removeprefix(run_id + ".") for t in twins)
        hist.append({n: [(h["round"], h["version"]) for h in
                         lv.cloud.get(f"/twins/{run_id}.{n}/history").json()] for n in names})
    assert hist[0] == hist[1] and hist[0], scenario
    for n, h in hist[1].items():
        rounds_ = [r for r, _ in h]
        assert len(rounds_) == len(set(rounds_)), f"{scenario} twin {n}: a round applied twice"


@pytest.fixture(scope="module")
def on_cluster(live: Any, redis_cluster_url: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The stack on the session's 3-primary cluster (no replicas)."""
    lc = _start(live, tmp_path_factory.mktemp("stack-cluster"), redis_cluster_url)
    try:
        yield lc
    finally:
        lc.stack.stop()


@pytest.mark.parametrize("scenario", list(CASES))
def test_a_run_on_the_cluster_equals_the_single_redis_run(live: Any, on_cluster: Any,
                                                          scenario: str) -> None:
    t0 = time.monotonic()
    on_cluster_run = _run(on_cluster, scenario)
    took = time.monotonic() - t0
    _same_run(scenario, _run(live, scenario), on_cluster_run, live, on_cluster)
    print(f"{scenario} on the cluster: {took:.1f} s")


def test_a_primary_killed_mid_run_fails_over_and_the_run_equals_the_single_redis_run(
        live: Any, tmp_path: Path) -> None:
    """3 primaries + 3 replicas, commits waiting for one replica
    (TWINBED_REDIS_WAIT_REPLICAS=1): the primary serving the run's slot, which is also the
    services' seed, is killed with SIGKILL after 5 of 40 rounds; its replica is promoted and
    the run completes with every round once, equal to the single-Redis run of the same
    seed."""
    scenario, rounds = "compression", 40
    cluster = LocalCluster(tmp_path / "cluster", primaries=3, replicas=1,
                           node_timeout_ms=1000).start()
    lc = None
    try:
        # the services' one seed is the primary that is killed: their clients' default node,
        # which redis-py asked for the keys of every stream read (twinbed.redisconn._Cluster)
        lc = _start(live, tmp_path / "stack", cluster.url, TWINBED_REDIS_WAIT_REPLICAS="1",
                    TWINBED_REDIS_WAIT_MS="500")
        algorithm, seed, _, params, _ = CASES[scenario]
        seed_port = cluster.nodes[0].port
        for _attempt in range(20):  # a run whose hash slot the seed serves (1 in 3)
            run_id = lc.start_run(scenario=scenario, algorithm=algorithm, seed=seed,
                                  rounds=rounds, params=params)
            slot_key = keys.run_key(run_id, "status")
            if cluster.owner(slot_key).port == seed_port:
                break
            lc.wait_run(run_id, timeout_s=180)
        else:
            raise AssertionError("20 runs and none on the seed's slots")
        lc.wait_run(run_id, rounds_done=5)
        dead = cluster.kill_owner(slot_key)
        t_kill = time.monotonic()
        promoted = cluster.wait_promoted(slot_key, dead)
        failover_s = time.monotonic() - t_kill
        view = lc.wait_run(run_id, timeout_s=180)
        assert view["status"]["status"] == "completed", (view["status"], lc.logs())
        assert promoted is not dead and cluster.owner(slot_key) is promoted
        done_s = time.monotonic() - t_kill
        ref = live.start_run(scenario=scenario, algorithm=algorithm, seed=seed, rounds=rounds,
                             params=params)
        _same_run(scenario, (ref, live.wait_run(ref, timeout_s=180)), (run_id, view), live, lc,
                  rounds)
        print(f"failover: replica promoted {failover_s:.1f} s after the kill, run completed "
              f"{done_s:.1f} s after it")
    finally:
        if lc is not None:
            lc.stack.stop()
        cluster.stop()
