"""The ``twinbed`` command: in-process through ``twinbed.cli.main``, plus one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import twinbed.cli
from twinbed.cli import main
from twinbed.scenarios.compression import CompressionParams
from twinbed.scenarios.compression.spec import SCENARIO


def _run(argv: list[str]) -> int:
    """main(argv) as the shell sees it: argparse's SystemExit becomes the exit code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("twinbed: error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- simulate -------------------------------------------------------------------------------
def test_simulate_json_equals_simulate(capsys: pytest.CaptureFixture[str]) -> None:
    """`simulate compression --rounds 3 --json` prints exactly SCENARIO.simulate()'s records."""
    assert main(["simulate", "compression", "--rounds", "3", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert json.loads(out) == SCENARIO.simulate(CompressionParams(), "fixed-bf", 0, 3)


def test_simulate_json_passes_params_and_seed(capsys: pytest.CaptureFixture[str]) -> None:
    """--param and --seed reach the simulation (K=3, beta_max=2.5, seed 4)."""
    argv = ["simulate", "compression", "--rounds", "2", "--seed", "4", "--json",
            "--param", "K=3", "--param", "beta_max=2.5"]
    assert main(argv) == 0
    recs = json.loads(capsys.readouterr().out)
    assert recs == SCENARIO.simulate(CompressionParams(K=3, beta_max=2.5), "fixed-bf", 4, 2)
    assert len(recs[0]["beta"]) == 3


def test_simulate_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json, one line per round with its T_max."""
    assert main(["simulate", "compression", "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    recs = SCENARIO.simulate(CompressionParams(), "fixed-bf", 0, 2)
    assert len(lines) == 2
    for line, rec in zip(lines, recs):
        assert f"{rec['T_max_s']:.6f}s" in line


@pytest.mark.parametrize("param, needle", [
    ("K=-1", "K"),
    ("K=abc", "K"),
    ("nosuch=1", "nosuch"),
    ("D_bits=4001", "multiple of 16"),
])
def test_simulate_bad_param_exit_2(param: str, needle: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid --param value is exit 2 and one error line naming the problem, no traceback."""
    assert main(["simulate", "compression", "--param", param]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert needle in _one_error_line(err)


def test_simulate_param_without_equals_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`--param nonsense` (no '=') is exit 2 with a NAME=VALUE hint."""
    assert main(["simulate", "compression", "--param", "nonsense"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "NAME=VALUE" in line and "nonsense" in line


def test_simulate_unknown_algorithm_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --algorithm is exit 2 naming it and the known ones."""
    assert main(["simulate", "compression", "--algorithm", "nosuch"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'nosuch'" in line and "fixed-bf" in line


def test_simulate_unknown_scenario_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown scenario is exit 2 naming it."""
    assert main(["simulate", "nosuch"]) == 2
    assert "'nosuch'" in _one_error_line(capsys.readouterr().err)


def test_simulate_negative_seed_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A negative --seed is bad input: exit 2 and one error line, no traceback."""
    assert _run(["simulate", "compression", "--seed", "-1", "--rounds", "1"]) == 2
    assert "seed" in capsys.readouterr().err


def test_simulate_nonpositive_rounds_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """--rounds < 1 is bad input: exit 2."""
    assert _run(["simulate", "compression", "--rounds", "0"]) == 2
    assert "rounds" in capsys.readouterr().err


# -- bench ----------------------------------------------------------------------------------
def test_bench_unknown_exit_2_names_known(capsys: pytest.CaptureFixture[str]) -> None:
    """`bench nosuch` is exit 2, naming every benchmark in bench/ (or 'none')."""
    assert main(["bench", "nosuch"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'nosuch'" in line
    root = Path(twinbed.cli.__file__).resolve().parents[2] / "bench"
    known = sorted(p.stem.removeprefix("bench_") for p in root.glob("bench_*.py"))
    assert line.endswith("known: " + (", ".join(known) or "none"))


def test_bench_training_times_each_learned_method_beside_its_env(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`bench training --only network-twin`: one row per learned method (SAC, DQN), each a
    real (short) SB3 training timed beside its bare env; an unknown scenario is named."""
    assert main(["bench", "training", "--only", "network-twin", "--steps", "64",
                 "--env-steps", "50"]) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()
            if ln.startswith("network-twin")]
    assert [r[1] for r in rows] == ["sac", "dqn"]
    for r in rows:
        train, env, share = float(r[3]), float(r[4]), float(r[5])
        assert train > 0 and env > 0 and share == pytest.approx(train / env, abs=2e-3)
    with pytest.raises(SystemExit, match="unknown scenario.*nosuch"):
        main(["bench", "training", "--only", "nosuch"])


# -- stack ----------------------------------------------------------------------------------
def test_status_empty_data_dir_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--data-dir EMPTY status` exits 1 saying no stack is recorded, and creates nothing."""
    assert main(["--data-dir", str(tmp_path), "status"]) == 1
    out = capsys.readouterr().out
    assert "no local stack recorded" in out and str(tmp_path) in out
    assert list(tmp_path.iterdir()) == []


def test_status_json_empty_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`status --json` on an empty data dir prints an empty object and exits 1."""
    assert main(["--data-dir", str(tmp_path), "status", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {}


def test_status_data_dir_after_subcommand(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`status --data-dir EMPTY` behaves like `--data-dir EMPTY status` (exit 1, no stack)."""
    assert _run(["status", "--data-dir", str(tmp_path)]) == 1
    assert "no local stack recorded" in capsys.readouterr().out


def test_down_empty_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--data-dir EMPTY down` says nothing was running and exits 0."""
    assert main(["--data-dir", str(tmp_path), "down"]) == 0
    assert capsys.readouterr().out.strip() == "nothing was running"
    assert list(tmp_path.iterdir()) == []


def test_run_without_stack_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`run` with no recorded stack and no --url fails with one line, exit 1."""
    assert main(["--data-dir", str(tmp_path), "run", "compression"]) == 1
    assert "no local stack is running" in _one_error_line(capsys.readouterr().err)


# -- a real process -------------------------------------------------------------------------
def test_serve_bogus_role_argparse_error() -> None:
    """`python -m twinbed serve bogus` exits 2 with argparse's invalid-choice error, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "twinbed", "serve", "bogus"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "invalid choice: 'bogus'" in proc.stderr
    assert "controller" in proc.stderr  # the valid roles are listed
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


# -- scenario commands ------------------------------------------------------------------------
def test_scenario_command_verbs_exist(capsys: pytest.CaptureFixture[str]) -> None:
    """`twinbed reproduce` without a target is a usage error, not a traceback."""
    for verb in ("reproduce", "train", "solve", "calibrate"):
        assert _run([verb]) == 2
        assert "Traceback" not in capsys.readouterr().err


def test_commands_are_discovered_from_scenario_folders() -> None:
    from twinbed.commands import VERBS, all_commands

    cmds = all_commands()
    assert all(c.verb in VERBS for c in cmds)
    assert len({(c.verb, c.target) for c in cmds}) == len(cmds)


def test_simulate_unknown_scenario_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["simulate", "nope"]) == 2
    assert "unknown scenario 'nope'" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(("scenario", "algorithm", "params"), [
    ("semantic", "per-slot-optimum", {"K": 3}),
    ("network-twin", "periodic-k", {"predictor": "hold"}),
    ("federated", "federated-myopic", {}),
    ("fl-migration", "nearest", {}),
])
def test_headline_metrics_are_in_every_round_record(scenario, algorithm, params) -> None:
    """What `twinbed run/simulate` print per round exists in the records, as scalars."""
    from twinbed.scenarios import get_scenario

    spec = get_scenario(scenario)
    assert spec.headline
    recs = spec.simulate(spec.params(**params), algorithm, 0, 2)
    for rec in recs:
        for name in spec.headline:
            assert isinstance(rec[name], (int, float, bool)), (name, rec.get(name))
