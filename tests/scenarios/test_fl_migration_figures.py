"""fl-migration reproduce pipeline on a tiny budget: agents trained per seed, every scheme
evaluated on several trajectory seeds, verdicts computed by twinbed.claims predicates, CSVs with
seeds and interval columns, PNGs whose bands / error bars / paper markers are really drawn;
agents and evaluation reused on the next call. The predicates are also checked on the figure
data itself (a verdict must follow from the numbers in the CSV)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from twinbed import claims as cl
from twinbed import stats
from twinbed.figcheck import check_claims, check_csv, check_png, check_reasons
from twinbed.scenarios.fl_migration.algorithms import ALGORITHMS
from twinbed.scenarios.fl_migration.figures import (
    BASELINES,
    PAPER_RATIOS,
    REASONS,
    Budget,
    reproduce,
)
from twinbed.scenarios.fl_migration.params import FlMigrationParams

B = Budget(S_values=(3, 4), emds=(0.0, 0.6), steps=96, episode_slots=8, slots=2,
           curve_seeds=(0, 1), curve_S=(3, 4), eval_seeds=(101, 102))
P = FlMigrationParams(U=4)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("flfigs")
    out, data = root / "out", root / "data"
    for fig in (5, 6, 4, 10):
        reproduce(fig, out, data, budget=B, params=P, progress=False)
    return out, data


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_figs_5_6_evaluate_every_scheme_on_every_trajectory_seed(made: tuple[Path, Path]
                                                                  ) -> None:
    out, data = made
    rows = json.loads((out / "evaluation.json").read_text())["rows"]
    assert {(r["S"], r["emd"], r["scheme"], r["seed"]) for r in rows} == {
        (S, e, a, s) for S in (3, 4) for e in (0.0, 0.6) for a in ALGORITHMS
        for s in (101, 102)}
    # PPO for (S, curve seed) plus actor-critic and DDPG for seed 0: no more, no fewer
    agents = sorted(p.name for p in (data / "agents").glob("*.zip"))
    assert len(agents) == 4 + 4, agents
    # a second call reuses the agents and the evaluation
    stamp = {a: (data / "agents" / a).stat().st_mtime_ns for a in agents}
    ev = (out / "evaluation.json").stat().st_mtime_ns
    reproduce(6, out, data, budget=B, params=P, progress=False)
    assert stamp == {a: (data / "agents" / a).stat().st_mtime_ns for a in agents}
    assert (out / "evaluation.json").stat().st_mtime_ns == ev


def test_csvs_carry_seeds_and_intervals(made: tuple[Path, Path]) -> None:
    out, _ = made
    for fig in (5, 6):
        rows = check_csv(out / f"fig{fig}.csv", ["objective", "reward", "utility", "cost_total"],
                         min_seeds=2)
        assert {json.dumps(json.loads(r["seeds"])) for r in rows} == {"[101, 102]"}
    check_csv(out / "fig5-compare.csv", ["objective_diff", "size_over_floor"], min_seeds=2)
    for fig, key in ((4, "reward_mean"), (10, "utility_mean")):
        rows = check_csv(out / f"fig{fig}.csv", [key], min_seeds=2)
        assert {(int(r["S"]), float(r["emd"])) for r in rows} == {
            (S, e) for S in (3, 4) for e in (0.0, 0.6)}
        episodes = _rows(out / f"fig{fig}-episodes.csv")
        assert {int(r["seed"]) for r in episodes} == {0, 1}


def test_pngs_draw_bands_error_bars_and_the_papers_numbers(made: tuple[Path, Path]) -> None:
    out, _ = made
    # Fig. 4 / 10: one band per (S, EMD) panel; claims judged on the raw episodes
    for fig in (4, 10):
        inv = check_png(out / f"fig{fig}.png", bands=4)
        assert inv["axes"] == 4 and inv["paper"] == 0  # the paper states no numbers there
    # Fig. 5: error bars per (EMD, scheme), the paired differences, our sizes; the paper's four
    # "times higher" drawn as its markers
    inv = check_png(out / "fig5.png", errorbars=2 * len(ALGORITHMS) + 2, paper_points=4)
    assert any("paper" in t and "times higher" in t for t in inv["legend"])
    # Figs. 6-9: utility and cost error bars per (EMD, scheme)
    check_png(out / "fig6.png", errorbars=2 * 2 * len(ALGORITHMS))


def test_claims_are_computed_with_rules_and_reasons_resolve(made: tuple[Path, Path]) -> None:
    out, _ = made
    for fig, n in ((4, 4), (5, 5 + len(ALGORITHMS)), (6, 6), (10, 2)):
        f = check_claims(out / f"fig{fig}-claims.json", reasons=REASONS, min_claims=n)
        assert f.scenario == "fl-migration" and f.command.startswith(
            f"twinbed reproduce fl-migration --figure {fig}")
        for c in f.claims:
            assert c.rule and c.verdict in (cl.HOLDS, cl.DIFFERS)
            # a reason only where the data says the claim differs
            assert not (c.verdict == cl.HOLDS and c.reason)
        txt = (out / f"fig{fig}-claims.txt").read_text()
        assert "rule" in txt.splitlines()[1] and "95 % CI" in txt
    check_reasons(REASONS, [c.id for fig in (3, 4, 5, 6, 10) for c in _ids(fig)])


def _ids(fig: int) -> list[cl.Claim]:
    """The claim ids a figure can produce (Fig. 3 without running real FL)."""
    ids = {3: ["fig3/fit", "fig3/paper-alphas"],
           4: ["fig4/rises", "fig4/converges", "fig4/grows-with-S", "fig4/falls-with-emd"],
           5: [f"fig5/ppo-above-b{k}" for k in BASELINES.values()]
           + ["fig5/ppo-best-every-emd"] + [f"fig5/grows-with-S-{a}" for a in ALGORITHMS],
           6: ["fig6/cost-same-over-emd", "fig6/utility-falls-with-emd",
               "fig6/utility-rises-with-S", "fig6/b3-utility-flat", "fig6/b3-costlier",
               "fig6/ppo-cheaper"],
           10: ["fig10/rises", "fig10/grows-with-S"]}[fig]
    return [cl.Claim(i, "", "", "", "", cl.HOLDS) for i in ids]


def test_fig5_orderings_follow_the_paired_differences_in_the_data(made: tuple[Path, Path]
                                                                  ) -> None:
    """Each "PPO above baseline k" verdict is the predicate on the evaluation's numbers: the
    95 % interval of the paired difference (per trajectory seed, mean over S and EMD) above 0;
    the paper's ratio is printed beside it, never used as the verdict."""
    out, _ = made
    rows = json.loads((out / "evaluation.json").read_text())["rows"]
    claims = {c.id: c for c in check_claims(out / "fig5-claims.json").claims}

    def per_seed(scheme: str) -> np.ndarray:
        return np.array([np.mean([r["objective"] for r in rows
                                  if r["scheme"] == scheme and r["seed"] == s])
                         for s in (101, 102)])

    compare = {int(r["baseline"]): r for r in _rows(out / "fig5-compare.csv")}
    for a, k in BASELINES.items():
        d = stats.diff_ci(per_seed("ppo"), per_seed(a))
        c = claims[f"fig5/ppo-above-b{k}"]
        assert c.verdict == (cl.HOLDS if d.lo > 0 else cl.DIFFERS)
        assert c.value == pytest.approx(d.value) and c.lo == pytest.approx(d.lo)
        assert str(PAPER_RATIOS[k]) in c.paper
        assert float(compare[k]["objective_diff"]) == pytest.approx(d.value)
        assert float(compare[k]["paper_times_higher"]) == PAPER_RATIOS[k]


def test_fig4_verdicts_follow_the_slopes_of_the_episode_data(made: tuple[Path, Path]) -> None:
    out, _ = made
    eps = _rows(out / "fig4-episodes.csv")
    claims = {c.id: c for c in check_claims(out / "fig4-claims.json").claims}

    def level(S: int, seed: int) -> float:  # the mean over EMDs of each EMD's last quarter
        out = []
        for e in (0.0, 0.6):
            y = [float(r["reward_mean"]) for r in eps if int(r["S"]) == S
                 and int(r["seed"]) == seed and float(r["emd"]) == e]
            out.append(np.mean(y[-max(1, len(y) // 4):]))
        return float(np.mean(out))

    Y = np.array([[level(S, s) for S in (3, 4)] for s in (0, 1)])
    slope = stats.slope_ci([3.0, 4.0], Y)
    c = claims["fig4/grows-with-S"]
    assert c.verdict == (cl.HOLDS if slope.lo > 0 else cl.DIFFERS)
    assert c.value == pytest.approx(slope.value)


def test_a_flat_or_overlapping_result_never_holds() -> None:
    """The predicates the figures use, on synthetic data: a flat series never "rises", an
    ordering whose interval straddles 0 never holds, a ratio over a quantity that crosses 0 is
    undefined (why Fig. 5 judges paired differences)."""
    flat = np.tile(np.array([10.0, 10.2, 9.8, 10.1, 9.9, 10.0]), (5, 1))
    flat += np.random.default_rng(0).normal(0, 0.1, flat.shape)
    assert not cl.rises(stats.slope_ci(np.arange(6.0), flat)).holds
    overlap = stats.diff_ci(np.array([0.1, -0.2, 0.15, -0.1, 0.05]), np.zeros(5))
    assert not cl.greater(overlap, "PPO", "B").holds
    crossing = np.array([-0.12, -0.01, 0.03, 0.08, -0.05])
    assert not stats.ratio_ci(crossing + 0.01, crossing).defined


def test_fig3_computes_its_fit_claims_and_draws_the_papers_curve(tmp_path: Path) -> None:
    """Real FL, kept tiny (1 epoch each, 30-90 samples, 2 seeds): accuracy per point with its
    interval over the seeds, the fit's and the paper's alphas' RMSE judged by at_most."""
    b = Budget(emds=(0.0, 0.6), fl_sizes=(30, 60, 90), fl_seeds=(0, 1))
    res = reproduce(3, tmp_path, tmp_path / "data", budget=b,
                    params=FlMigrationParams(E_s=1, E_us=1), progress=False)
    rows = check_csv(tmp_path / "fig3.csv", ["accuracy"], min_seeds=2)
    assert len(rows) == 6
    inv = check_png(tmp_path / "fig3.png", errorbars=2, paper_points=2)
    assert inv["paper"] == 2  # one paper curve per EMD
    f = check_claims(tmp_path / "fig3-claims.json", reasons=REASONS, min_claims=2)
    fit = json.loads((tmp_path / "fig3_fit.json").read_text())
    by_id = {c.id: c for c in f.claims}
    for cid, rmse in (("fig3/fit", fit["rmse"]), ("fig3/paper-alphas", fit["paper_alphas_rmse"])):
        assert by_id[cid].value == pytest.approx(rmse)
        assert by_id[cid].verdict == (cl.HOLDS if rmse <= 0.02 else cl.DIFFERS)
    assert f.seeds == [0, 1] and "0.02" in res.table()
