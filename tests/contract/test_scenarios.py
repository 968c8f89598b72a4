"""The scenario contract, checked on every discovered scenario (a new folder is checked by
being there): the spec is complete and typed, parameters validate with one-line errors that
name the parameter, unknown algorithms are refused the one way, every learned policy declares
its artifacts, and the in-process world is deterministic per seed with rounds back to back in
modeled time. The live side of each scenario is in tests/integration/test_live_*.py."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

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
from twinbed.contract.naming import is_kebab
from twinbed.scenarios import get_scenario, scenario_names

NAMES = scenario_names()
AnyScenario = Scenario[Any, Any, Any, Any, Any, Any]


def _first_unlearned(spec: AnyScenario) -> str:
    """The first algorithm that needs no trained artifact (run artifacts are shipped)."""
    return next(n for n, pol in spec.policies.items() if not pol.learned)


def test_every_scenario_folder_is_discovered() -> None:
    assert set(NAMES) >= {"compression", "federated", "fl-migration", "network-twin", "semantic"}


@pytest.mark.parametrize("name", NAMES)
def test_the_spec_is_complete_and_typed(name: str) -> None:
    spec = get_scenario(name)
    assert isinstance(spec, Scenario)
    assert spec.name == name and is_kebab(name)
    for model, base in ((spec.state, DecisionState), (spec.action, Action),
                        (spec.report, PartyReport), (spec.metrics, RoundMetrics),
                        (spec.outcome, RoundOutcome)):
        assert issubclass(model, base), (model, base)
        assert model.model_config.get("extra") == "forbid", model
    assert issubclass(spec.params, BaseModel)
    p = spec.params()
    assert spec.parties(p), "a round needs at least one party"
    assert spec.first_role
    # the round's length is in both records; the headline metrics exist
    assert spec.duration_key in spec.outcome.model_fields
    assert spec.duration_key in spec.metrics.model_fields
    for h in spec.headline:
        assert h in spec.outcome.model_fields or h in spec.metrics.model_fields, h
    assert spec.algorithms and all(is_kebab(a) for a in spec.algorithms)
    assert spec.shipped_dir is not None and spec.shipped_dir.name == "artifacts"


@pytest.mark.parametrize("name", NAMES)
def test_every_learned_policy_declares_artifacts_with_their_train_command(name: str) -> None:
    spec = get_scenario(name)
    p = spec.params()
    for algorithm, pol in spec.policies.items():
        assert pol.name == algorithm and pol.summary, algorithm
        for art in spec.artifacts_for(p, algorithm):
            assert art.shipped_dir is not None, art.name
            assert art.train_command(p, 0).startswith("twinbed train "), art.name


@pytest.mark.parametrize("name", NAMES)
def test_params_refuse_unknown_names_and_bad_values_in_one_line(name: str) -> None:
    spec = get_scenario(name)
    with pytest.raises(ParamError, match=r"unknown parameter 'no_such_param'; known: "):
        validate_params(spec.params, {"no_such_param": 1})
    first = next(n for n, f in spec.params.model_fields.items() if f.annotation in (int, float))
    with pytest.raises(ParamError, match=rf"^parameter {first}: ") as err:
        validate_params(spec.params, {first: "not a value"})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_algorithm_is_refused_the_one_way(name: str, tmp_path) -> None:  # noqa: ANN001
    spec = get_scenario(name)
    with pytest.raises(UnknownAlgorithmError, match="known: " + spec.algorithms[0]):
        spec.preflight(spec.params(), "no-such-algorithm", 0, tmp_path)
    with pytest.raises(UnknownAlgorithmError):
        spec.simulate(spec.params(), "no-such-algorithm", 0, 1, tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_the_world_is_deterministic_per_seed_and_rounds_run_back_to_back(name: str,
                                                                         tmp_path) -> None:  # noqa: ANN001
    """Two in-process runs with one seed give the same records; each record is the typed
    outcome, numbered from 0, and round r + 1 starts when round r ends in modeled time."""
    spec = get_scenario(name)
    p = spec.params()
    algorithm = _first_unlearned(spec)
    spec.preflight(p, algorithm, 0, tmp_path)  # its run artifacts are shipped
    a = spec.simulate(p, algorithm, 7, 2, tmp_path)
    assert a == spec.simulate(p, algorithm, 7, 2, tmp_path)
    assert [r["round"] for r in a] == [0, 1]
    for r in a:
        assert spec.outcome.model_validate(r).model_dump() == r
    assert a[0]["modeled_start_s"] == 0.0
    assert a[1]["modeled_start_s"] == pytest.approx(a[0][spec.duration_key])


@pytest.mark.parametrize("name", NAMES)
def test_a_round_without_reports_is_a_valid_record_naming_the_missing(name: str) -> None:
    spec = get_scenario(name)
    p = spec.params()
    parties = spec.parties(p)
    rec = spec.summarize_json(p, 0, {}, parties)
    assert rec["missing"] == parties
    spec.metrics.model_validate(rec)


def test_importing_every_scenario_keeps_the_process_warning_filters() -> None:
    """No dependency may switch on every warning for the whole process (the `matching`
    package calls warnings.simplefilter("always") on import: the CLI then printed
    ResourceWarnings for `twinbed up --detach`'s children)."""
    import subprocess
    import sys

    code = ("import warnings, twinbed.scenarios as s; s.scenario_names(); "
            "import twinbed.scenarios.federated.games; "
            "print(any(f[0] == 'always' and f[2] is Warning and f[1] is None "
            "for f in warnings.filters))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", out.stderr
