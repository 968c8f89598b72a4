"""Every artifact the package ships (``twinbed/scenarios/*/artifacts/``): its record is complete,
its checksum matches, it loads through the ArtifactSpec its scenario declares, and
re-evaluating it on the record's held-out seeds gives the recorded score (within the record's
tolerance: 1e-4 relative for agents, whose actions pass through float32 networks; 1e-6 or less
for the codec and the GRU). And every algorithm of the scenarios listed in ``OUT_OF_THE_BOX``
runs with default parameters from an empty data directory, on shipped artifacts only."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from twinbed.artifact_store import (
    ShippedRecord,
    checksum_problem,
    evaluator,
    file_digest,
    read_record,
    shipped_artifacts,
)
from twinbed.artifacts import ArtifactSpec, CorruptArtifactError
from twinbed.scenarios import get_scenario, scenario_names

# scenarios whose every algorithm must run out of the box (the others still train first)
OUT_OF_THE_BOX = ("compression", "network-twin", "semantic", "fl-migration", "federated")
# exhaustive search refuses the default federated instance (its own preflight, no artifact)
SMALL = {("federated", "exhaustive"): {"M": 4, "N": 2, "K": 2}}

SHIPPED = list(shipped_artifacts())


def _declared(scenario: str) -> dict[str, ArtifactSpec[Any, Any]]:
    """Every ArtifactSpec the scenario declares for its default parameters, by name."""
    spec = get_scenario(scenario)
    p = spec.params()
    return {a.name: a for alg in spec.algorithms for a in spec.artifacts_for(p, alg)}


def test_the_shipped_set_is_lean_and_covers_the_out_of_the_box_scenarios() -> None:
    total = sum(path.stat().st_size for path, _ in SHIPPED)
    assert total < 12 * 2**20, f"shipped artifacts take {total / 2**20:.1f} MiB"
    names = [b.name for _, b in SHIPPED]
    assert len(names) == len(set(names)), "an artifact is shipped twice"
    for scenario in OUT_OF_THE_BOX:
        assert set(_declared(scenario)) <= {b.name for _, b in SHIPPED if b.scenario == scenario}


@pytest.mark.parametrize("path, block", SHIPPED, ids=[b.file for _, b in SHIPPED])
def test_shipped_artifact_loads_matches_its_checksum_and_reproduces_its_score(
        path: Path, block: ShippedRecord) -> None:
    assert block.scenario in scenario_names() and path.name == block.file
    assert (block.sha256, block.size_bytes) == file_digest(path)
    assert checksum_problem(path) is None
    assert block.command.startswith("twinbed train ") and "--data-dir" not in block.command
    assert block.versions.get("python") and len(block.git_commit) == 40
    assert block.budget and block.evaluation.seeds
    spec = _declared(block.scenario)[block.name]
    params = get_scenario(block.scenario).params()
    assert spec.file_name(params, 0) == block.file and spec.folder == block.folder
    assert spec.load_path(path, params, 0) is not None  # the loader the runs use
    ev = block.evaluation
    score = evaluator(ev.evaluator)(path, ev.seeds)
    assert abs(score - ev.score) <= ev.tolerance, (score, ev.score, ev.tolerance)


@pytest.mark.parametrize("scenario", OUT_OF_THE_BOX)
def test_every_algorithm_resolves_to_shipped_artifacts_from_an_empty_data_dir(
        scenario: str, tmp_path: Path) -> None:
    spec = get_scenario(scenario)
    for alg in spec.algorithms:
        p = spec.params(**SMALL.get((scenario, alg), {}))
        used = spec.preflight(p, alg, 0, tmp_path)
        assert all(r.origin == "shipped" and r.version for r in used.values()), (alg, used)


def test_user_artifact_wins_and_deleting_it_falls_back_to_shipped(tmp_path: Path) -> None:
    """A user-trained GRU in the data directory is the one a run uses (its own record, no
    version); deleting it falls back to the shipped one; a truncated copy is refused, naming it."""
    from twinbed.scenarios.network_twin.learned import GRU
    from twinbed.scenarios.network_twin.params import NetworkTwinParams

    spec, p = get_scenario("network-twin"), NetworkTwinParams()
    shipped = GRU.shipped_path(p, 0)
    assert shipped is not None
    user = GRU.user_path(tmp_path, p, 0)
    user.parent.mkdir(parents=True)
    shutil.copyfile(shipped, user)
    user.with_suffix(".json").write_text('{"seed": 5}')  # the user's own training record
    used = spec.preflight(p, "never", 0, tmp_path)["network-twin-gru"]
    assert (used.origin, used.path, used.version) == ("user", user, None)
    loaded = spec.offline(p, "never", data_dir=tmp_path).artifact(GRU)
    assert loaded.record == {"seed": 5}
    user.write_bytes(shipped.read_bytes()[:1000])  # truncated, no checksum in its record
    with pytest.raises(CorruptArtifactError, match=str(user)):
        spec.preflight(p, "never", 0, tmp_path)
    user.unlink()
    used = spec.preflight(p, "never", 0, tmp_path)["network-twin-gru"]
    assert (used.origin, used.path, used.version) == ("shipped", shipped, 1)
    assert read_record(shipped)["artifact"]["version"] == used.version
