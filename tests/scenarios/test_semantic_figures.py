"""`twinbed reproduce semantic`: figure artifacts and the claims logic."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twinbed.figcheck import check_claims, check_csv, check_png
from twinbed.scenarios.semantic.figures import REASONS, _sweep_claims, reproduce


def test_fig3_tiny_budget_writes_csv_png_claims(tmp_path: Path) -> None:
    """A tiny budget, two runs: both agents really trained per run and every scheme evaluated
    on the run's cycles; the per-slot optimum is the best reward of all (it is the per-slot
    upper bound of (22)); claims computed with rule, verdict and interval."""
    table = reproduce(3, tmp_path, steps=150, episodes=1, seed=0, seeds=2).table()
    for f in ("fig3.csv", "fig3.png", "fig3-claims.json"):
        assert (tmp_path / f).stat().st_size > 0
    assert "sac final reward above ppo" in table and "random lowest reward" in table
    assert "95 % CI of R_sac - R_ppo above 0" in table
    rows = check_csv(tmp_path / "fig3.csv", ["episode_reward"], min_seeds=2)
    assert {r["scheme"] for r in rows} == {"sac", "ppo", "random", "no-semantic", "per-slot-optimum"}
    final = {r["scheme"]: float(r["episode_reward"]) for r in rows if r.get("evaluated")}
    assert final["per-slot-optimum"] > final["random"] > final["no-semantic"]
    check_png(tmp_path / "fig3.png", bands=1, errorbars=1)  # sac: one curve point at 150 steps
    f = check_claims(tmp_path / "fig3-claims.json", reasons=REASONS, min_claims=2)
    assert f.seeds == [0, 1] and "--seeds 2" in f.command
    assert all(c.paper and c.rule for c in f.claims)
    for s in (0, 1):
        assert (tmp_path / "agents" / f"fig3-seed{s}-sac.zip").exists()


def _sweep(T: dict[str, list[list[float]]]) -> dict[str, object]:
    return {c.id: c for c in _sweep_claims(4, [2.0, 6.0, 10.0],
                                           {s: np.array(v) for s, v in T.items()}, tuple(T))}


def test_sweep_claims_are_computed_from_paired_runs() -> None:
    """Orderings hold only when the paired difference's interval excludes 0 at every point; a
    made-up sweep where sac loses at one point differs; a flat scheme never "increases"."""
    rng = np.random.default_rng(0)
    base = np.array([2.0, 6.0, 10.0])

    def runs(offset: list[float]) -> list[list[float]]:
        return (base + np.array(offset) + rng.normal(0, 0.02, (5, 3))).tolist()

    T = {"sac": runs([0.0, 0.0, 0.0]), "ppo": runs([0.5, -0.3, 1.0]),
         "random": runs([1.0, 1.0, 1.0]), "no-semantic": runs([2.0, 2.0, 2.0]),
         "per-slot-optimum": runs([-0.5, -0.5, -0.5])}
    c = _sweep(T)
    assert c["fig4/sac-trend"].verdict == "holds"  # type: ignore[attr-defined]
    assert c["fig4/sac-lowest"].verdict == "differs"  # ppo below sac at K = 6
    assert c["fig4/no-semantic-highest"].verdict == "holds"
    assert c["fig4/no-semantic-highest"].rule.count("above 0") == 3  # one part per point
    T["ppo"] = runs([0.5, 0.3, 1.0])
    assert _sweep(T)["fig4/sac-lowest"].verdict == "holds"
    # a flat series does not "increase with K"
    T["random"] = [[7.0, 7.0, 7.0]] * 5
    assert _sweep(T)["fig4/random-trend"].verdict == "differs"
    # "up to 13.2 %": sac 20 % below the best other at its best point: outside 13.2 +- 2
    T = {"sac": [[8.0, 8.0, 8.0]] * 5, "ppo": [[10.0, 9.0, 9.0]] * 5,
         "random": [[11.0, 11.0, 11.0]] * 5, "no-semantic": [[12.0, 12.0, 12.0]] * 5,
         "per-slot-optimum": [[7.0, 7.0, 7.0]] * 5}
    up = _sweep(T)["fig4/up-to-13.2"]
    assert up.value == pytest.approx(20.0) and up.verdict == "differs"
    assert up.rule == "95 % CI within 13.2 +- 2 %"


def test_bad_figure_is_exit_2(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", str(tmp_path),
                          "reproduce", "semantic", "--figure", "9"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", str(tmp_path),
                          "reproduce", "semantic", "--figure", "4", "--steps", "0"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--steps" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("fig", [4, 5, 6, 7])
def test_sweep_parameters_are_valid(fig: int) -> None:
    """Every sweep point builds valid parameters (fig 5 keeps the sensing rate fixed)."""
    from twinbed.scenarios.semantic.figures import _SWEEPS, _params_at
    from twinbed.scenarios.semantic.params import SemanticParams

    name, _, xs, _ = _SWEEPS[fig]
    ps = [_params_at(fig, x) for x in xs]
    if fig == 5:
        assert len({p.v_s for p in ps}) == 1 and ps[0].v_s == SemanticParams().v_s
    assert len(set(ps)) == len(xs)


def test_trained_uses_the_train_commands_checkpoints(tmp_path: Path) -> None:
    """`--trained`: a figure evaluates the agents `twinbed train semantic` saved for its
    parameters (no training of its own, the table names their steps; the user's win over the
    shipped ones); one for parameters nothing ships for (Fig. 4's K = 2) is a one-line exit 2
    naming the train command."""
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", str(tmp_path),
                          "reproduce", "semantic", "--figure", "4", "--trained"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "twinbed train semantic --algorithm sac --param K=2" in out.stderr
    from twinbed.scenarios.semantic.params import SemanticParams
    from twinbed.scenarios.semantic.train import train_agent

    p = SemanticParams()
    for algo, steps in (("sac", 120), ("ppo", 500)):
        train_agent(p, algo, steps, 0, tmp_path, progress=False, eval_episodes=1)
    table = reproduce(3, tmp_path / "fig", episodes=1, agents_from=tmp_path, seeds=2).table()
    assert "ppo 500, sac 120 steps" in table
    assert not (tmp_path / "fig" / "agents").exists()  # nothing trained by the figure
    rows = list(csv.DictReader((tmp_path / "fig" / "fig3.csv").open()))
    assert {r["scheme"] for r in rows} == {"sac", "ppo", "random", "no-semantic", "per-slot-optimum"}
