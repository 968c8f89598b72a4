"""The compression scenario end to end across the live services (Redis + five processes)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from twinbed import keys
from twinbed.bus import encode
from twinbed.physical import BandLimitedSignal, to_bytes
from twinbed.scenarios.compression import CompressionParams
from twinbed.scenarios.compression.spec import SCENARIO
from twinbed.signing import BusKeys

pytestmark = pytest.mark.integration

MODELED = ("b_hz", "f_hz", "rate_bps", "T_comp_s", "T_tr_s", "T_DT_s", "T_total_s")


def _history_rounds(live, run_id: str, k: int) -> list[dict]:
    resp = live.cloud.get(f"/twins/{run_id}.sensor-{k}/history")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_twenty_rounds_k8_twins_byte_exact_and_equal_to_simulation(live) -> None:
    """20 live rounds at K=8: every round recorded, twin states equal the samples byte for
    byte, and the modeled metrics equal the in-process simulation of the same seed."""
    seed, K, rounds = 11, 8, 20
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=seed,
                            rounds=rounds, params={"K": K})
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    recs = view["rounds"]
    assert [r["round"] for r in recs] == list(range(rounds))
    assert all(r["missing"] == [] for r in recs)

    p = CompressionParams(K=K)
    signal = BandLimitedSignal(seed, K)
    for k in range(K):
        hist = _history_rounds(live, run_id, k)
        assert [h["round"] for h in hist] == list(range(rounds))
        assert [h["version"] for h in hist] == list(range(1, rounds + 1))
        for h in hist:
            truth = to_bytes(signal.samples(k, h["round"], p.n_samples))
            got = base64.b64decode(h["state"]["samples_int16_b64"])
            assert got == truth, f"sensor {k} round {h['round']}: twin differs from samples"
            assert h["state"]["sha256"] == hashlib.sha256(truth).hexdigest()
            assert h["fidelity"]["exact"] is True and h["fidelity"]["rmse"] == 0.0
            assert h["aoi_modeled_s"] > 0 and h["aoi_wall_s"] >= 0

    expected = SCENARIO.simulate(p, "fixed-bf", seed, rounds)
    for live_rec, sim in zip(recs, expected):
        assert live_rec["modeled_start_s"] == pytest.approx(sim["modeled_start_s"], rel=1e-12)
        assert live_rec["T_max_s"] == pytest.approx(sim["T_max_s"], rel=1e-12)
        np.testing.assert_allclose(live_rec["beta_model"], sim["beta"], rtol=1e-12)
        for name in MODELED:
            np.testing.assert_allclose(live_rec[name], sim[name], rtol=1e-12, err_msg=name)
        # the real codec ran: achieved ratios and codec times are measured, not modeled
        assert all(b > 1.0 for b in live_rec["beta_achieved"])
        assert all(t > 0 for t in live_rec["codec_s"])
        assert live_rec["wall_s"] > 0


def test_cloud_killed_mid_run_loses_no_sync(live) -> None:
    """kill -9 the cloud during a run, restart it: the run completes, every round is in each
    twin's history exactly once."""
    K, rounds = 4, 40
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=3,
                            rounds=rounds, params={"K": K})
    live.wait_run(run_id, rounds_done=5)
    live.stack.kill("cloud")
    time.sleep(0.5)
    done_while_down = live.controller.get(f"/runs/{run_id}").json()["status"]["rounds_done"]
    assert done_while_down < rounds, "the run finished before the cloud was killed"
    live.stack.restart("cloud")
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    assert all(r["missing"] == [] for r in view["rounds"])
    for k in range(K):
        got = [h["round"] for h in _history_rounds(live, run_id, k)]
        assert got == list(range(rounds)), f"sensor {k}: history rounds {got}"


def test_malformed_messages_are_dead_lettered_and_the_worker_goes_on(live) -> None:
    """Garbage injected into a live stream lands in the dead-letter stream with the reason;
    the cloud keeps consuming and the run still completes. The garbage is signed by a
    basestation's key holder (who may write the cloud's stream), so it reaches the parser;
    unsigned, forged and wrongly typed entries are refused before it, each counted."""
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=5, rounds=200,
                            params={"K": 2})
    live.wait_run(run_id, rounds_done=2)
    r = live.redis()
    cloud = keys.stream(run_id, "cloud")
    from twinbed.messages import RoundStart

    bs_keys = live.stack.bus_keys("basestation")
    sensor_keys = live.stack.bus_keys("sensor")

    def signed(m: str, by: BusKeys = bs_keys, **more: bytes) -> dict[str, bytes]:
        return {"m": m.encode(), "s": by.sign(cloud, m.encode()), **more}

    sync = "compression.sync\n1\nbasestation-intruder\n1\n0.0"
    bad = [
        {"junk": "no envelope at all"},
        signed("no.such.type\n1\nbasestation-intruder\n2\n0.0\n\n{}"),
        signed(f"{sync}\n\n{{not json"),
        signed(f"{sync}\n\n" + json.dumps({"run_id": run_id, "round": -4})),
        signed(f"{sync}\n{'0' * 64}\n{{}}", p=b"\x00\x01"),
        # refused for who sent them
        {"m": f"{sync}\n\n{{}}"},  # unsigned
        signed(f"{sync}\n\n{{}}", by=sensor_keys),  # a sensor's key, a basestation's name
        encode(RoundStart(run_id=run_id, round=0), "basestation-intruder", 3, stream=cloud,
               keys=bs_keys),  # a controller's message type
    ]
    for fields in bad:
        r.xadd(cloud, fields)
    dead = keys.dead_letter(cloud)
    deadline = time.monotonic() + 30
    while r.xlen(dead) < len(bad) and time.monotonic() < deadline:
        time.sleep(0.05)
    letters = r.xrange(dead)
    assert len(letters) == len(bad)
    errors = [f[b"dl_error"].decode() for _, f in letters]
    assert any("no field 'm'" in e for e in errors)
    assert any("no.such.type" in e for e in errors)
    assert any("round" in e and "greater than or equal" in e for e in errors)
    assert any("checksum" in e for e in errors)
    assert any(e.startswith("rejected (unsigned)") for e in errors)
    assert any(e.startswith("rejected (bad-signature)") for e in errors)
    assert any(e.startswith("rejected (type-not-allowed): role 'basestation' may not send "
                            "'round.start'") for e in errors), errors
    before = live.controller.get(f"/runs/{run_id}").json()["status"]["rounds_done"]
    live.wait_run(run_id, rounds_done=before + 3)  # still consuming
    assert live.controller.post(f"/runs/{run_id}/stop").status_code == 200
    assert live.wait_run(run_id)["status"]["status"] == "stopped"
    health = live.cloud.get("/health").json()
    assert health["status"] == "ok"
    metrics = live.cloud.get("/metrics").text
    assert 'twinbed_messages_dead_total{role="cloud"}' in metrics
    for reason in ("unsigned", "bad-signature", "type-not-allowed"):
        assert (f'twinbed_messages_rejected_total{{reason="{reason}",role="cloud"}} 1.0'
                in metrics), metrics


@pytest.mark.parametrize("body, status, words", [
    ({"scenario": "nope", "algorithm": "fixed-bf"}, 422, "unknown scenario 'nope'"),
    ({"scenario": "compression", "algorithm": "nope"}, 422, "unknown algorithm 'nope'"),
    ({"scenario": "compression", "algorithm": "fixed-bf", "params": {"Kay": 3}}, 422,
     "unknown parameter 'Kay'"),
    ({"scenario": "compression", "algorithm": "fixed-bf", "params": {"K": 0}}, 422, "'K'"),
    ({"scenario": "compression", "algorithm": "fixed-bf", "rounds": 0}, 422, "rounds"),
    ({"scenario": "compression", "algorithm": "fixed-bf", "bogus": 1}, 422, "bogus"),
    ({"algorithm": "fixed-bf"}, 422, "scenario"),
    ([1, 2], 422, "body"),
])
def test_bad_run_bodies_get_422_naming_the_problem(live, body, status, words) -> None:
    """Unknown scenario, algorithm or parameter, or a malformed body: 422 naming it."""
    resp = live.controller.post("/runs", json=body)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["detail"]


def test_rest_errors_are_4xx_never_500(live) -> None:
    """Auth, unknown ids, non-JSON bodies and bad query values get 4xx with a JSON detail."""
    import httpx

    anon = httpx.Client(base_url=live.info.url("controller"))
    body = {"scenario": "compression", "algorithm": "fixed-bf"}
    assert anon.post("/runs", json=body).status_code == 401
    wrong = anon.post("/runs", json=body, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    assert live.controller.post("/runs", content=b"{nope",
                                headers={"Content-Type": "application/json"}).status_code == 422
    assert live.controller.get("/runs/r-missing").status_code == 404
    assert live.controller.post("/runs/r-missing/stop").status_code == 404
    assert live.controller.get("/runs?limit=0").status_code == 422
    assert live.cloud.get("/twins/none.sensor-0").status_code == 404
    assert live.cloud.get("/twins/none.sensor-0/history").status_code == 404
    assert live.cloud.get("/twins/none.sensor-0/events").status_code == 404
    assert live.cloud.get("/twins?limit=-1").status_code == 422


def test_every_service_has_health_metrics_and_openapi(live) -> None:
    """/health (Redis reachable), /metrics (Prometheus text), /openapi.json on all five."""
    import httpx

    for role in ("controller", "cloud", "basestation", "edge", "sensor"):
        url = live.info.url(role)
        h = httpx.get(url + "/health").json()
        assert h == {**h, "status": "ok", "role": role, "redis": True}
        m = httpx.get(url + "/metrics")
        assert m.status_code == 200 and "twinbed_uptime_seconds" in m.text
        assert "/health" in httpx.get(url + "/openapi.json").json()["paths"]


def test_twin_events_stream_updates_as_server_sent_events(live) -> None:
    """GET /twins/{id}/events?replay=true yields one 'twin' event per kept version."""
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=2, rounds=3,
                            params={"K": 1})
    assert live.wait_run(run_id)["status"]["status"] == "completed"
    with live.cloud.stream("GET", f"/twins/{run_id}.sensor-0/events",
                           params={"replay": True, "max_events": 3}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        text = "".join(resp.iter_text())
    events = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert [e["round"] for e in events] == [0, 1, 2]
    assert text.count("event: twin") == 3


def test_status_command_reports_every_process_healthy(live) -> None:
    """`twinbed status` lists Redis and the five services, all running and healthy."""
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", live.info.data_dir,
                          "status"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("redis", "cloud", "controller", "basestation", "edge", "sensor"):
        assert name in out.stdout
    assert "DOWN" not in out.stdout


def test_twin_events_follow_live_updates_without_gaps(live) -> None:
    """Without replay, the event stream delivers the updates that happen after it opens,
    consecutive rounds with none skipped between blocking reads."""
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=4, rounds=5000,
                            params={"K": 1})
    live.wait_run(run_id, rounds_done=1)
    with live.cloud.stream("GET", f"/twins/{run_id}.sensor-0/events",
                           params={"max_events": 20, "idle_timeout_s": 20}) as resp:
        text = "".join(resp.iter_text())
    live.controller.post(f"/runs/{run_id}/stop")
    rounds = [json.loads(line[5:])["round"] for line in text.splitlines()
              if line.startswith("data:")]
    assert len(rounds) == 20
    assert rounds == list(range(rounds[0], rounds[0] + 20)) and rounds[0] >= 1


def test_stackelberg_negotiated_live_equals_in_process(live) -> None:
    """Algorithm 1 played across the services (BS offers, each sensor steps its own dual
    variables and answers, BS re-solves until the stopping rule) reaches the in-process
    equilibrium of the same channels; the negotiation is recorded; the sensors then compress
    their real samples at the agreed ratios and the twins are exact."""
    seed, K, rounds = 7, 4, 3
    run_id = live.start_run(scenario="compression", algorithm="stackelberg", seed=seed,
                            rounds=rounds, params={"K": K})
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    recs = view["rounds"]
    expected = SCENARIO.simulate(CompressionParams(K=K), "stackelberg", seed, rounds)
    for live_rec, sim in zip(recs, expected):
        assert live_rec["missing"] == []
        assert live_rec["negotiation_iterations"] == sim["iterations"]
        assert live_rec["negotiation_messages"] == 2 * K * (sim["iterations"] + 1)
        assert live_rec["negotiation_wall_s"] > 0
        np.testing.assert_allclose(live_rec["beta_model"], sim["beta"], rtol=1e-12)
        for name in MODELED:
            np.testing.assert_allclose(live_rec[name], sim[name], rtol=1e-12, err_msg=name)
        assert live_rec["T_max_s"] == pytest.approx(sim["T_max_s"], rel=1e-12)
        assert all(x is True for x in live_rec["fidelity_exact"])


@pytest.mark.parametrize("algorithm", ["fixed-f", "fixed-b", "no-compression", "centralized"])
def test_every_baseline_runs_live(live, algorithm: str) -> None:
    """Each baseline decides live (controller) and its sensors use the scheme's ratios: the
    modeled metrics equal the in-process run."""
    K, seed = 3, 5
    run_id = live.start_run(scenario="compression", algorithm=algorithm, seed=seed, rounds=1,
                            params={"K": K})
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    rec = view["rounds"][0]
    sim = SCENARIO.simulate(CompressionParams(K=K), algorithm, seed, 1)[0]
    np.testing.assert_allclose(rec["beta_model"], sim["beta"], rtol=1e-12)
    assert rec["T_max_s"] == pytest.approx(sim["T_max_s"], rel=1e-12)
    if algorithm == "no-compression":
        assert rec["beta_model"] == [1.0] * K


@pytest.mark.parametrize("role", ["basestation", "sensor"])
def test_negotiation_survives_a_killed_party(live, role: str) -> None:
    """kill -9 the basestation (or the sensors) while stackelberg rounds negotiate, restart it:
    the run completes and every round's equilibrium still equals the in-process one (the
    dual variables and the collected answers live in Redis, not only in process memory)."""
    K, rounds, seed = 12, 30, 13
    run_id = live.start_run(scenario="compression", algorithm="stackelberg", seed=seed,
                            rounds=rounds, params={"K": K})
    live.wait_run(run_id, rounds_done=3)
    live.stack.kill(role)
    time.sleep(0.3)
    done_while_down = live.controller.get(f"/runs/{run_id}").json()["status"]["rounds_done"]
    assert done_while_down < rounds, "the run finished before the kill"
    live.stack.restart(role)
    view = live.wait_run(run_id)
    assert view["status"]["status"] == "completed", live.logs()
    expected = SCENARIO.simulate(CompressionParams(K=K), "stackelberg", seed, rounds)
    for rec, sim in zip(view["rounds"], expected):
        assert rec["missing"] == [], rec["round"]
        np.testing.assert_allclose(rec["beta_model"], sim["beta"], rtol=1e-12)
        np.testing.assert_allclose(rec["b_hz"], sim["b_hz"], rtol=1e-12)


def _contexts(live, role: str) -> float:
    import httpx

    text = httpx.get(live.info.url(role) + "/metrics").text
    line = next(ln for ln in text.splitlines()
                if ln.startswith(f'twinbed_run_contexts{{role="{role}"}}'))
    return float(line.split()[-1])


def test_services_drop_a_finished_runs_context(live) -> None:
    """While a run is active every service holds its context (scenario cache); once it has
    finished, each holds only the contexts of the runs still active."""
    roles = ("controller", "basestation", "sensor", "cloud")
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=2, rounds=500,
                            params={"K": 2})
    live.wait_run(run_id, rounds_done=2)
    assert all(_contexts(live, role) >= 1 for role in roles)
    assert live.controller.post(f"/runs/{run_id}/stop").status_code == 200
    assert live.wait_run(run_id)["status"]["status"] == "stopped"
    r = live.redis()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        active = len(r.smembers(keys.ACTIVE_RUNS))
        held = {role: _contexts(live, role) for role in roles}
        if all(n <= active for n in held.values()):
            break
        time.sleep(0.2)
    assert run_id.encode() not in r.smembers(keys.ACTIVE_RUNS)
    assert all(n <= active for n in held.values()), (held, active)
