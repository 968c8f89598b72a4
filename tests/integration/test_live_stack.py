"""The local stack's shape: edge replicas, each reading its own stream, surviving a restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from twinbed import keys


def _consumers(r, stream: str, group: str) -> set[str]:
    try:
        return {c["name"].decode() for c in r.xinfo_consumers(stream, group)}
    except Exception:  # noqa: BLE001 - stream or group not created yet
        return set()


def test_two_edge_processes_with_their_own_replica_streams(live) -> None:
    """`twinbed up` starts edge (replica 0) and edge.1 (replica 1); while a run is active each
    reads the shared edge stream and only its own tb:{<run>}:edge.<i>."""
    assert [n for n in live.info.names if n.startswith("edge")] == ["edge", "edge.1"]
    for name, idx in (("edge", 0), ("edge.1", 1)):
        h = httpx.get(live.info.url(name) + "/health").json()
        assert h == {**h, "status": "ok", "role": "edge", "replica": idx, "replicas": 2}
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", rounds=2000,
                            params={"K": 2})
    r = live.redis()
    try:
        deadline = time.monotonic() + 30
        want = {keys.replica_stream(run_id, "edge", 0): {"edge-local"},
                keys.replica_stream(run_id, "edge", 1): {"edge.1-local"},
                keys.stream(run_id, "edge"): {"edge-local", "edge.1-local"}}
        got: dict[str, set[str]] = {}
        while time.monotonic() < deadline:
            got = {s: _consumers(r, s, "edge") for s in want}
            if got == want:
                break
            time.sleep(0.1)
        assert got == want, live.logs()
    finally:
        live.controller.post(f"/runs/{run_id}/stop")
        live.wait_run(run_id)


def test_killed_edge_replica_restarts_with_its_index(live) -> None:
    live.stack.kill("edge.1")
    assert live.stack.status()["edge.1"]["alive"] is False
    live.stack.restart("edge.1")
    h = httpx.get(live.info.url("edge.1") + "/health").json()
    assert h["replica"] == 1 and h["status"] == "ok"


def test_delete_run_removes_everything_and_the_services_go_on(live) -> None:
    """DELETE /runs/{id}: 401 without the token, 404 unknown, 409 while running; on a finished
    run it removes its records, streams, scenario state and twins (nothing tb:{<run>}:* is
    left, even after the workers' next polls), and the next run works."""
    anon = httpx.Client(base_url=live.info.url("controller"))
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", rounds=2000,
                            params={"K": 2})
    assert live.controller.delete(f"/runs/{run_id}").status_code == 409
    assert anon.delete(f"/runs/{run_id}").status_code == 401
    assert live.controller.delete("/runs/r-missing").status_code == 404
    live.wait_run(run_id, rounds_done=2)
    live.controller.post(f"/runs/{run_id}/stop")
    live.wait_run(run_id)
    r = live.redis()
    assert r.keys(keys.run_pattern(run_id)) and live.cloud.get(f"/twins?run_id={run_id}").json()

    record = Path(live.info.data_dir, "runs", f"{run_id}.json")
    assert record.exists()

    logs = sorted(Path(live.info.data_dir, "logs").glob("*.log"))
    offsets = {p: p.stat().st_size for p in logs}
    resp = live.controller.delete(f"/runs/{run_id}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["deleted_keys"] > 5
    time.sleep(1.0)  # the workers' lists of active streams refresh every 0.25 s
    assert r.keys(keys.run_pattern(run_id)) == []
    assert [k for k in r.keys(keys.twin_key(run_id + ".*"))] == []
    assert live.controller.get(f"/runs/{run_id}").status_code == 404
    assert not record.exists()  # the record on disk goes too
    assert run_id not in [v["config"]["id"] for v in live.controller.get("/runs").json()]

    again = live.start_run(scenario="compression", algorithm="fixed-bf", rounds=2,
                           params={"K": 2})
    assert live.wait_run(again)["status"]["status"] == "completed"
    after = "".join(p.read_text()[offsets[p]:] for p in logs)
    assert "Traceback" not in after and "NOGROUP" not in after, after[-3000:]
