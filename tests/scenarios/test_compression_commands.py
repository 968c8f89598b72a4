"""`twinbed solve compression` and `twinbed reproduce compression` (commands.py, instance.py,
figures.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from twinbed.cli import main
from twinbed.scenarios.compression import model
from twinbed.scenarios.compression.algorithms import ALGORITHMS
from twinbed.scenarios.compression.instance import load_instance, solve_instance
from twinbed.scenarios.compression.params import CompressionParams

KEYS = ("beta", "b_hz", "f_hz", "T_total_s", "T_max_s", "iterations", "solve_s")


def _instance(K: int = 4, seed: int = 0) -> dict:
    p = CompressionParams(K=K)
    H = model.draw_channel_gain(p, np.random.default_rng(seed))
    return {"D_bits": [4000.0] * K, "p_w": [p.p_w] * K, "f_s_hz": [2e5] * K,
            "c_cycles_per_bit": [1e4] * K, "H_gain": H.tolist(), "B_hz": 1e5, "C_dt_hz": 5e7,
            "beta_max": 3.0, "epsilon": 3.5, "N0_w_per_hz": p.N0_w_per_hz}


def _write(tmp_path: Path, obj: object, name: str = "inst.json") -> Path:
    f = tmp_path / name
    f.write_text(json.dumps(obj))
    return f


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("twinbed: error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_solve_json_equals_the_algorithm(tmp_path: Path, algorithm: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the issue's keys; the numbers are the scheme's own on the same instance
    (the paper's defaults with a Rician draw: same T_max as the in-process algorithm)."""
    f = _write(tmp_path, _instance())
    assert main(["solve", "compression", "--instance", str(f), "--algorithm", algorithm,
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(KEYS) <= set(out)
    p = CompressionParams()
    H = np.asarray(_instance()["H_gain"])
    a = ALGORITHMS[algorithm](p, H)
    assert out["b_hz"] == pytest.approx(a.b_hz.tolist(), rel=1e-9)
    assert out["T_max_s"] == max(out["T_total_s"])
    assert len(out["beta"]) == 4 and out["iterations"] == a.iterations


def test_solve_text_output_and_default_algorithm(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = _write(tmp_path, _instance(K=3))
    assert main(["solve", "compression", "--instance", str(f)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stackelberg: T_max = ")
    assert len(out.strip().splitlines()) == 2 + 3


def test_solve_non_uniform_instance_equalizes(tmp_path: Path) -> None:
    """Per-sensor lists really reach the solver: heterogeneous sensors all finish together."""
    inst = _instance(K=5, seed=3)
    inst["D_bits"] = [1000.0, 3000.0, 5000.0, 7000.0, 9000.0]
    inst["f_s_hz"] = [1e5, 2e5, 3e5, 4e5, 5e5]
    out = solve_instance(load_instance(_write(tmp_path, inst)), "centralized")
    T = np.asarray(out["T_total_s"])
    assert np.ptp(T) <= 1e-9 * T.max()
    assert sum(out["b_hz"]) == pytest.approx(1e5, rel=1e-9)


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda d: d.pop("H_gain"), "missing key 'H_gain'"),
    (lambda d: d.update(B_hz=-1), "key 'B_hz'"),
    (lambda d: d.update(N0_w_per_hz="x"), "key 'N0_w_per_hz'"),
    (lambda d: d.update(p_w=[0.01, 0.02]), "p_w: expected 4 entries"),
    (lambda d: d.update(f_s_hz=[1.0, 0.0, 1.0, 1.0]), "f_s_hz: expected positive"),
    (lambda d: d.update(bogus=1), "unknown key 'bogus'"),
    (lambda d: d.update(beta_max=0.5), "key 'beta_max'"),
])
def test_solve_bad_instance_is_one_line_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate, needle: str) -> None:
    inst = _instance()
    mutate(inst)
    f = _write(tmp_path, inst)
    assert main(["solve", "compression", "--instance", str(f)]) == 2
    assert needle in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(("content", "needle"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "expected a JSON object"),
])
def test_solve_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               content: str, needle: str) -> None:
    f = tmp_path / "x.json"
    f.write_text(content)
    assert main(["solve", "compression", "--instance", str(f)]) == 2
    assert needle in _one_error_line(capsys.readouterr().err)


def test_solve_missing_file_and_unknown_algorithm(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", "compression", "--instance", str(tmp_path / "none.json")]) == 2
    assert "cannot read" in _one_error_line(capsys.readouterr().err)
    f = _write(tmp_path, _instance())
    assert main(["solve", "compression", "--instance", str(f), "--algorithm", "nope"]) == 2
    assert "'nope'" in _one_error_line(capsys.readouterr().err)


# -- reproduce ----------------------------------------------------------------------------------
def test_reproduce_fig6_writes_artifacts_and_computed_claims(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Five channel draws (the quick budget): CSV with intervals and seeds, error bars drawn,
    every verdict computed with its rule and interval."""
    from twinbed.figcheck import check_claims, check_csv, check_png
    from twinbed.scenarios.compression.figures import REASONS

    assert main(["reproduce", "compression", "--figure", "6", "--draws", "5", "--out",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fig6 all sensors finish together" in out and "95 % CI upper end <= 0.1 %" in out
    rows = check_csv(tmp_path / "fig6.csv", ["beta", "T_max_s"], min_seeds=5)
    assert len(rows) == 16  # 4 scenarios x 4 sensors
    check_png(tmp_path / "fig6.png", errorbars=5)  # T_max bars + beta_k of 4 scenarios
    f = check_claims(tmp_path / "fig6-claims.json", reasons=REASONS, min_claims=4)
    assert f.seeds == [0, 1, 2, 3, 4]
    by_id = {c.id: c for c in f.claims}
    together = by_id["fig6/together"]
    assert together.verdict == "holds" and together.hi is not None and together.hi <= 0.1
    # f_S non-uniform: sensors 3, 4 (faster compressors) compress more than 1, 2 (Fig. 6)
    rises = by_id["fig6/fs-beta-rises"]
    assert rises.verdict == "holds" and rises.lo is not None and rises.lo > 0
    by = {(r["scenario"], r["sensor"]): r for r in rows}
    betas = [float(by[("f_s", str(k))]["beta"]) for k in range(1, 5)]
    assert min(betas[2:]) > max(betas[:2])


def test_reproduce_fig4_draws_bands_paper_points_and_judges_by_rule(tmp_path: Path) -> None:
    """Quick Fig. 4: bands for every scheme and reduction, the paper's two numbers visible,
    and each reduction verdict is exactly "our 95 % CI within paper +- 2 points"."""
    from twinbed.figcheck import check_claims, check_csv, check_png
    from twinbed.scenarios.compression.figures import REASONS, TOL_PCT_POINTS, reproduce

    result = reproduce(4, 5, 0, tmp_path, progress=False)
    check_csv(result.files.csv, ["T_max_s", "beta_mean"], min_seeds=5)
    # T of 6 schemes, beta of 5 (baseline 4's beta is 1 on every draw: a band of zero height
    # is not counted), 3 reductions
    check_png(result.files.png, bands=6 + 5 + 3, paper_points=2)
    f = check_claims(result.files.claims, reasons=REASONS, min_claims=5)
    assert f.command == "twinbed reproduce compression --figure 4 --draws 5 --seed 0"
    for c in f.claims:
        if c.id.startswith("fig4/red-"):
            assert c.rule == f"95 % CI within {c.paper_value:g} +- {TOL_PCT_POINTS:g} %"
            assert c.lo is not None and c.hi is not None and c.paper_value is not None
            inside = (c.paper_value - TOL_PCT_POINTS <= c.lo
                      and c.hi <= c.paper_value + TOL_PCT_POINTS)
            assert (c.verdict == "holds") == inside, c
            assert (c.status == "differs-explained") == (not inside and c.id in REASONS)
    assert {c.id: c.verdict for c in f.claims}["fig4/T-falls"] == "holds"
    assert "rule" in result.table() and "fig4/red-b4-1.6mW" in REASONS


def test_reproduce_fig5_orders_the_schemes(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """One draw of Fig. 5: every scheme at every point; proposed <= every baseline,
    equal to centralized; the fixed-b/fixed-f baselines are near-optimal at opposite ends."""
    assert main(["reproduce", "compression", "--figure", "5", "--draws", "1", "--out",
                 str(tmp_path)]) == 0
    assert "fig5 reduction vs baseline 1 (fixed f) at B = 100 kHz" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "fig5.csv").open()))
    xs = sorted({float(r["x"]) for r in rows})
    assert len(xs) == 10 and len(rows) == 60
    T = {(float(r["x"]), r["scheme"]): float(r["T_max_s"]) for r in rows}
    for x in xs:
        for sc in ("fixed-f", "fixed-b", "fixed-bf", "no-compression"):
            assert T[(x, "stackelberg")] <= T[(x, sc)] * (1 + 1e-12)
        assert T[(x, "stackelberg")] == pytest.approx(T[(x, "centralized")], rel=1e-8)
    lo, hi = xs[0], xs[-1]
    assert T[(lo, "fixed-f")] / T[(lo, "stackelberg")] < T[(lo, "fixed-b")] / T[(lo, "stackelberg")]
    assert T[(hi, "fixed-b")] / T[(hi, "stackelberg")] < T[(hi, "fixed-f")] / T[(hi, "stackelberg")]


def test_reproduce_bad_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "compression", "--figure", "3", "--draws", "0", "--out",
                 str(tmp_path)]) == 2
    assert "--draws" in _one_error_line(capsys.readouterr().err)


def test_reproduce_fig3_curves(tmp_path: Path) -> None:
    """Fig. 3 with one draw: every scheme at 21 values of beta_max; T of the compressing
    schemes never increases with beta_max, baseline 4 is flat, and the saturation claim is
    measured."""
    from twinbed.scenarios.compression.figures import reproduce

    result = reproduce(3, 1, 0, tmp_path, progress=False)
    claims = result.claims
    assert result.files.csv == tmp_path / "fig3.csv" and result.files.claims.exists()
    assert len(claims) == 5 and "saturates" in claims[3].what
    rows = list(csv.DictReader((tmp_path / "fig3.csv").open()))
    assert len(rows) == 21 * 6
    for sc in ("stackelberg", "fixed-f", "fixed-b", "fixed-bf", "centralized"):
        T = [float(r["T_max_s"]) for r in rows if r["scheme"] == sc]
        assert all(b <= a * (1 + 1e-9) for a, b in zip(T, T[1:])), sc
    T4 = {float(r["T_max_s"]) for r in rows if r["scheme"] == "no-compression"}
    assert max(T4) == pytest.approx(min(T4), rel=1e-12)
