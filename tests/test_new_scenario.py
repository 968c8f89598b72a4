"""`twinbed new-scenario NAME`: the generated folder is a working scenario.

A scenario generated into a temporary directory on TWINBED_SCENARIO_PATH is discovered (and
only while the directory is on the path), passes the contract checks in-process (spec typed,
its algorithm selectable, the world deterministic per seed, parameters refusing unknown names,
a short run, a figure with computed claims), passes the contract test suite and its own tests
as generated (pytest in a subprocess: the suite is parametrized at collection), is lint-clean
under the repository's ruff rules, and runs live on a local stack round for round as
in-process (integration). Bad names and places are one-line CLI errors with exit code 2 that
write nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from twinbed.cli import main
from twinbed.contract import (
    Action,
    DecisionState,
    PartyReport,
    RoundMetrics,
    RoundOutcome,
    Scenario,
    UnknownAlgorithmError,
)
from twinbed.contract.cliparams import ParamError, validate_params
from twinbed.figcheck import check_claims, check_csv, check_png
from twinbed.scenarios import HERE, SEARCH_PATH_ENV, get_scenario, scenario_names, search_path

REPO = Path(__file__).resolve().parents[1]
NAME, MODULE = "sixth-paper", "sixth_paper"
TITLE = "A sixth paper, in one folder"


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The directory on TWINBED_SCENARIO_PATH the scenario is generated into (by the CLI)."""
    root = tmp_path_factory.mktemp("scenarios")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SEARCH_PATH_ENV, str(root))
        assert main(["new-scenario", NAME, "--into", str(root), "--title", TITLE]) == 0
        yield root


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse
        return int(exc.code or 0)


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twinbed: error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- what is generated and where it is found -------------------------------------------------
def test_the_folder_holds_every_part_and_names_them_by_the_scheme(where: Path) -> None:
    folder = where / MODULE
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["README.md", "__init__.py", "commands.py", "contract.py", "env.py", "figures.py",
         "messages.py", "params.py", "policies.py", "roles.py", "spec.py", "tests", "world.py"])
    assert (folder / "tests" / f"test_{MODULE}.py").is_file()
    assert not list(folder.rglob("*.tmpl")) and "$" not in (folder / "spec.py").read_text()
    assert TITLE in (folder / "README.md").read_text()
    # no half-written staging folder is left beside it
    assert [p.name for p in where.iterdir()] == [MODULE]


def test_discovery_finds_it_only_while_its_directory_is_on_the_search_path(
        where: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert search_path()[1:] == [where]
    assert NAME in scenario_names()
    monkeypatch.delenv(SEARCH_PATH_ENV)
    assert NAME not in scenario_names()
    assert {"compression", "network-twin"} <= set(scenario_names())


def test_a_directory_listed_twice_is_searched_once_and_two_folders_of_one_name_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["new-scenario", "twin-paper", "--into", str(a)]) == 0
    monkeypatch.setenv(SEARCH_PATH_ENV, os.pathsep.join([str(a), str(a), str(HERE)]))
    assert "twin-paper" in scenario_names()
    shutil.copytree(a / "twin_paper", b / "twin_paper")
    monkeypatch.setenv(SEARCH_PATH_ENV, os.pathsep.join([str(a), str(b)]))
    with pytest.raises(RuntimeError, match="two scenario folders are named 'twin_paper'"):
        scenario_names()


# -- the contract, in-process -------------------------------------------------------------------
def test_the_spec_is_complete_and_typed(where: Path) -> None:
    spec = get_scenario(NAME)
    assert isinstance(spec, Scenario) and spec.name == NAME
    for model, base in ((spec.state, DecisionState), (spec.action, Action),
                        (spec.report, PartyReport), (spec.metrics, RoundMetrics),
                        (spec.outcome, RoundOutcome)):
        assert issubclass(model, base) and model.model_config.get("extra") == "forbid"
    assert issubclass(spec.params, BaseModel)
    assert spec.algorithms == ("equal",)
    assert spec.shipped_dir == where / MODULE / "artifacts"
    p = spec.params()
    assert spec.parties(p) == ["sensor-0", "sensor-1", "sensor-2", "sensor-3"]
    rec = spec.summarize_json(p, 0, {}, spec.parties(p))
    assert rec["missing"] == spec.parties(p) and "round_s" not in rec


def test_params_refuse_unknown_names_and_bad_values(where: Path) -> None:
    spec = get_scenario(NAME)
    with pytest.raises(ParamError, match=r"unknown parameter 'no_such_param'; known: K, "):
        validate_params(spec.params, {"no_such_param": 1})
    with pytest.raises(ParamError, match=r"^parameter K: "):
        validate_params(spec.params, {"K": 0})


def test_its_algorithm_is_selectable_and_an_unknown_one_refused(where: Path,
                                                                 tmp_path: Path) -> None:
    spec = get_scenario(NAME)
    assert spec.preflight(spec.params(), "equal", 0, tmp_path) == {}
    with pytest.raises(UnknownAlgorithmError, match="known: equal"):
        spec.simulate(spec.params(), "no-such-algorithm", 0, 1, tmp_path)


def test_a_short_run_is_deterministic_per_seed_and_back_to_back(where: Path,
                                                               tmp_path: Path) -> None:
    spec = get_scenario(NAME)
    p = spec.params(K=3)
    a = spec.simulate(p, "equal", 7, 3, tmp_path)
    assert a == spec.simulate(p, "equal", 7, 3, tmp_path)
    assert a != spec.simulate(p, "equal", 8, 3, tmp_path)
    assert [r["round"] for r in a] == [0, 1, 2]
    assert all(r["share"] == [1 / 3] * 3 and r["round_s"] == max(r["delay_s"]) for r in a)
    assert a[1]["modeled_start_s"] == pytest.approx(a[0]["round_s"])
    assert a[2]["modeled_start_s"] == pytest.approx(a[0]["round_s"] + a[1]["round_s"])


def test_simulate_from_the_cli(where: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", NAME, "--rounds", "2", "--seed", "3", "--param", "K=2",
                 "--json"]) == 0
    spec = get_scenario(NAME)
    assert json.loads(capsys.readouterr().out) == spec.simulate(spec.params(K=2), "equal", 3, 2)


def test_its_figure_renders_with_computed_claims(where: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fig"
    assert main(["--data-dir", str(tmp_path), "reproduce", NAME, "--figure", "1", "--out",
                 str(out), "--seeds", "2"]) == 0
    assert f"{NAME} Fig. 1" in capsys.readouterr().out
    rows = check_csv(out / "fig1.csv", ["round_s"], min_seeds=2)
    # more sensors share the band: every round lasts longer
    means = [float(r["round_s"]) for r in rows]
    assert means == sorted(means) and len(means) == 4
    check_png(out / "fig1.png", bands=1)
    claims = check_claims(out / "fig1-claims.json")
    assert claims.command.startswith(f"twinbed reproduce {NAME} --figure 1")


# -- the contract suite and its own tests, as generated ----------------------------------------
def test_the_contract_suite_and_its_own_tests_pass_as_generated(where: Path) -> None:
    env = {**os.environ, SEARCH_PATH_ENV: str(where)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         "tests/contract/test_scenarios.py", str(where / MODULE / "tests"), "-k", "sixth"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    m = re.search(r"(\d+) passed", out.stdout)
    # 6 contract tests parametrized on the scenario + the folder's own 7
    assert m is not None and int(m.group(1)) == 13, out.stdout[-2000:]


def test_the_generated_code_passes_the_repository_lint(where: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run([str(ruff), "check", "--config", str(REPO / "pyproject.toml"),
                          "--no-cache", str(where / MODULE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# -- refusals: one line, exit 2, nothing written ----------------------------------------------
@pytest.mark.parametrize("name, needle", [
    ("My-Paper", "is not kebab-case"),
    ("my_paper", "did you mean 'my-paper'"),
    ("1paper", "is not kebab-case"),
    ("my--paper", "is not kebab-case"),
    ("class", "not a usable Python identifier"),
    ("a-very-long-paper-name", "at most 16"),
    ("compression", "scenario 'compression' exists already"),
    ("network-twin", "scenario 'network-twin' exists already"),
])
def test_a_bad_or_taken_name_is_refused(name: str, needle: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["new-scenario", name, "--into", str(tmp_path)]) == 2
    assert needle in _one_line_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "other_paper").mkdir()
    (tmp_path / "other_paper" / "notes.txt").write_text("mine")
    assert _run(["new-scenario", "other-paper", "--into", str(tmp_path)]) == 2
    assert "exists already" in _one_line_error(capsys.readouterr().err)
    assert [p.name for p in (tmp_path / "other_paper").iterdir()] == ["notes.txt"]


def test_into_a_file_and_a_bad_title_are_refused(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("")
    assert _run(["new-scenario", "some-paper", "--into", str(f)]) == 2
    assert "not a directory" in _one_line_error(capsys.readouterr().err)
    assert _run(["new-scenario", "some-paper", "--into", str(tmp_path / "d"),
                 "--title", 'say "hi"']) == 2
    assert "--title" in _one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "d").exists()


# -- live: the roles run on a real stack, round for round as in-process -------------------------
@pytest.mark.integration
def test_it_runs_live_round_for_round_as_in_process(where: Path) -> None:
    import httpx

    from twinbed.stack import local_stack

    spec = get_scenario(NAME)
    with local_stack() as stack:  # its services inherit TWINBED_SCENARIO_PATH
        view = stack.run(NAME, "equal", 4, seed=7, params={"K": 3})
        config = view["config"]
        assert isinstance(config, dict)
        twin = httpx.get(f"{stack.info.url('cloud')}/twins/{config['id']}.sensor-2",
                         timeout=30).json()
    # the cloud's twin of sensor 2 holds its last value, equal to the oracle's truth
    assert twin["kind"] == f"{NAME}.sensor" and twin["round"] == 3, twin
    assert twin["fidelity"]["exact"] is True, twin
    status = view["status"]
    assert isinstance(status, dict) and status["status"] == "completed", view
    rounds = view["rounds"]
    assert isinstance(rounds, list)
    sim = spec.simulate(spec.params(K=3), "equal", 7, 4)
    assert [r["round"] for r in rounds] == [0, 1, 2, 3]
    for got, want in zip(rounds, sim, strict=True):
        assert got["missing"] == []
        assert got["delay_s"] == want["delay_s"] and got["round_s"] == want["round_s"]
