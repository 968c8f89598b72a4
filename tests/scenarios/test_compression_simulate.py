"""The in-process compression run (the contract's runner over world.py), its fixed-bf baseline
and the scenario spec."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from twinbed.runtime import offline_context
from twinbed.scenarios import get_scenario
from twinbed.scenarios.compression import ALGORITHMS, CompressionParams, model
from twinbed.scenarios.compression.spec import PER_SENSOR, SCENARIO
from twinbed.scenarios.compression.world import channel_for_round, round_outcome
from twinbed.seeding import rng

SPEC = SCENARIO


# -- simulate -------------------------------------------------------------------------------
def test_simulate_deterministic_for_a_seed() -> None:
    """The same (params, algorithm, seed, rounds) gives identical records."""
    p = CompressionParams()
    assert SCENARIO.simulate(p, "fixed-bf", 5, 4) == SCENARIO.simulate(p, "fixed-bf", 5, 4)


def test_simulate_differs_across_seeds() -> None:
    """Different seeds draw different channels and so different times."""
    p = CompressionParams()
    a, b = SCENARIO.simulate(p, "fixed-bf", 0, 2), SCENARIO.simulate(p, "fixed-bf", 1, 2)
    for ra, rb in zip(a, b):
        assert ra["H_gain"] != rb["H_gain"]
        assert ra["T_max_s"] != rb["T_max_s"]


def test_simulate_rounds_differ_within_a_run() -> None:
    """Each round draws a fresh channel."""
    recs = SCENARIO.simulate(CompressionParams(), "fixed-bf", 0, 3)
    assert len({tuple(r["H_gain"]) for r in recs}) == 3


def test_simulate_channel_is_the_named_seed_stream() -> None:
    """Round r's channel is draw_channel_gain with rng(seed, 'channel', r), as the basestation draws it."""
    p = CompressionParams(K=5)
    recs = SCENARIO.simulate(p, "fixed-bf", 9, 3)
    for rec in recs:
        want = model.draw_channel_gain(p, rng(9, "channel", rec["round"]))
        assert rec["H_gain"] == want.tolist()
        assert rec["H_gain"] == channel_for_round(p, 9, rec["round"]).tolist()


def test_simulate_modeled_start_accumulates_t_max() -> None:
    """Round 0 starts at 0 and round r+1 starts when round r's slowest sensor completes (eq. 10)."""
    recs = SCENARIO.simulate(CompressionParams(), "fixed-bf", 2, 6)
    assert [r["round"] for r in recs] == list(range(6))
    assert recs[0]["modeled_start_s"] == 0.0
    for prev, nxt in zip(recs, recs[1:]):
        assert nxt["modeled_start_s"] == prev["modeled_start_s"] + prev["T_max_s"]
        assert nxt["modeled_start_s"] > prev["modeled_start_s"]


def test_simulate_t_max_is_max_total() -> None:
    """T_max = max_k T_total (eq. 10) and T_total = T_comp + T_tr + T_DT (eq. 7) per sensor."""
    for rec in SCENARIO.simulate(CompressionParams(K=7), "fixed-bf", 3, 4):
        assert rec["T_max_s"] == max(rec["T_total_s"])
        for c, t, d, tot in zip(rec["T_comp_s"], rec["T_tr_s"], rec["T_DT_s"], rec["T_total_s"]):
            assert tot == pytest.approx(c + t + d, rel=1e-15)


def test_simulate_records_have_one_entry_per_sensor() -> None:
    """Every per-sensor list has K entries."""
    rec = SCENARIO.simulate(CompressionParams(K=3), "fixed-bf", 0, 1)[0]
    for key in ("H_gain", "b_hz", "f_hz", "rate_bps", "beta", "T_comp_s", "T_tr_s", "T_DT_s",
                "T_total_s"):
        assert len(rec[key]) == 3, key


def test_simulate_zero_rounds_is_empty() -> None:
    """rounds = 0 runs nothing."""
    assert SCENARIO.simulate(CompressionParams(), "fixed-bf", 0, 0) == []


def test_fixed_bf_uniform_scenario_exact_split() -> None:
    """For the paper's K = 4 the equal split sums to B and C_DT exactly and is equal across sensors."""
    p = CompressionParams()
    rec = SCENARIO.simulate(p, "fixed-bf", 0, 1)[0]
    assert rec["b_hz"] == [25e3] * 4 and rec["f_hz"] == [12.5e6] * 4
    assert sum(rec["b_hz"]) == p.B_hz and sum(rec["f_hz"]) == p.C_dt_hz
    # the equal split gives T_DT = 4000 * 1e4 / 12.5e6 = 3.2 s for every sensor
    assert rec["T_DT_s"] == pytest.approx([3.2] * 4, rel=1e-14)


@pytest.mark.parametrize("K", [1, 2, 3, 7, 8, 19])
def test_fixed_bf_split_is_equal_and_sums_to_budget(K: int) -> None:
    """b_k = B/K and f_k = C_DT/K for every k; the sums equal B and C_DT (to rounding for odd K)."""
    p = CompressionParams(K=K, B_hz=100e3, C_dt_hz=50e6)
    alloc = ALGORITHMS["fixed-bf"](p, np.ones(K))
    assert alloc.b_hz.shape == (K,) and alloc.f_hz.shape == (K,)
    assert np.all(alloc.b_hz == alloc.b_hz[0]) and np.all(alloc.f_hz == alloc.f_hz[0])
    assert math.fsum(alloc.b_hz) == pytest.approx(p.B_hz, rel=1e-15)
    assert math.fsum(alloc.f_hz) == pytest.approx(p.C_dt_hz, rel=1e-15)


@pytest.mark.parametrize("overrides", [
    {},
    {"p_dbm": 60.0},  # strong link: no compression (beta = 1)
    {"p_dbm": -40.0},  # weak link: maximal compression
    {"beta_max": 1.0},
    {"beta_max": 5.0, "K": 12, "distance_m": 50.0},
])
def test_simulate_betas_within_bounds(overrides: dict[str, Any]) -> None:
    """Every best response lies in [1, beta_max] (constraint 9a)."""
    p = CompressionParams(**overrides)
    betas = [b for s in range(4) for rec in SCENARIO.simulate(p, "fixed-bf", s, 3) for b in rec["beta"]]
    assert all(1.0 <= b <= p.beta_max for b in betas)
    if overrides.get("p_dbm") == 60.0:
        assert set(betas) == {1.0}
    if overrides.get("p_dbm") == -40.0:
        assert set(betas) == {p.beta_max}


def test_simulate_beta_is_best_response_to_rate() -> None:
    """Each recorded beta is the best response (eq. 9) to the recorded rate."""
    p = CompressionParams()
    for rec in SCENARIO.simulate(p, "fixed-bf", 4, 3):
        want = model.best_response(np.array(rec["rate_bps"]), np.full(p.K, p.f_s_hz), p.epsilon,
                                   p.beta_max)
        assert rec["beta"] == want.tolist()


def test_simulate_unknown_algorithm_named() -> None:
    """An unknown algorithm raises ValueError naming it and the known ones."""
    with pytest.raises(ValueError, match=r"'no-such-algo'.*fixed-bf"):
        SCENARIO.simulate(CompressionParams(), "no-such-algo", 0, 1)


def test_round_outcome_is_json_plain() -> None:
    """round_outcome returns plain Python floats and lists (JSON-able)."""
    p = CompressionParams(K=2)
    H = channel_for_round(p, 0, 0)
    out = round_outcome(p, 0, 0.0, H, np.full(2, 5e4), np.full(2, 25e6)).model_dump()
    assert isinstance(out["T_max_s"], float)
    assert all(type(x) is float for x in out["beta"] + out["T_total_s"])


# -- spec -----------------------------------------------------------------------------------
def test_spec_registered_by_name() -> None:
    """The scenario registry returns this SCENARIO under 'compression' (with its shipped
    artifacts' folder set), listing its algorithms."""
    found = get_scenario("compression")
    assert found.name == "compression" and found.policies is SPEC.policies
    assert found.shipped_dir is not None and found.shipped_dir.name == "artifacts"
    assert SPEC.algorithms == tuple(ALGORITHMS)
    assert SPEC.parties(CompressionParams(K=3)) == ["sensor-0", "sensor-1", "sensor-2"]


def test_spec_decide_equals_algorithm() -> None:
    """SPEC.decide returns the algorithm's allocation for the channel in the state, as lists."""
    p = CompressionParams(K=5)
    H = channel_for_round(p, 1, 0)
    got = SPEC.decide_json(offline_context("compression", p, "fixed-bf"), {"H_gain": H.tolist()})
    alloc = ALGORITHMS["fixed-bf"](p, H)
    assert got == {"b_hz": alloc.b_hz.tolist(), "f_hz": alloc.f_hz.tolist(), "beta": None,
                   "iterations": 1}
    assert got["b_hz"] == SCENARIO.simulate(p, "fixed-bf", 1, 1)[0]["b_hz"]


@pytest.mark.parametrize("H", [[1e-9] * 3, [1e-9] * 5, [[1e-9]] * 4, 1e-9])
def test_spec_decide_rejects_wrong_length_channel(H: Any) -> None:
    """A channel vector that is not shape (K,) is a clear ValueError stating what was expected."""
    with pytest.raises(ValueError, match=r"expected 4 channel gains, got shape|H_gain"):
        SPEC.decide_json(offline_context("compression", CompressionParams(K=4), "fixed-bf"),
                         {"H_gain": H})


def _report(p: CompressionParams, rec: dict[str, Any], k: int, wall0: float) -> dict[str, Any]:
    """A fabricated cloud RoundReport for sensor k, built from a simulated round."""
    rep: dict[str, Any] = {name: None for name in PER_SENSOR}
    rep.update(sensor=k, raw_bytes=500, forwarded_wall=wall0 + k + 1, beta_model=rec["beta"][k], beta_achieved=rec["beta"][k] + 0.01, codec="zstd",
               codec_s=0.001, decode_s=0.0005, b_hz=rec["b_hz"][k], f_hz=rec["f_hz"][k],
               rate_bps=rec["rate_bps"][k], T_comp_s=rec["T_comp_s"][k], T_tr_s=rec["T_tr_s"][k],
               T_DT_s=rec["T_DT_s"][k], T_total_s=rec["T_total_s"][k], fidelity_exact=True,
               modeled_start_s=rec["modeled_start_s"], sampled_wall=wall0 + k,
               twin_wall=wall0 + 10 + 2 * k)
    return rep


def test_spec_summarize_all_present() -> None:
    """With every sensor reporting, T_max equals the simulated round's and lists are per sensor."""
    p = CompressionParams()
    rec = SCENARIO.simulate(p, "fixed-bf", 0, 2)[1]
    parties = SPEC.parties(p)
    reports = {parties[k]: _report(p, rec, k, 1000.0) for k in range(p.K)}
    out = SPEC.summarize_json(p, 1, reports, [])
    assert out["T_max_s"] == rec["T_max_s"]
    assert out["T_total_s"] == rec["T_total_s"]
    assert out["beta_model"] == rec["beta"]
    assert out["beta_mean"] == pytest.approx(np.mean(rec["beta"]))
    assert out["beta_achieved_mean"] == pytest.approx(np.mean(rec["beta"]) + 0.01)
    assert out["modeled_start_s"] == rec["modeled_start_s"]
    assert out["pipeline_wall_s"] == pytest.approx((1000.0 + 10 + 2 * 3) - 1000.0)
    assert out["missing"] == []


def test_spec_summarize_missing_sensors() -> None:
    """T_max is over present sensors only; missing sensors appear as None in every per-sensor list."""
    p = CompressionParams()
    rec = SCENARIO.simulate(p, "fixed-bf", 0, 1)[0]
    parties = SPEC.parties(p)
    slowest = int(np.argmax(rec["T_total_s"]))
    present = [k for k in range(p.K) if k != slowest and k != (slowest + 1) % p.K]
    missing = [parties[k] for k in range(p.K) if k not in present]
    reports = {parties[k]: _report(p, rec, k, 50.0) for k in present}
    out = SPEC.summarize_json(p, 0, reports, missing)
    assert out["T_max_s"] == max(rec["T_total_s"][k] for k in present)
    assert out["T_max_s"] < rec["T_max_s"]
    for name in PER_SENSOR:
        assert len(out[name]) == p.K, name
        for k in range(p.K):
            assert (out[name][k] is None) == (k not in present), (name, k)
    assert out["T_total_s"] == [rec["T_total_s"][k] if k in present else None for k in range(p.K)]
    assert out["missing"] == missing
    assert out["pipeline_wall_s"] == pytest.approx(
        max(50.0 + 10 + 2 * k for k in present) - min(50.0 + k for k in present))


def test_spec_summarize_nobody_reported() -> None:
    """With no reports, T_max is None and every sensor is listed as missing."""
    p = CompressionParams(K=2)
    parties = SPEC.parties(p)
    out = SPEC.summarize_json(p, 0, {}, parties)
    assert "T_max_s" not in out  # a field the round could not compute is left out
    assert out["missing"] == parties
    assert all(out[name] == [None, None] for name in PER_SENSOR)
