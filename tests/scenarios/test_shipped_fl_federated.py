"""The agents fl-migration and federated ship: every one loads through its ArtifactSpec, matches
its record's checksum, and re-evaluated on its recorded held-out seeds gives its recorded score
(within the record's tolerance); the user's own file wins, and deleting it falls back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from twinbed.artifact_store import checksum_problem, evaluator, shipped_artifacts
from twinbed.artifacts import CorruptArtifactError
from twinbed.scenarios.federated.artifacts import DMO, DMO_SHARED
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.fl_migration.artifacts import AGENTS
from twinbed.scenarios.fl_migration.params import FlMigrationParams

# what ships for the defaults (seed 0): every learned algorithm of the two scenarios
EXPECTED = {
    "fl-migration": {f"fl-migration-{s}-U20-S9-seed0.zip" for s in AGENTS},
    "federated": {"federated-dmo.zip", "federated-dmo-shared.zip"},
}
SPECS = {**{AGENTS[s].file_name(FlMigrationParams(), 0): (AGENTS[s], FlMigrationParams())
            for s in AGENTS},
         "federated-dmo.zip": (DMO, FederatedParams()),
         "federated-dmo-shared.zip": (DMO_SHARED, FederatedParams())}
SHIPPED = {path.name: (path, block) for path, block in shipped_artifacts()
           if block.scenario in EXPECTED}


def test_every_learned_algorithm_ships_its_default_agent_and_the_set_is_lean() -> None:
    for scenario, files in EXPECTED.items():
        assert {n for n, (_, b) in SHIPPED.items() if b.scenario == scenario} == files
    total = sum(p.stat().st_size for p, _ in SHIPPED.values())
    assert total < 8 * 2**20  # play-only agents (no optimizer state): a few MiB in all


@pytest.mark.parametrize("name", sorted(SPECS))
def test_shipped_agent_loads_matches_its_checksum_and_reproduces_its_score(name: str,
                                                                           tmp_path: Path
                                                                           ) -> None:
    path, block = SHIPPED[name]
    spec, p = SPECS[name]
    assert checksum_problem(path) is None and block.sha256
    where = spec.check(tmp_path, p, 0)  # empty data directory: the shipped file
    assert where.origin == "shipped" and where.path == path and where.version == block.version
    spec.load_for(p, 0, tmp_path)
    ev = block.evaluation
    assert ev.seeds and ev.baselines and ev.bound
    again = evaluator(ev.evaluator)(path, list(ev.seeds))
    assert again == pytest.approx(ev.score, abs=ev.tolerance)


def test_user_trained_agent_wins_and_deleting_it_falls_back(tmp_path: Path) -> None:
    spec, p = SPECS["federated-dmo-shared.zip"]
    shipped, _ = SHIPPED["federated-dmo-shared.zip"]
    user = spec.user_path(tmp_path, p, 0)
    user.parent.mkdir(parents=True)
    shutil.copyfile(shipped, user)
    rec = json.loads(shipped.with_suffix(".json").read_text())
    rec.pop("artifact")  # a user's own record: how it was trained, its checksum
    user.with_suffix(".json").write_text(json.dumps(rec))
    assert spec.check(tmp_path, p, 0).origin == "user"
    user.unlink()
    assert spec.check(tmp_path, p, 0).origin == "shipped"


def test_a_truncated_user_agent_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    spec, p = SPECS["federated-dmo.zip"]
    shipped, _ = SHIPPED["federated-dmo.zip"]
    user = spec.user_path(tmp_path, p, 0)
    user.parent.mkdir(parents=True)
    user.write_bytes(shipped.read_bytes()[:1000])
    shutil.copyfile(shipped.with_suffix(".json"), user.with_suffix(".json"))
    with pytest.raises(CorruptArtifactError, match="federated-dmo.zip"):
        spec.check(tmp_path, p, 0)
    user.with_suffix(".json").write_text("{}")  # no checksum to compare: loading fails, named
    with pytest.raises(CorruptArtifactError, match=f"{user}.*replace it"):
        spec.load_for(p, 0, tmp_path)
