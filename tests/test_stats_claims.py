"""twinbed.stats, twinbed.claims, the plotting helpers and twinbed.figcheck on synthetic data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbed import claims as cl
from twinbed import stats
from twinbed.cli import main
from twinbed.figcheck import check_claims, check_csv, check_png, check_reasons
from twinbed.report import band, errorbars, paper_hline, paper_points, pyplot, save_png, write_csv
from twinbed.stats import Estimate


# -- intervals ------------------------------------------------------------------------------------
def test_mean_interval_covers_the_true_mean_at_about_the_nominal_rate() -> None:
    """300 seeded experiments of 30 normal samples: the 95 % interval covers the true mean in
    about 95 % of them (binomial sd ~1.3 points; BCa is slightly liberal at n = 30)."""
    rng = np.random.default_rng(2024)
    hits = sum(stats.mean_ci(rng.normal(3.0, 2.0, 30), resamples=1000, seed=i).excludes(3.0)
               is False for i in range(300))
    assert 0.90 <= hits / 300 <= 0.985


def test_slope_interval_covers_the_true_slope() -> None:
    rng = np.random.default_rng(7)
    x = np.arange(12.0)
    hits = sum(not stats.slope_ci(x, 0.5 * x + rng.normal(0, 1, 12)).excludes(0.5)
               for _ in range(300))
    assert 0.91 <= hits / 300 <= 0.99  # exact t-interval: nominal 95 %


def test_degenerate_samples() -> None:
    one = stats.mean_ci([3.0])
    assert one.value == 3 and one.lo == -math.inf and one.hi == math.inf
    same = stats.mean_ci([2.0, 2.0, 2.0])
    assert (same.lo, same.value, same.hi) == (2, 2, 2)
    with pytest.raises(ValueError, match="finite"):
        stats.mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="at least one"):
        stats.mean_ci([])
    with pytest.raises(ValueError, match="equal sizes"):
        stats.diff_ci([1, 2, 3], [1, 2])


def test_paired_difference_sees_through_common_noise() -> None:
    """Common random numbers: b = a + 0.1 with a's spread 10x the gap. Paired, the gap is
    certain; unpaired, it is buried in the noise."""
    a = np.random.default_rng(0).normal(0, 1, 40)
    b = a + 0.1
    assert stats.diff_ci(b, a).lo > 0
    assert not stats.diff_ci(b, a, paired=False).excludes(0)


def test_ratio_over_a_denominator_near_zero_is_undefined() -> None:
    rng = np.random.default_rng(1)
    den = rng.normal(0, 1, 30)
    est = stats.ratio_ci(rng.normal(5, 1, 30), den)
    assert not est.defined and "includes 0" in est.method
    assert not cl.near(est, 1.5, 10).holds  # an undefined number never holds
    ok = stats.reduction_ci(np.full(10, 8.0) + rng.normal(0, .01, 10), np.full(10, 10.0))
    assert ok.defined and ok.lo < 20 < ok.hi


def test_iqm_matches_rliable() -> None:
    from rliable import library as rly
    from rliable import metrics

    scores = np.random.default_rng(3).normal(size=(10, 2))
    est = stats.iqm_ci(scores, seed=5, resamples=500)
    assert est.value == pytest.approx(metrics.aggregate_iqm(scores))
    assert est == stats.iqm_ci(scores, seed=5, resamples=500)  # seeded: reproducible
    np.random.seed(5)  # rliable resamples with numpy's global generator
    _, ci = rly.get_interval_estimates({"x": scores},
                                       lambda s: np.array([metrics.aggregate_iqm(s)]), reps=500)
    assert (est.lo, est.hi) == pytest.approx((ci["x"][0, 0], ci["x"][1, 0]))
    assert est.lo < est.value < est.hi
    curve = stats.iqm_curve(np.random.default_rng(4).normal(size=(6, 8)), resamples=300)
    assert len(curve) == 8 and all(e.lo <= e.value <= e.hi for e in curve)


# -- predicates -----------------------------------------------------------------------------------
def test_a_flat_series_never_rises_or_falls() -> None:
    x = np.arange(20.0)
    flat = stats.slope_ci(x, np.full(20, 4.2))
    assert not cl.rises(flat).holds and not cl.falls(flat).holds
    flat_runs = stats.slope_ci(x, np.full((5, 20), 4.2))
    assert not cl.rises(flat_runs).holds


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), runs=st.integers(1, 6))
def test_a_flat_noisy_series_does_not_rise(seed: int, runs: int) -> None:
    """Pure noise around a constant: the slope's interval includes 0 for these seeds (each
    example is one seeded draw; hypothesis shrinks any failure to a reproducible seed)."""
    rng = np.random.default_rng(seed)
    y = 1.0 + rng.normal(0, 1e-3, (runs, 30))
    slope = stats.slope_ci(np.arange(30.0), y, resamples=400)
    # a 95 % interval misses 0 in ~5 % of noise draws: allow that, but never with a big slope
    if cl.rises(slope).holds:
        assert slope.lo < 2e-4


def test_rises_and_falls_need_the_right_direction() -> None:
    x = np.arange(10.0)
    up = stats.slope_ci(x, x + np.random.default_rng(0).normal(0, .1, 10))
    assert cl.rises(up).holds and not cl.falls(up).holds
    assert "above 0" in cl.rises(up).rule


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), gap=st.floats(-0.3, 0.3))
def test_an_ordering_with_overlapping_intervals_never_holds(seed: int, gap: float) -> None:
    """Two independent samples whose means each lie inside the other's 95 % interval: the
    difference's interval includes 0, so neither ordering holds."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, 25), rng.normal(gap, 1, 25)
    ea, eb = stats.mean_ci(a, resamples=500), stats.mean_ci(b, resamples=500)
    if not (ea.lo <= eb.value <= ea.hi and eb.lo <= ea.value <= eb.hi):
        return
    d = stats.diff_ci(b, a, paired=False, resamples=500)
    assert not cl.greater(d, "B", "A").holds and not cl.less(d, "B", "A").holds


def test_near_holds_only_when_the_whole_interval_is_within_tolerance() -> None:
    inside = Estimate(8.5, 8.1, 8.9, 20, "t")
    assert cl.near(inside, 8.3, 1.0).holds
    assert not cl.near(Estimate(13.9, 13.5, 14.3, 20, "t"), 12.0, 1.0).holds  # outside
    assert not cl.near(Estimate(8.9, 8.2, 9.4, 20, "t"), 8.3, 1.0).holds  # straddles 9.3
    assert not cl.near(Estimate(8.3, -math.inf, math.inf, 1, "one"), 8.3, 1.0).holds
    o = cl.near(inside, 8.3, 1.0, unit="%")
    assert o.paper == "8.3 %" and "8.3 +- 1 %" in o.rule and o.ours == "8.5 [8.1, 8.9] %"


def test_a_16_percent_relative_miss_on_a_2_point_tolerance_differs() -> None:
    """The audit's cases (issue 18): typed "holds" for 15-16 % relative misses. Computed, a
    miss beyond the tolerance differs even with no noise at all, and one inside it differs
    once its interval reaches past the tolerance."""
    assert not cl.near(Estimate.exact(17.4), 15.0, 2.0, unit="%").holds  # +16 %, 2.4 points
    assert cl.near(Estimate.exact(16.9), 15.0, 2.0, unit="%").holds
    # 8.9 % stated, 10.3 % measured (+16 %): per-draw reductions with the measured spread
    rng = np.random.default_rng(0)
    base = rng.uniform(20.0, 30.0, 20)
    proposed = base * (1 - rng.normal(0.103, 0.03, 20))
    red = stats.reduction_ci(proposed, base)
    assert 9.0 < red.value < 11.5 and red.hi > 8.9 + 2.0
    assert not cl.near(red, 8.9, 2.0, unit="%").holds


@settings(max_examples=100, deadline=None)
@given(paper=st.floats(-100, 100), tol=st.floats(0, 10), miss=st.floats(1e-6, 50),
       half=st.floats(0, 5), side=st.sampled_from([-1, 1]))
def test_a_number_outside_tolerance_never_holds(paper: float, tol: float, miss: float,
                                                half: float, side: int) -> None:
    v = paper + side * (tol + miss)
    assert not cl.near(Estimate(v, v - half, v + half, 10, "t"), paper, tol).holds


def test_bounds_close_settles_fact_all_of() -> None:
    e = Estimate(1e-9, 0.0, 2e-9, 60, "t")
    assert cl.at_most(e, 0.5).holds and not cl.at_least(e, 0.5).holds
    assert cl.close(Estimate(0.2, -0.5, 0.9, 5, "t"), 1.0).holds
    assert not cl.close(Estimate(0.2, -0.5, 1.2, 5, "t"), 1.0).holds
    x = np.arange(40.0)
    curve = 1 - np.exp(-x / 4) + np.random.default_rng(2).normal(0, 1e-3, (5, 40))
    assert cl.settles(stats.change_ci(x, curve), 0.01).holds
    rising = x / 40 + np.random.default_rng(2).normal(0, 1e-3, (5, 40))
    assert not cl.settles(stats.change_ci(x, rising), 0.01).holds
    both = cl.all_of(cl.fact(True, paper="p", ours="o", rule="r1"),
                     cl.fact(False, paper="q", ours="o2", rule="r2"))
    assert not both.holds and both.rule == "r1 and r2"


# -- claims, tables, files, summary ---------------------------------------------------------------
REASONS = {"fig1/b": cl.Reason("our noise is larger", "README.md#twinbed")}


def _claims() -> list[cl.Claim]:
    return [
        cl.claim("fig1/a", "A below B", cl.less(Estimate(-2, -3, -1, 5, "t"), "A", "B"), REASONS),
        cl.claim("fig1/b", "reduction [%]", cl.near(Estimate(20.4, 19.9, 21, 100, "t"), 30.9, 1,
                                                    unit="%"), REASONS),
        cl.claim("fig1/c", "rises", cl.rises(Estimate(0, 0, 0, 9, "flat")), REASONS),
    ]


def test_claim_status_reason_only_when_it_differs() -> None:
    a, b, c = _claims()
    assert (a.status, b.status, c.status) == (cl.HOLDS, cl.EXPLAINED, cl.DIFFERS)
    held = cl.claim("fig1/b", "x", cl.near(Estimate(30, 30, 30, 1, "e"), 30.9, 1), REASONS)
    assert held.status == cl.HOLDS and held.reason == ""  # a stale reason is dropped


def test_tables_print_rule_paper_and_ours() -> None:
    cs = _claims()
    text = cl.table(cs, "Fig. 1")
    assert "rule" in text.splitlines()[1] and "30.9 +- 1 %" in text
    assert "[1] our noise is larger (README.md#twinbed)" in text
    assert text.endswith("1 hold, 1 differ (explained), 1 differ")
    md = cl.markdown(cs)
    assert md.count("\n") == 4 and "[our noise is larger](README.md#twinbed)" in md


def test_write_load_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figs = tmp_path / "figures"
    cl.write(figs / "compression" / "fig1_claims.json", _claims(), scenario="compression",
             figure=1, command="twinbed reproduce compression --figure 1", seeds=[0, 1])
    (figs / "semantic").mkdir(parents=True)
    (figs / "semantic" / "fig3-claims.json").write_text(json.dumps([{"what": "x"}]))
    (figs / "federated").mkdir()
    (figs / "federated" / "fig4-claims.json").write_text("{broken")
    (figs / "notes").mkdir()  # a folder without claims is not a scenario
    f = check_claims(figs / "compression" / "fig1_claims.json", reasons=REASONS)
    assert f.seeds == [0, 1] and len(f.claims) == 3
    with pytest.raises(ValueError, match="unique"):
        cl.write(tmp_path / "x.json", _claims()[:1] * 2, scenario="s", figure=1, command="c",
                 seeds=[0])
    sums = {s.scenario: s for s in cl.summarize(figs, ["compression", "semantic", "federated",
                                                      "network-twin"], ["compression"])}
    assert sums["compression"].counts == {cl.HOLDS: 1, cl.EXPLAINED: 1, cl.DIFFERS: 1}
    assert sums["semantic"].state == "not converted"
    assert sums["network-twin"].state == "not converted"
    assert sums["federated"].broken
    assert "notes" not in sums
    text = cl.summary_text(list(sums.values()))
    assert "NOT EXPLAINED" in text and "-> README.md#twinbed" in text
    # the CLI reads the same files; scenarios that are not converted do not break it
    assert main(["claims", "--figures", str(figs)]) == 0
    out = capsys.readouterr().out
    assert "compression" in out and "not converted" in out and "unreadable" in out
    assert main(["claims", "--figures", str(figs), "--json"]) == 0
    doc = {d["scenario"]: d for d in json.loads(capsys.readouterr().out)}
    assert doc["compression"]["counts"]["differs-explained"] == 1


def test_check_reasons_catches_typos_and_dead_links() -> None:
    with pytest.raises(AssertionError, match="unknown claim id"):
        check_reasons({"fig1/typo": REASONS["fig1/b"]}, ["fig1/b"])
    with pytest.raises(AssertionError, match="no heading"):
        check_reasons({"fig1/b": cl.Reason("x", "README.md#no-such-heading")}, ["fig1/b"])
    check_reasons(REASONS, ["fig1/b"])


# -- CSV and PNG checks ---------------------------------------------------------------------------
def _ests(v: np.ndarray, half: float) -> list[Estimate]:
    return [Estimate(float(x), float(x) - half, float(x) + half, 5, "t") for x in v]


def test_csv_check(tmp_path: Path) -> None:
    good = [{"x": 1, **Estimate(2, 1, 3, 5, "t").columns("T"), "seeds": [0, 1, 2]}]
    check_csv(write_csv(tmp_path / "g.csv", good), ["T"], min_seeds=3)
    with pytest.raises(AssertionError, match="T_lo"):
        check_csv(write_csv(tmp_path / "b.csv", [{"T": 1, "seeds": [0, 1]}]), ["T"])
    with pytest.raises(AssertionError, match="seeds"):
        check_csv(write_csv(tmp_path / "s.csv", [{**good[0], "seeds": [0]}]), ["T"])
    bad = [{**Estimate(2, 2.5, 3, 5, "t").columns("T"), "seeds": [0, 1]}]
    with pytest.raises(AssertionError, match="outside"):
        check_csv(write_csv(tmp_path / "o.csv", bad), ["T"])


def _figure(tmp_path: Path, name: str, half: float, paper_y: float) -> Path:
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2)
    x = np.arange(5.0)
    band(a1, x, _ests(x, half), "ours")
    band(a1, x, _ests(2 * x, half), "other")
    errorbars(a2, x, _ests(x, half), "ours")
    paper_points(a1, [1, 3], [paper_y, paper_y], "stated")
    paper_hline(a2, 2.0, "up to 2")
    a1.set_ylim(-1, 10)
    a1.legend()
    a2.legend()
    return save_png(fig, tmp_path / f"{name}.png")


def test_png_check_counts_bands_errorbars_and_visible_paper_points(tmp_path: Path) -> None:
    inv = check_png(_figure(tmp_path, "ok", 0.5, 4.0), bands=2, errorbars=1, paper_points=3)
    assert inv["bands"] == 2 and inv["errorbars"] == 1 and inv["paper"] == 2
    assert "paper: stated" in inv["legend"]
    flat = _figure(tmp_path, "flat", 0.0, 4.0)  # zero-width intervals draw no band
    with pytest.raises(AssertionError, match="confidence bands"):
        check_png(flat, bands=1)
    with pytest.raises(AssertionError, match="error-bar"):
        check_png(flat, errorbars=1)
    off = _figure(tmp_path, "off", 0.5, 50.0)  # the paper's stars outside the y-limits
    with pytest.raises(AssertionError, match="visible"):
        check_png(off, paper_points=3)
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "plain.png")
    with pytest.raises(AssertionError, match="inventory"):
        check_png(tmp_path / "plain.png")
