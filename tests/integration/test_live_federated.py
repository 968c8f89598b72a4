"""The federated scenario across the live services: the cloud splits the DT, sensors send to
every ES of their coalitions, histories migrate between edge processes, ESs train and upload,
the cloud integrates the global twin."""

from __future__ import annotations

import json
import time

import pytest

from twinbed import keys
from twinbed.scenarios.federated import learning
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import run_episode

pytestmark = pytest.mark.integration

PARAMS = {"M": 16, "N": 5, "K": 4}


def _entries(live, run_id: str, stream: str) -> list[tuple[str, dict]]:
    r = live.redis()
    out = []
    for _id, f in r.xrange(keys.stream(run_id, stream)):
        _type, _version, _sender, _seq, _wall, _digest, body = f[b"m"].split(b"\n", 6)
        out.append((_type.decode(), {**json.loads(body), "_bytes": len(f.get(b"p", b""))}))
    return out


def test_live_frames_match_simulation_and_data_really_moves(live) -> None:
    seed, frames = 5, 6
    run_id = live.start_run(scenario="federated", algorithm="greedy", seed=seed, rounds=frames,
                            params=PARAMS)
    view = live.wait_run(run_id, timeout_s=180)
    assert view["status"]["status"] == "completed", live.logs()
    recs = view["rounds"]
    assert [r["round"] for r in recs] == list(range(frames))
    assert all(r["missing"] == [] for r in recs), live.logs()

    # the modeled frames equal the in-process run of the same seed
    sim = run_episode(FederatedParams(**PARAMS), "greedy", seed, frames)
    for got, want in zip(recs, sim):
        assert got["assign"] == want["assign"]
        assert got["associations"] == want["associations"]
        assert got["perf"] == pytest.approx(want["perf"], rel=1e-12)
        assert got["Q"] == pytest.approx(want["Q"], rel=1e-12)
    # both edge processes trained partial-DTs
    assert set().union(*[set(r["replicas"]) for r in recs]) == {0, 1}

    edge = _entries(live, run_id, "edge.0") + _entries(live, run_id, "edge.1")
    feats = [b for t, b in edge if t == "federated.features"]
    # a sensor in two coalitions really sends to both ESs (one message, with payload, each)
    by = {}
    for f in feats:
        by.setdefault((f["round"], f["sensor"]), set()).add(f["es"])
        assert f["_bytes"] == f["rows"] * (learning.F + 1) * 4
    assert any(len(es) == 2 for es in by.values())
    # histories migrated between the two edge processes over the bus
    hist = [b for t, b in edge if t == "federated.history" and b["from_es"] >= 0]
    assert hist, "no partial-DT moved in 6 greedy frames"
    cross = [h for h in hist if h["from_es"] % 2 != h["to_es"] % 2]
    assert cross and all(h["sent_by_replica"] == h["from_es"] % 2 for h in cross)
    assert all(h["_bytes"] == h["rows"] * (learning.F + 1) * 4 and h["rows"] > 0 for h in hist)

    # the REST view of the global twin: every partial-DT with ES, coalition, data, rounds,
    # quality, importance; the global quality; the partial-DT models really learned
    g = live.cloud.get(f"/twins/{run_id}.global-dt")
    assert g.status_code == 200, g.text
    st = g.json()["state"]
    assert st["frame"] == frames - 1 and st["quality"] == pytest.approx(recs[-1]["Q"])
    assert len(st["partial_dts"]) == 4
    for part in st["partial_dts"]:
        for key in ("es", "coalition", "data_bits", "rounds", "quality", "importance", "val_r2"):
            assert part[key] is not None, key
        assert part["val_r2"] > 0.9
    assert g.json()["version"] == frames
    hist_twin = live.cloud.get(f"/twins/{run_id}.partial-dt-0/history").json()
    assert [h["round"] for h in hist_twin] == list(range(frames))
    # data accumulates: a partial-DT's rows never shrink (history travels with it)
    rows = [h["state"]["rows_total"] for h in hist_twin]
    assert all(b >= a for a, b in zip(rows, rows[1:]))


@pytest.mark.parametrize(("body", "words"), [
    ({"scenario": "federated", "algorithm": "greedy", "params": {"K": 9}}, "K <= N"),
    ({"scenario": "federated", "algorithm": "dmo", "params": {"N": 7}}, "twinbed train federated-dmo"),
    ({"scenario": "federated", "algorithm": "dmo-shared", "params": {"N": 7}},
     "twinbed train federated-dmo-shared --param N=7"),
    ({"scenario": "federated", "algorithm": "exhaustive"}, "small instance"),
])
def test_bad_federated_runs_get_422(live, body, words) -> None:
    resp = live.controller.post("/runs", json=body)
    assert resp.status_code == 422, resp.text
    assert words in resp.text


def _assert_complete_and_equal(live, run_id: str, algorithm: str, seed: int, frames: int) -> None:
    """Every frame reported, equal to the in-process run; global and partial-DT twins whole."""
    view = live.wait_run(run_id, timeout_s=300)
    assert view["status"]["status"] == "completed", live.logs()
    recs = view["rounds"]
    assert [r["round"] for r in recs] == list(range(frames))
    assert all(r["missing"] == [] for r in recs), ([r["missing"] for r in recs], live.logs())
    sim = run_episode(FederatedParams(**PARAMS), algorithm, seed, frames)
    for got, want in zip(recs, sim):
        assert got["assign"] == want["assign"], got["round"]
        assert got["associations"] == want["associations"], got["round"]
        assert got["perf"] == pytest.approx(want["perf"], rel=1e-12)
        assert got["Q"] == pytest.approx(want["Q"], rel=1e-12)
        assert got["val_r2"] is not None  # every partial-DT really uploaded
    g = live.cloud.get(f"/twins/{run_id}.global-dt").json()
    assert g["version"] == frames and g["state"]["frame"] == frames - 1
    assert all(part["val_r2"] > 0.9 for part in g["state"]["partial_dts"])
    for k in range(PARAMS["K"]):
        hist = live.cloud.get(f"/twins/{run_id}.partial-dt-{k}/history").json()
        assert [h["round"] for h in hist] == list(range(frames)), k
        rows = [h["state"]["rows_total"] for h in hist]
        assert all(b >= a for a, b in zip(rows, rows[1:])), (k, rows)  # no history lost


@pytest.mark.parametrize(("role", "algorithm"), [
    ("cloud", "qlearning"),  # holds the partials, the carried state and the Q-table
    ("edge.1", "greedy"),  # holds pending pieces and the histories of its ESs; greedy migrates
    ("controller", "qlearning"),  # decides from the state the request carries
])
def test_kill_9_mid_run_and_restart_loses_nothing(live, role: str, algorithm: str) -> None:
    seed, frames = 5, 14
    run_id = live.start_run(scenario="federated", algorithm=algorithm, seed=seed, rounds=frames,
                            params=PARAMS)
    for done in (2, 5):  # twice per run, each time mid-run (frames left to play)
        view = live.wait_run(run_id, rounds_done=done, timeout_s=120)
        assert view["status"]["rounds_done"] < frames
        live.stack.kill(role)
        time.sleep(0.5)
        live.stack.restart(role)
    _assert_complete_and_equal(live, run_id, algorithm, seed, frames)


def test_live_dmo_refuses_without_agents_then_plays_the_simulation(live) -> None:
    """DMO (the N + 2 PPO agents) as a live scheme: a 422 naming the train command until they
    exist; after a (tiny) real training the live frames equal the in-process ones."""
    from pathlib import Path

    from twinbed.scenarios.federated.dmo import DmoPolicy, dmo_path, train_dmo

    p = FederatedParams(**PARAMS)
    body = {"scenario": "federated", "algorithm": "dmo", "seed": 3, "rounds": 3,
            "params": PARAMS}
    resp = live.controller.post("/runs", json=body)
    assert resp.status_code == 422 and "twinbed train federated-dmo --param M=16" in resp.text
    res = train_dmo(p, 64, 0, dmo_path(Path(live.info.data_dir), p), frames=5, progress=False,
                    hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1})
    run_id = live.start_run(**body)
    view = live.wait_run(run_id, timeout_s=120)
    assert view["status"]["status"] == "completed", live.logs()
    sim = run_episode(p, "dmo", 3, 3, policy=DmoPolicy(p, res.models))
    assert [r["assign"] for r in view["rounds"]] == [r["assign"] for r in sim]
    assert [r["ell"] for r in view["rounds"]] == [r["ell"] for r in sim]
    assert [r["perf"] for r in view["rounds"]] == pytest.approx([r["perf"] for r in sim], rel=1e-12)
