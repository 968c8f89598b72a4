"""The semantic scenario end to end across the live services (Redis + five processes)."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import numpy as np
import pytest

from twinbed import keys
from twinbed.codecs.semantic import SemanticCodec
from twinbed.physical import BandLimitedSignal
from twinbed.scenarios import get_scenario
from twinbed.scenarios.semantic import SemanticParams
from twinbed.scenarios.semantic import SemanticWorld as World
from twinbed.scenarios.semantic.codec import codec_path
from twinbed.scenarios.semantic.roles import n_samples

pytestmark = pytest.mark.integration


def simulate(p: SemanticParams, algorithm: str, seed: int, rounds: int,
             data_dir: str | None = None) -> list[dict]:
    """The in-process runner (the core's, over the scenario's world)."""
    return get_scenario("semantic").simulate(p, algorithm, seed, rounds, data_dir)

MODELED = ("phi", "f_hz", "p_w", "f_e_hz", "D_bits", "d_m", "h2", "rate_bps", "t_s", "t_en",
           "t_up", "t_de", "t_dt", "t", "e")


@pytest.fixture(scope="module")
def codec(live) -> SemanticCodec:
    """The stack's codec, trained by the project's own command into the stack's data dir."""
    data = live.info.data_dir
    if not codec_path(data).exists():
        out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", data, "train",
                              "semantic-codec"], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
    return SemanticCodec.load(codec_path(data))


def _check_run(live, codec: SemanticCodec, run_id: str, p: SemanticParams, algorithm: str,
               seed: int, rounds: int) -> None:
    view = live.wait_run(run_id, timeout_s=180)
    assert view["status"]["status"] == "completed", live.logs()
    recs = view["rounds"]
    assert [r["round"] for r in recs] == list(range(rounds))
    assert all(r["missing"] == [] for r in recs)
    expected = simulate(p, algorithm, seed, rounds, data_dir=live.info.data_dir)
    for got, sim in zip(recs, expected):
        assert got["modeled_start_s"] == pytest.approx(sim["modeled_start_s"], rel=1e-12)
        for name in MODELED:
            np.testing.assert_allclose(got[name], sim[name], rtol=1e-12, err_msg=name)
        for name in ("T_s", "P_t", "P_e", "P_f", "reward"):
            assert got[name] == pytest.approx(sim[name], rel=1e-12, abs=1e-12), name
        # the real codec ran: payload size is phi x raw, recovery meets the accuracy target
        np.testing.assert_allclose(got["phi_achieved"], got["phi"], atol=1 / 64 + 1e-3)
        assert all(t > 0 for t in got["encode_s"]) and all(t > 0 for t in got["decode_s"])
        assert got["fidelity_nrmse_max"] <= 0.01
    # each UD's twin holds its recovered samples and position
    signal, world = BandLimitedSignal(seed, p.K), World(p, seed)
    for k in range(p.K):
        hist = live.cloud.get(f"/twins/{run_id}.ud-{k}/history").json()
        assert [h["round"] for h in hist] == list(range(rounds))
        for h in hist:
            n = h["round"]
            truth = signal.samples(k, n, n_samples(world.slot(n).D_bits[k]))
            got = np.frombuffer(base64.b64decode(h["state"]["samples_int16_b64"]), "<i2")
            phi = recs[n]["phi"][k]
            np.testing.assert_array_equal(got, codec.decode(codec.encode(truth, phi)))
            assert h["state"]["pos_m"] == pytest.approx(world.mobility(n).pos_m[k].tolist())
            fid = h["fidelity"]
            assert fid["available"] and fid["nrmse"] <= 0.01
            assert fid["exact"] == (round(phi * 64) == 64)
            assert h["aoi_modeled_s"] == pytest.approx(recs[n]["t"][k])


@pytest.mark.parametrize("algorithm", ["per-slot-optimum", "no-semantic"])
def test_live_slots_equal_in_process(live, codec: SemanticCodec, algorithm: str) -> None:
    """K = 6 UDs, 4 slots: modeled latencies, energies and rewards equal the in-process run of
    the same seed and policy; the twins hold the codec's recovered data."""
    p, seed, rounds = SemanticParams(), 21, 4
    run_id = live.start_run(scenario="semantic", algorithm=algorithm, seed=seed, rounds=rounds)
    _check_run(live, codec, run_id, p, algorithm, seed, rounds)


def test_live_trained_agent_equals_in_process(live, codec: SemanticCodec) -> None:
    """A trained PPO checkpoint drives the live slots exactly as it drives simulate()."""
    p = SemanticParams(K=3)
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", live.info.data_dir,
                          "train", "semantic", "--algorithm", "ppo", "--steps", "500",
                          "--episodes", "1", "--param", "K=3"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "per-slot-optimum" in out.stdout
    run_id = live.start_run(scenario="semantic", algorithm="ppo", seed=4, rounds=3,
                            params={"K": 3})
    _check_run(live, codec, run_id, p, "ppo", 4, 3)


def test_missing_agent_is_422_naming_the_command(live, codec: SemanticCodec) -> None:
    resp = live.controller.post("/runs", json={"scenario": "semantic", "algorithm": "sac",
                                               "params": {"K": 7}})
    assert resp.status_code == 422, resp.text
    assert "twinbed train semantic --algorithm sac --param K=7" in resp.json()["detail"]
    bad = live.controller.post("/runs", json={"scenario": "semantic", "algorithm": "random",
                                              "params": {"phi_min": 2}})
    assert bad.status_code == 422 and "phi_min" in bad.json()["detail"]



KILL_SEED, KILL_SLOTS = 9, 24


def _kill_with_work_in_flight(live, run_id: str, stream_role: str, names: tuple[str, ...]
                              ) -> int:
    """kill -9 every process in ``names``, aimed (polling for up to 0.5 s) at a moment when the
    consumer group of ``stream_role``'s stream has read entries it has not acknowledged yet,
    i.e. a handler is mid-message (the window is short; the log line says whether it hit).
    Returns the slots the run had completed when the aiming began."""
    r = live.redis()
    stream = keys.stream(run_id, stream_role)
    done = live.controller.get(f"/runs/{run_id}").json()["status"]["rounds_done"]
    deadline, hit = time.monotonic() + 0.5, False
    while time.monotonic() < deadline and not hit:
        hit = any(g["pending"] > 0 for g in r.xinfo_groups(stream))
    for name in names:
        live.stack.kill(name)
    print(f"killed {names} after {done} slots; an unacknowledged entry was in flight: {hit}")
    return done


@pytest.mark.parametrize("names", [
    ("edge", "edge.1"),  # both edge replicas: the Recover entries in flight wait for the restart
    ("cloud",),  # writes the UD twins and reports each UD's slot
    ("basestation",),  # holds slot n's state (d, D, |g|^2, the decision), stamps eqs. (5)-(18)
    ("sensor",),  # the UDs: move, sense, publish the truth, encode
    ("controller",),  # drives the slots and decides (the policy is reloaded from disk)
], ids=lambda names: names[0])
def test_kill_9_mid_run_and_restart_loses_nothing(live, codec: SemanticCodec,
                                                   names: tuple[str, ...]) -> None:
    """kill -9 the processes of a role twice while slots are still to play (aimed at an
    unacknowledged message) and restart them: the run completes with every slot equal to the
    in-process run of the same seed in its modeled metrics, and every UD twin's history holds
    every slot with the codec's recovered data and the UD's position."""
    p, algorithm = SemanticParams(), "per-slot-optimum"
    run_id = live.start_run(scenario="semantic", algorithm=algorithm, seed=KILL_SEED,
                            rounds=KILL_SLOTS)
    role = names[0]
    for done in (2, 6):
        live.wait_run(run_id, rounds_done=done, timeout_s=120)
        assert _kill_with_work_in_flight(live, run_id, role, names) < KILL_SLOTS, "mid-run"
        for name in names:
            live.stack.restart(name)
    _check_run(live, codec, run_id, p, algorithm, KILL_SEED, KILL_SLOTS)
