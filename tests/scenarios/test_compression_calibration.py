"""`twinbed calibrate compression`: the real codecs measured, eqs. (1)-(2) fitted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from twinbed.cli import main
from twinbed.scenarios.compression.calibration import Measured, fit_complexity, frontier, measure


def test_fit_recovers_a_known_model() -> None:
    """Points exactly on eq. (2) give back epsilon and f_S (and zero error); dominated
    settings and ratios <= 1 are ignored."""
    eps, fs, D = 3.5, 2e5, 4000
    pts = [Measured(f"s{i}", b, D * (math.exp(eps * b) - math.exp(eps)) / fs)
           for i, b in enumerate((1.1, 1.3, 1.6, 2.0, 2.4))]
    pts += [Measured("slow", 1.2, 10.0), Measured("raw", 1.0, 1e-9), Measured("worse", 0.9, 1e-9)]
    fit = fit_complexity(pts, D)
    assert fit.epsilon == pytest.approx(eps, rel=1e-6)
    assert fit.f_s_hz == pytest.approx(fs, rel=1e-5)
    assert fit.rms_log_error < 1e-6
    assert [p.name for p in fit.points] == ["s0", "s1", "s2", "s3", "s4"]


def test_frontier_drops_dominated_settings() -> None:
    pts = [Measured("a", 1.2, 1.0), Measured("b", 1.3, 0.5), Measured("c", 1.5, 2.0),
           Measured("d", 0.95, 0.1)]
    assert [p.name for p in frontier(pts)] == ["b", "c"]


def test_fit_needs_two_frontier_points() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        fit_complexity([Measured("a", 1.2, 1.0)], 4000)


def test_measure_real_codecs_on_the_physical_process() -> None:
    """Every ladder setting is measured; the delta filter makes the best ratios > 1.5."""
    pts = measure(seed=0, sensors=1, blocks=1, repeats=1, progress=False)
    assert len(pts) >= 20
    assert all(p.encode_s > 0 for p in pts)
    assert max(p.ratio for p in pts) > 1.5


def test_calibrate_command_writes_the_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "compression", "--param", "K=1", "--blocks", "2", "--repeats", "1",
                 "--json", "--data-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epsilon"] > 0 and out["f_s_hz"] > 0 and out["rms_log_error"] >= 0
    assert sum(s["frontier"] for s in out["settings"]) >= 2
    saved = json.loads((tmp_path / "calibration" / "compression.json").read_text())
    assert saved["epsilon"] == out["epsilon"]


@pytest.mark.parametrize(("argv", "needle"), [
    (["--blocks", "0"], "--blocks"),
    (["--param", "D_bits=100"], "D_bits"),
    (["--param", "sensors=1"], "unknown parameter 'sensors'"),
])
def test_calibrate_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 argv: list[str], needle: str) -> None:
    assert main(["calibrate", "compression", *argv, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
