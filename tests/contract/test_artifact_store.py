"""The artifact record core (twinbed.artifact_store) on a toy artifact: checksums stamped by
the writer and checked before loading, the shipped record, the inventory behind
``twinbed artifacts`` (user over shipped, mismatches reported), and what a run record says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from twinbed.artifact_store import (
    Evaluation,
    ShippedRecord,
    checksum_problem,
    inventory,
    read_record,
    ship,
    stamp,
)
from twinbed.artifacts import ArtifactSpec, CorruptArtifactError, describe
from twinbed.cli import main


class Toy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    U: int = 10


def _load(path: Path, p: Toy) -> dict[str, Any]:
    return json.loads(path.read_text())


def toy_score(path: Path, seeds: list[int]) -> float:
    """The toy's evaluator (named in its record): a number computed from the file."""
    return float(json.loads(path.read_text())["w"]) * len(seeds)


SPEC: ArtifactSpec[Toy, dict[str, Any]] = ArtifactSpec(
    "toy-agent", "twinbed train toy", _load, ("U",), folder="agents", suffix=".bin")


def _trained(folder: Path, w: float = 2.0) -> Path:
    """What a `twinbed train` writer leaves: the file and its stamped record."""
    path = folder / SPEC.file_name(Toy(), 0)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"w": w}))
    path.with_suffix(".json").write_text(json.dumps(stamp({"seed": 0}, path)))
    return path


def _ship(src: Path, pkg: Path) -> Path:
    ev = Evaluation(metric="toy score", higher_is_better=True, seeds=[1, 2, 3],
                    score=toy_score(src, [1, 2, 3]), baselines={"zero": 0.0},
                    bound={"ten": 30.0}, tolerance=1e-9,
                    evaluator="tests.contract.test_artifact_store:toy_score")
    return ship(src, pkg / "toy" / "artifacts", scenario="toy", name=SPEC.name,
                folder=SPEC.folder, version=3, command="twinbed train toy --param U=10",
                seed=0, budget={"steps": 10}, paper_budget={"steps": 20},
                budget_note="half the paper's", evaluation=ev, git="abc123")


def test_stamped_checksum_catches_truncation_before_loading(tmp_path: Path) -> None:
    path = _trained(tmp_path / "agents")
    rec = read_record(path)
    assert len(rec["sha256"]) == 64 and rec["size_bytes"] == path.stat().st_size
    assert "python" in rec["versions"]
    assert checksum_problem(path) is None
    assert SPEC.load_for(Toy(), 0, tmp_path) == {"w": 2.0}
    path.write_text(path.read_text()[:5])  # truncated
    assert "truncated" in (checksum_problem(path) or "")
    for call in (lambda: SPEC.check(tmp_path, Toy(), 0), lambda: SPEC.load_for(Toy(), 0, tmp_path)):
        with pytest.raises(CorruptArtifactError) as exc:
            call()
        assert str(path) in str(exc.value) and "twinbed train toy --param U=10" in str(exc.value)
    path.write_text(json.dumps({"w": 9.0}))
    assert "sha256" in (checksum_problem(path) or "")  # same size, other bytes


def test_a_file_without_checksum_in_its_record_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "agents" / SPEC.file_name(Toy(), 0)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"w": 1.0}))  # trained before records carried checksums
    assert checksum_problem(path) is None
    assert SPEC.check(tmp_path, Toy(), 0).origin == "user"


def test_shipped_record_inventory_and_run_record(tmp_path: Path) -> None:
    pkg, data = tmp_path / "pkg", tmp_path / "data"
    shipped = _ship(_trained(tmp_path / "train"), pkg)
    block = ShippedRecord.model_validate(read_record(shipped)["artifact"])
    assert (block.version, block.git_commit, block.folder, block.seed) == (3, "abc123", "agents", 0)
    assert block.evaluation.score == 6.0 and block.paper_budget == {"steps": 20.0}
    assert read_record(shipped)["artifact"]["schema"] == "twinbed-artifact/1"

    spec = SPEC.with_shipped_dir(shipped.parent)
    used = spec.check(data, Toy(), 0)
    assert (used.origin, used.version, used.sha256) == ("shipped", 3, block.sha256)
    row = describe({spec.name: used})[0]
    assert row == {"name": "toy-agent", "file": shipped.name, "version": 3,
                   "origin": "shipped", "sha256": block.sha256, "path": str(shipped)}

    (rows,) = [inventory(data, pkg)]
    assert [(r.name, r.used, r.ok) for r in rows] == [("toy-agent", "shipped", True)]
    user = _trained(data / "agents", w=5.0)  # the user's own training wins
    assert spec.check(data, Toy(), 0).origin == "user"
    assert spec.load_for(Toy(), 0, data) == {"w": 5.0}
    (r,) = inventory(data, pkg)
    assert (r.used, r.user, r.ok) == ("user", user, True)
    user.write_bytes(b"{")  # a broken user copy is reported, not hidden by the shipped one
    (r,) = inventory(data, pkg)
    assert not r.ok and r.user_problem and r.shipped_problem is None
    user.unlink()
    user.with_suffix(".json").unlink()
    assert spec.load_for(Toy(), 0, data) == {"w": 2.0}  # back to the shipped one
    shipped.write_text(json.dumps({"w": 2.5}))  # a corrupted shipped file
    (r,) = inventory(data, pkg)
    assert not r.ok and "sha256" in (r.shipped_problem or "")


def test_cli_artifacts_lists_overrides_and_fails_on_a_mismatch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`twinbed artifacts` over a package folder holding the toy: exit 0 and the listing;
    a truncated user override is reported with its path and exits 1."""
    pkg, data = tmp_path / "pkg", tmp_path / "data"
    shipped = _ship(_trained(tmp_path / "train"), pkg)
    monkeypatch.setattr("twinbed.cli.inventory", lambda d: inventory(d, pkg))
    assert main(["artifacts", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert shipped.name in out and "1 shipped artifacts" in out and "shipped  ok" in out
    assert main(["artifacts", "--json", "--data-dir", str(data)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["version"], row["used"], row["ok"]) == (3, "shipped", True)
    user = _trained(data / "agents", w=7.0)
    user.write_text(user.read_text()[:3])
    assert main(["artifacts", "--data-dir", str(data)]) == 1
    captured = capsys.readouterr()
    assert f"overridden by {user}" in captured.out and "truncated" in captured.out
    assert "1 artifact(s) fail their checksum" in captured.err
