"""The federated scenario's comparison schemes, in-process frames, env and commands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinbed.scenarios import get_scenario
from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.algorithms import ALGORITHMS, FRAMEWORK, Greedy, View
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import run_episode

SMALL = dict(M=12, N=4, K=3, frames=4)


@pytest.mark.parametrize("algorithm", [a for a in ALGORITHMS
                                       if a not in ("dmo", "dmo-shared", "exhaustive")])
def test_every_scheme_plays_finite_deterministic_frames(algorithm: str) -> None:
    p = FederatedParams(**SMALL)
    a = run_episode(p, algorithm, 3)
    assert len(a) == p.frames
    for rec in a:
        for key in ("perf", "gain", "cost", "E_J", "T_s", "Q"):
            assert math.isfinite(rec[key]), (algorithm, key)
        assert 0 <= rec["Q"] <= p.Q_max
    assert a == run_episode(p, algorithm, 3)


def test_exhaustive_runs_on_a_tiny_instance_and_bounds_the_frame() -> None:
    p = FederatedParams(M=4, N=3, K=2, z_levels=1, frames=2, lambda1=200.0)
    ex = run_episode(p, "exhaustive", 1, 1)[0]
    for alg in ("federated-myopic", "greedy", "lyapunov-bcd", "tabu"):
        other = run_episode(p, alg, 1, 1)[0]
        # the exhaustive optimum maximizes sum_n U_n = perf + lambda2 E_int - per-ES penalties
        assert ex["sum_U_n"] >= other["sum_U_n"] - 1e-9, alg


def test_exhaustive_refuses_large_instances(tmp_path) -> None:  # noqa: ANN001
    spec = get_scenario("federated")
    with pytest.raises(ValueError, match="small instance"):
        spec.preflight(FederatedParams(), "exhaustive", 0, tmp_path)


def test_dmo_preflight_names_the_train_command(tmp_path) -> None:
    """N = 4 ships no agents: the error names the exact command (every non-default
    parameter, the one --param syntax)."""
    spec = get_scenario("federated")
    with pytest.raises(ValueError, match="twinbed train federated-dmo --param N=4`"):
        spec.preflight(FederatedParams(N=4), "dmo", 0, tmp_path)
    with pytest.raises(ValueError, match="twinbed train federated-dmo-shared --param N=4`"):
        spec.preflight(FederatedParams(N=4), "dmo-shared", 0, tmp_path)


def test_greedy_gives_the_most_important_partial_dt_to_the_es_with_most_data() -> None:
    p = FederatedParams(**SMALL)
    inst = model.draw_instance(p, 0)
    fr = model.draw_frame(p, inst, 0, 0)
    d = Greedy().act(View(p, inst, fr, model.initial_state(p), np.random.default_rng(0)))
    r = model.rates_bps(p, fr, np.ones(p.N, int))
    data = (fr.d_bits.sum(axis=1)[:, None] * (r >= p.r_min_bps)).sum(axis=0)
    assert d.assign[np.argmax(fr.omega)] == np.argmax(data)
    assert (d.z == 1).all()


def test_nov_never_overlaps_and_cen_uses_no_partial_dts() -> None:
    p = FederatedParams(**{**SMALL, "lambda1": 500.0})
    assert all(r["overlapping_sensors"] == 0 for r in run_episode(p, "nov", 0))
    cen = run_episode(p, "cen", 0)
    assert all(r["E_mig_J"] == 0 and r["E_up_J"] == 0 for r in cen)


def test_frameworks_are_named() -> None:
    assert FRAMEWORK["nov"] == "nov" and FRAMEWORK["cen"] == "cen"
    assert set(ALGORITHMS) >= {"dmo", "greedy", "qlearning", "lyapunov-bcd", "tabu", "bandit",
                               "exhaustive", "nov", "cen"}


def test_frames_carry_data_forward() -> None:
    recs = run_episode(FederatedParams(**SMALL), "federated-myopic", 2)
    for a, b in zip(recs, recs[1:]):
        assert all(y >= x for x, y in zip(a["D_bits"], b["D_bits"]))


def test_unknown_algorithm_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown algorithm"):
        run_episode(FederatedParams(**SMALL), "nope", 0)


# -- reproduce / CLI ------------------------------------------------------------------------
def _claims(path) -> dict:
    """The computed claims file (rules, verdicts, reasons whose links resolve), by claim id."""
    from twinbed.figcheck import check_claims
    from twinbed.scenarios.federated.figures import REASONS

    return {c.id: c for c in check_claims(path, reasons=REASONS).claims}


def test_reproduce_fig5_writes_csv_png_and_computed_claims(tmp_path) -> None:
    import csv

    from twinbed.report import drawn
    from twinbed.scenarios.federated.figures import reproduce

    res = reproduce(5, tmp_path, seeds=3, frames=12)
    for name in ("fig5.csv", "fig5.png", "fig5-traces.csv", "fig5-claims.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    claims = _claims(tmp_path / "fig5-claims.json")
    assert claims["fig5/monotone"].verdict == "holds"  # SOCF's potential: exact, every frame
    assert claims["fig5/sum-grows"].lo is not None  # an interval, computed
    assert "rule" in res.table() and "Fig. 5" in res.table()
    rows = list(csv.DictReader((tmp_path / "fig5.csv").read_text().splitlines()))
    assert {r["instance"] for r in rows} == {"1000", "1001", "1002"}
    assert drawn(tmp_path / "fig5.png")["bands"] == 2  # iterations and switches, with CIs


def test_reproduce_fig4_trains_the_n_plus_2_agents_and_plots_their_curve(tmp_path,
                                                                          monkeypatch) -> None:
    import csv

    from twinbed.report import drawn
    from twinbed.scenarios.federated import figures

    monkeypatch.setattr(figures, "_dmo_steps", lambda full: 512)
    res = figures.reproduce(4, tmp_path, seeds=2, frames=10)
    from twinbed.scenarios.federated.artifacts import read_team

    assert len(read_team(tmp_path / "fig4-dmo.zip")) == FederatedParams().N + 2
    curve = list(csv.DictReader((tmp_path / "fig4.csv").read_text().splitlines()))
    assert curve and int(curve[-1]["timesteps"]) <= 512
    evals = list(csv.DictReader((tmp_path / "fig4-eval.csv").read_text().splitlines()))
    assert [r["scheme"] for r in evals] == ["dmo", "federated-myopic", "random"]
    assert all(float(r["utility_lo"]) <= float(r["utility"]) <= float(r["utility_hi"])
               for r in evals)
    assert evals[0]["instances"] == "1000 1001"
    assert drawn(tmp_path / "fig4.png")["bands"] >= 1
    assert set(_claims(tmp_path / "fig4-claims.json")) == {
        "fig4/dmo-rises", "fig4/dmo-beats-random", "fig4/dmo-beats-best-response"}
    assert "Fig. 4" in res.table()


def test_reproduce_fig9_compares_the_trained_dmo_agents_with_every_baseline(tmp_path) -> None:
    """Fig. 9 plays the N + 2 agents saved by ``twinbed train federated-dmo`` (here a tiny
    training) and every algorithm baseline on the same instances; the rows are the schemes'
    own runs (greedy's equals its in-process run), the claims compare them with intervals."""
    import csv

    from twinbed.figcheck import check_reasons
    from twinbed.report import drawn
    from twinbed.scenarios.federated.dmo import dmo_path, train_dmo
    from twinbed.scenarios.federated.figures import FIG9_SCHEMES, REASONS, reproduce, totals

    train_dmo(FederatedParams(frames=8), 64, 0, dmo_path(tmp_path, FederatedParams(frames=8)),
              progress=False,
              hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1})
    out = tmp_path / "out"
    res = reproduce(9, out, seeds=2, frames=8, data_dir=tmp_path)
    rows = {r["scheme"]: r for r in csv.DictReader((out / "fig9.csv").read_text().splitlines())}
    assert set(rows) == {"dmo", "random", *FIG9_SCHEMES}
    assert int(rows["dmo"]["trained_frames"]) == 64
    want = [totals(run_episode(FederatedParams(frames=8), "greedy", s))["utility"]
            for s in (1000, 1001)]
    assert float(rows["greedy"]["utility"]) == pytest.approx(sum(want) / 2)
    lo, hi = float(rows["greedy"]["utility_lo"]), float(rows["greedy"]["utility_hi"])
    assert min(want) - 1e-9 <= lo <= hi <= max(want) + 1e-9  # the interval of two instances
    assert drawn(out / "fig9.png")["errorbars"] >= 1
    claims = _claims(out / "fig9-claims.json")
    assert len(claims) == 6 and "Fig. 9" in res.table()
    check_reasons(REASONS, REASONS)  # every declared reason links to a heading that exists
    for c in claims.values():  # a claim that differs carries its reason only if one is declared
        assert bool(c.reason) == (c.verdict != "holds" and c.id in REASONS)
def _tiny_dmo(data_dir, **params) -> None:
    from twinbed.scenarios.federated.dmo import dmo_path, train_dmo

    p = FederatedParams(frames=6, **params)
    train_dmo(p, 32, 0, dmo_path(data_dir, p), progress=False,
              hyperparams={"n_steps": 16, "batch_size": 16, "n_epochs": 1})


def test_reproduce_fig7_plays_dmo_per_point_and_checks_the_transfer(tmp_path) -> None:
    """Figs. 6-7 play DMO, the paper's method there: the agents trained at a sweep point where
    the data directory has them, else the defaults' agents (transferred), with the per-frame
    best response beside them; where both exist the transferred agents are played too and a
    claim compares them. The DMO rows are the agents' own runs."""
    import csv

    from twinbed.report import drawn
    from twinbed.scenarios.federated.dmo import DmoPolicy, load_dmo
    from twinbed.scenarios.federated.figures import (
        C_CONFIG,
        TRAINED_HERE,
        TRANSFERRED,
        reproduce,
        totals,
    )

    _tiny_dmo(tmp_path)  # the defaults
    _tiny_dmo(tmp_path, c_config=C_CONFIG[-1])  # one sweep point of its own
    out = tmp_path / "out"
    reproduce(7, out, seeds=2, frames=6, data_dir=tmp_path)
    rows = list(csv.DictReader((out / "fig7.csv").read_text().splitlines()))
    dmo = [r for r in rows if r["scheme"] == "dmo"]
    default = FederatedParams().c_config  # one of the sweep's points: the defaults' own agents
    want_agents = [TRAINED_HERE if c == default else TRANSFERRED for c in C_CONFIG[:-1]]
    assert [r["agents"] for r in dmo] == want_agents + [TRAINED_HERE, TRANSFERRED]
    assert sum(r["scheme"] == "federated-myopic" for r in rows) == len(C_CONFIG)
    q = FederatedParams(frames=6, c_config=C_CONFIG[-1])
    own = load_dmo(tmp_path, q)
    want = [totals(run_episode(q, "dmo", s, policy=DmoPolicy(q, own)))["utility"]
            for s in (1000, 1001)]
    assert float(dmo[-2]["utility"]) == pytest.approx(sum(want) / 2)
    claims = _claims(out / "fig7-claims.json")
    assert {"fig7/gain-falls", "fig7/br-gain-falls", "fig7/dmo-transfers-c_config"} <= set(
        claims)
    assert "DMO" in claims["fig7/gain-falls"].what
    assert drawn(out / "fig7.png")["bands"] == 2 * 3 + 2  # 3 metrics x 2 schemes, 2 x changes


def test_reproduce_fig8_puts_dmo_in_the_proposed_framework(tmp_path) -> None:
    import csv

    from twinbed.report import drawn
    from twinbed.scenarios.federated.figures import reproduce

    _tiny_dmo(tmp_path)
    out = tmp_path / "out"
    reproduce(8, out, seeds=2, frames=6, data_dir=tmp_path)
    rows = list(csv.DictReader((out / "fig8.csv").read_text().splitlines()))
    assert [r["scheme"] for r in rows] == ["dmo", "federated-myopic", "nov", "cen"]
    claims = _claims(out / "fig8-claims.json")
    assert {"fig8/utility", "fig8/br-utility", "fig8/cost", "fig8/br-cost"} <= set(claims)
    assert drawn(out / "fig8.png")["errorbars"] == 3


@pytest.mark.parametrize("argv", [
    ["reproduce", "federated", "--figure", "3"],
    ["train", "federated-dmo", "--param", "K=9"],
    ["train", "federated-dmo", "--steps", "0"],
    ["train", "federated-dmo", "--stage1-iters", "0"],
    ["train", "federated-dmo-shared", "--steps", "0"],
    ["train", "federated-dmo-shared", "--param", "K=9"],
    ["train", "federated-dmo", "--param", "nope=1"],
    ["simulate", "federated", "--algorithm", "exhaustive"],
])
def test_cli_bad_input_is_one_line_exit_2(argv) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "twinbed", *argv], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.strip()


def test_the_core_runner_plays_the_episode_with_modeled_time() -> None:
    """``twinbed simulate`` (the contract's runner, the scheme rebuilt from the carried state
    every frame as the live controller does) plays ``run_episode``'s frames; each frame starts
    when the previous one ended in modeled time."""
    from twinbed.scenarios.federated.spec import SCENARIO

    p = FederatedParams(**SMALL)
    recs = SCENARIO.simulate(p, "qlearning", 3, 5)
    assert [{k: v for k, v in r.items() if k != "modeled_start_s"} for r in recs] == \
        run_episode(p, "qlearning", 3, 5)
    starts = [r["modeled_start_s"] for r in recs]
    assert starts[0] == 0.0
    assert starts[1:] == pytest.approx(np.cumsum([r["T_s"] for r in recs])[:-1].tolist())


def test_a_live_frame_is_the_cloud_report_or_only_the_missing_party() -> None:
    from twinbed.scenarios.federated.contract import CloudReport, FederatedRound
    from twinbed.scenarios.federated.spec import SCENARIO

    assert set(FederatedRound.model_fields) - {"missing"} == set(CloudReport.model_fields)
    p = FederatedParams(**SMALL)
    assert SCENARIO.summarize_json(p, 0, {}, ["cloud"]) == {"missing": ["cloud"]}
    rec = {"round": 0, **SCENARIO.simulate(p, "greedy", 1, 1)[0]}
    rec.pop("modeled_start_s")
    body = {k: v for k, v in rec.items() if k != "round"}
    report = {**body, "val_r2": 0.5, "solve_s": 0.01, "frame_wall_s": 0.2, "decide_wall_s": 0.1,
              "edge_train_wall_s": 0.05, "history_rows_moved": 3, "replicas": [0, 1]}
    assert SCENARIO.summarize_json(p, 0, {"cloud": report}, []) == {**report, "missing": []}
    with pytest.raises(ValueError, match="Extra inputs"):
        SCENARIO.summarize_json(p, 0, {"cloud": {**report, "bogus": 1}}, [])
