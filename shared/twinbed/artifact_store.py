"""The record every artifact carries, checksums, and the shipped-artifact inventory.

Every artifact file ``<stem><suffix>`` has a JSON record beside it, ``<stem>.json``
(:func:`twinbed.artifacts.record_path`). Whoever writes an artifact (``twinbed train ...``)
stamps the record with the file's ``sha256`` and ``size_bytes`` (:func:`stamp`), so a
truncated, swapped or bit-flipped file is caught before anything loads it
(:func:`checksum_problem`, used by :class:`twinbed.artifacts.ArtifactSpec`).

An artifact that ships with the package (``twinbed/scenarios/<module>/artifacts/``) also has
an ``"artifact"`` block in its record, a :class:`ShippedRecord`: its version, the exact command
and seed that made it, the training budget beside the paper's, the library versions and the
git commit it was trained at, its checksum, and its :class:`Evaluation` on named held-out seeds
beside the scenario's baselines and bound. :func:`ship` writes it; :func:`inventory` lists what
ships and what a data directory overrides (``twinbed artifacts``); ``tests/test_shipped_
artifacts.py`` re-evaluates every shipped artifact with the function its record names.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twinbed import stats

__all__ = [
    "SCHEMA",
    "Evaluation",
    "InventoryRow",
    "ShippedRecord",
    "checksum_problem",
    "curve_end",
    "evaluator",
    "file_digest",
    "git_commit",
    "inventory",
    "library_versions",
    "read_record",
    "ship",
    "shipped_artifacts",
    "stamp",
    "training_command",
]

SCHEMA = "twinbed-artifact/1"
SCENARIOS_DIR = Path(__file__).parent / "scenarios"
_LIBRARIES = ("numpy", "torch", "stable-baselines3", "gymnasium", "scipy", "pydantic")


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest(), path.stat().st_size


def _record_path(path: Path) -> Path:
    return path.with_suffix(".json")


def read_record(path: Path) -> dict[str, Any]:
    """The JSON record beside the artifact ``path`` ({} when there is none)."""
    rec = _record_path(path)
    if not rec.exists():
        return {}
    data = json.loads(rec.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{rec} is not a JSON object")
    return data


def library_versions() -> dict[str, str]:
    """Python and the libraries a learned artifact depends on, as installed."""
    out = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the source tree this package runs from, with ``+dirty`` when the tree has
    uncommitted changes (None outside a git checkout). Call it when a training *starts*: the
    code it runs is the code of that moment."""
    cwd = where or Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=10, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0 or not head.stdout.strip():
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def stamp(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """``record`` plus what identifies the artifact ``path``: its checksum and size, the git
    commit (the record's own if it has one: taken when the training started) and library
    versions it was made with (called by every writer of an artifact)."""
    sha, size = file_digest(path)
    return {**record, "sha256": sha, "size_bytes": size,
            "git_commit": record.get("git_commit") or git_commit(),
            "versions": {**library_versions(), **record.get("versions", {})}}


def checksum_problem(path: Path) -> str | None:
    """Why ``path`` does not match the checksum its record states (None when it does, or when
    its record states none: an artifact trained before records carried checksums)."""
    try:
        rec = read_record(path)
    except (OSError, ValueError) as exc:
        return f"its record {_record_path(path).name} is unreadable: {exc}"
    want = rec.get("artifact", {}).get("sha256") or rec.get("sha256")
    if not want:
        return None
    sha, size = file_digest(path)
    want_size = rec.get("artifact", {}).get("size_bytes") or rec.get("size_bytes")
    if want_size is not None and size != want_size:
        return f"size {size} bytes, its record says {want_size}: truncated or replaced"
    if sha != want:
        return f"sha256 {sha[:12]}..., its record says {str(want)[:12]}...: corrupted or replaced"
    return None


# -- the shipped record ------------------------------------------------------------------------
class Evaluation(BaseModel):
    """A shipped artifact's score on named held-out seeds, beside the baselines and the bound.

    ``evaluator`` names ``module:function``, ``(path, seeds) -> score``, which re-computes
    ``score`` from the file; the test of every shipped artifact calls it and requires
    ``|score - recorded| <= tolerance``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    higher_is_better: bool
    seeds: list[int]
    score: float
    baselines: dict[str, float] = Field(default_factory=dict)
    bound: dict[str, float] = Field(default_factory=dict,
                                    description="what no policy can beat (name -> value)")
    tolerance: float = Field(ge=0)
    evaluator: str
    note: str = ""


class ShippedRecord(BaseModel):
    """The ``"artifact"`` block of a shipped artifact's record (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal["twinbed-artifact/1"] = Field("twinbed-artifact/1", alias="schema")
    scenario: str
    name: str  # the declared ArtifactSpec name
    file: str
    folder: str  # where a user's own copy goes under the data directory (it wins)
    version: int = Field(ge=1)
    sha256: str
    size_bytes: int
    command: str  # exact, without --data-dir
    seed: int
    budget: dict[str, int | float]
    paper_budget: dict[str, int | float] | None = None
    budget_note: str = ""
    curve_end: dict[str, float] | None = Field(
        None, description="learning curve at the end: slope of the last part per 1k steps")
    versions: dict[str, str]
    git_commit: str
    created: str
    evaluation: Evaluation

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def evaluator(spec: str) -> Callable[[Path, list[int]], float]:
    """The function ``module:function`` an :class:`Evaluation` names."""
    module, _, name = spec.partition(":")
    fn = getattr(importlib.import_module(module), name)
    if not callable(fn):
        raise TypeError(f"{spec} is not callable")
    return fn


def ship(src: Path, dest_dir: Path, *, scenario: str, name: str, folder: str, version: int,
         command: str, seed: int, budget: Mapping[str, float], evaluation: Evaluation,
         paper_budget: Mapping[str, float] | None = None, budget_note: str = "",
         curve_end: Mapping[str, float] | None = None, git: str | None = None) -> Path:
    """Copy the trained artifact ``src`` (and its record) into ``dest_dir`` and add the
    ``"artifact"`` block; returns the shipped file. ``git`` is the commit it was trained at
    (default: the one its training record names, else the current one)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    if src.resolve() != dest.resolve():
        shutil.copyfile(src, dest)
    rec = read_record(src)
    sha, size = file_digest(dest)
    block = ShippedRecord(
        scenario=scenario, name=name, file=dest.name, folder=folder, version=version,
        sha256=sha, size_bytes=size, command=command, seed=seed, budget=dict(budget),
        paper_budget=None if paper_budget is None else dict(paper_budget),
        budget_note=budget_note, curve_end=None if curve_end is None else dict(curve_end),
        versions={**library_versions(), **rec.get("versions", {})},
        git_commit=git or rec.get("git_commit") or git_commit() or "unknown",
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), evaluation=evaluation)
    rec.update(artifact=block.dump(), sha256=sha, size_bytes=size)
    _record_path(dest).write_text(json.dumps(rec, indent=1, default=str) + "\n")
    return dest


def training_command(record: Mapping[str, Any]) -> str:
    """The command a training record names, without ``--data-dir DIR`` (where it was written
    is not part of the recipe)."""
    words = str(record.get("command", "")).split()
    out: list[str] = []
    skip = False
    for w in words:
        if skip:
            skip = False
        elif w == "--data-dir":
            skip = True
        elif not w.startswith("--data-dir="):
            out.append(w)
    return " ".join(out)


def curve_end(curve: Sequence[Mapping[str, float]], *, x: str = "timesteps",
              y: str = "mean_reward", last: float = 0.25) -> dict[str, float] | None:
    """The learning curve's slope over its last ``last`` fraction, per 1,000 steps, with its
    95 % bootstrap interval: would more budget help? (None for fewer than 4 points there.)"""
    pts = [(float(c[x]), float(c[y])) for c in curve]
    tail = pts[int(len(pts) * (1 - last)):]
    if len(tail) < 4:
        return None
    est = stats.slope_ci([a / 1000 for a, _ in tail], [b for _, b in tail])
    return {"slope_per_1k_steps": est.value, "slope_lo": est.lo, "slope_hi": est.hi,
            "from_step": tail[0][0], "to_step": tail[-1][0], "last_value": tail[-1][1]}


# -- the inventory -----------------------------------------------------------------------------
def shipped_artifacts(root: Path = SCENARIOS_DIR) -> Iterator[tuple[Path, ShippedRecord]]:
    """Every shipped artifact file under ``scenarios/*/artifacts/`` with its record block."""
    for rec_file in sorted(root.glob("*/artifacts/*.json")):
        data = json.loads(rec_file.read_text())
        block = ShippedRecord.model_validate(data["artifact"])
        yield rec_file.with_name(block.file), block


@dataclass(frozen=True)
class InventoryRow:
    scenario: str
    name: str
    file: str
    version: int
    size_bytes: int
    shipped: Path
    shipped_problem: str | None  # None: present and its checksum matches
    user: Path | None  # the data directory's own copy, which wins
    user_problem: str | None

    @property
    def ok(self) -> bool:
        return self.shipped_problem is None and self.user_problem is None

    @property
    def used(self) -> Literal["user", "shipped"]:
        return "user" if self.user is not None else "shipped"


def _problem(path: Path) -> str | None:
    if not path.exists():
        return "missing"
    return checksum_problem(path)


def inventory(data_dir: Path, root: Path = SCENARIOS_DIR) -> list[InventoryRow]:
    """What ships, whether each checksum matches, and which the data directory overrides."""
    rows = []
    for path, b in shipped_artifacts(root):
        user = data_dir / b.folder / b.file
        has_user = user.exists()
        rows.append(InventoryRow(
            scenario=b.scenario, name=b.name, file=b.file, version=b.version,
            size_bytes=b.size_bytes, shipped=path, shipped_problem=_problem(path),
            user=user if has_user else None,
            user_problem=checksum_problem(user) if has_user else None))
    return rows
