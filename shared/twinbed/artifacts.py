"""Learned artifacts (trained agents, codecs, predictors): declared once, resolved by the core.

A scenario declares each artifact it may need as an :class:`ArtifactSpec`: its name, the
folder of the data directory it lives in, which parameters select it (``depends_on``), the
command that trains it and how to load it. Everything else is derived here, the same way for
every scenario:

* the file name: ``<name>[-<param><value>...]<suffix>`` in declared order, e.g.
  ``network-twin-sac-U10.zip`` (``depends_on=("U",)``); ``seed`` names the run's seed; with
  ``depends_on=ALL_PARAMS`` the suffix is a digest of every non-default parameter (none for the
  defaults: ``semantic-sac.zip``); parameters in ``unless_default`` are named only away from
  their default (``network-twin-gru-U10-mobilitygauss-markov.pt``; the default's file keeps
  its name);
* the train command: ``<train> --param U=10 [--seed N]``, the one CLI parameter syntax;
* where it is found (:meth:`ArtifactSpec.resolve`): the user's own file
  ``<data_dir>/<folder>/<file>`` wins over the one shipped in the scenario's package
  (``twinbed/scenarios/<module>/artifacts/<file>``);
* the one error for a missing artifact, :class:`MissingArtifactError` (``POST /runs`` answers
  422, the CLI prints one line), and :class:`CorruptArtifactError` for a file that does not
  load; both are :class:`ArtifactError`, a ``ValueError``.

Every artifact has a JSON record beside it, ``<stem>.json``: how it was made and the file's
checksum, checked before anything loads it (:meth:`ArtifactSpec.check` in a run's preflight,
:meth:`ArtifactSpec.load_path`); a shipped artifact's record also has its version and
evaluation (:mod:`twinbed.artifact_store`). :func:`describe` is what a run record says about
the artifacts it used: name, file, version, origin.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from twinbed.artifact_store import checksum_problem, read_record

__all__ = [
    "ALL_PARAMS",
    "ArtifactError",
    "ArtifactSpec",
    "CorruptArtifactError",
    "MissingArtifactError",
    "Resolved",
    "describe",
    "record_path",
]

P = TypeVar("P", bound=BaseModel)
A = TypeVar("A")

ALL_PARAMS: Literal["*"] = "*"
Origin = Literal["user", "shipped"]


class ArtifactError(ValueError):
    """An artifact a run or command needs is unusable; the message says how to fix it."""

    def __init__(self, msg: str, path: Path, command: str) -> None:
        super().__init__(msg)
        self.path = path
        self.command = command


class MissingArtifactError(ArtifactError):
    """The artifact is neither in the data directory nor shipped; names the train command."""

    def __init__(self, path: Path, command: str) -> None:
        super().__init__(f"no trained artifact at {path}; train it with `{command}`", path,
                         command)


class CorruptArtifactError(ArtifactError):
    """The artifact's file is there but does not load or fails its checksum."""

    def __init__(self, path: Path, reason: str, command: str) -> None:
        super().__init__(f"artifact {path} is unusable ({reason}); replace it, or retrain "
                         f"it with `{command}`", path, command)
        self.reason = reason


def record_path(path: Path) -> Path:
    """The JSON record beside an artifact file: ``<stem>.json``."""
    return path.with_suffix(".json")


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, str | int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Resolved:
    """Which file a run uses for one artifact, and why."""

    name: str  # the artifact's declared name
    file: str  # its file name for these parameters
    path: Path
    origin: Origin
    version: int | None = None  # the shipped record's version (a user's file: its own, if any)
    sha256: str | None = None  # as its record states it (checked by ArtifactSpec.check)


@dataclass(frozen=True)
class PaperBudget:
    """The training budget the paper states for an artifact (``steps`` None: it states
    none), and where the paper says so or why it does not (``twinbed artifacts --budgets``)."""

    steps: int | None
    source: str


@dataclass(frozen=True)
class ArtifactSpec(Generic[P, A]):
    """One learned artifact, declared once by its scenario (see the module docstring)."""

    name: str  # e.g. "network-twin-sac"
    train: str  # the command without parameters, e.g. "twinbed train network-twin --algorithm sac"
    load: Callable[[Path, P], A]  # the file -> the loaded object; may raise on a bad file
    depends_on: tuple[str, ...] | Literal["*"] = ()
    # parameters that select the file only away from their default (a file made for the
    # default keeps its plain name): e.g. a model trained on another mobility model
    unless_default: tuple[str, ...] = ()
    folder: str = "agents"  # under the data directory
    suffix: str = ".zip"
    description: str = ""
    # set by the scenario registry: the package folder holding shipped artifacts
    shipped_dir: Path | None = field(default=None, compare=False)
    # a cheap check that the file fits these parameters (an interface version, a shape),
    # run by a run's preflight; raises on a mismatch (reported as CorruptArtifactError)
    validate: Callable[[Path, P], None] | None = field(default=None, compare=False)
    # the paper's training budget for it, beside the budget the shipped file used
    paper_budget: PaperBudget | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.suffix == ".json" or not self.suffix.startswith("."):
            raise ValueError(f"artifact {self.name!r}: suffix must start with '.' and not be "
                             f"'.json' (the record's), got {self.suffix!r}")

    # -- naming --------------------------------------------------------------------------
    def key(self, p: P, seed: int) -> dict[str, Any]:
        """The values that select this artifact's file (JSON-able)."""
        if self.depends_on == ALL_PARAMS:
            return dict(sorted(p.model_dump(mode="json", exclude_defaults=True).items()))
        dumped = p.model_dump(mode="json")
        out: dict[str, Any] = {}
        for dep in self.depends_on:
            if dep == "seed":
                out[dep] = seed
            elif dep in dumped:
                out[dep] = dumped[dep]
            else:
                raise KeyError(f"artifact {self.name!r} depends on {dep!r}, which is not a "
                               f"parameter of {type(p).__name__}")
        away = p.model_dump(mode="json", exclude_defaults=True)
        for dep in self.unless_default:
            if dep not in dumped:
                raise KeyError(f"artifact {self.name!r} depends on {dep!r}, which is not a "
                               f"parameter of {type(p).__name__}")
            if dep in away:
                out[dep] = away[dep]
        return out

    def stem(self, p: P, seed: int) -> str:
        key = self.key(p, seed)
        if self.depends_on == ALL_PARAMS:
            if not key:
                return self.name
            blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
            return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"
        return self.name + "".join(f"-{k}{_fmt(v)}" for k, v in key.items())

    def file_name(self, p: P, seed: int) -> str:
        return self.stem(p, seed) + self.suffix

    def train_command(self, p: P, seed: int) -> str:
        """The exact command that makes this artifact for ``p`` (and ``seed``)."""
        parts = [self.train]
        for k, v in self.key(p, seed).items():
            parts.append(f"--seed {v}" if k == "seed" and self.depends_on != ALL_PARAMS
                         else f"--param {k}={_fmt(v)}")
        return " ".join(parts)

    # -- where it is ---------------------------------------------------------------------
    def user_path(self, data_dir: str | Path, p: P, seed: int) -> Path:
        return Path(data_dir) / self.folder / self.file_name(p, seed)

    def shipped_path(self, p: P, seed: int) -> Path | None:
        return None if self.shipped_dir is None else self.shipped_dir / self.file_name(p, seed)

    def resolve(self, data_dir: str | Path, p: P, seed: int) -> Resolved:
        """The user's file if it exists, else the shipped one; else MissingArtifactError."""
        user = self.user_path(data_dir, p, seed)
        if user.exists():
            return self._resolved(user, "user", p, seed)
        shipped = self.shipped_path(p, seed)
        if shipped is not None and shipped.exists():
            return self._resolved(shipped, "shipped", p, seed)
        raise MissingArtifactError(user, self.train_command(p, seed))

    def _resolved(self, path: Path, origin: Origin, p: P, seed: int) -> Resolved:
        try:
            rec = read_record(path)
        except (OSError, ValueError) as exc:
            raise CorruptArtifactError(path, f"its record is unreadable: {exc}",
                                       self.train_command(p, seed)) from None
        block = rec.get("artifact") or {}
        version = block.get("version", rec.get("version"))
        return Resolved(self.name, path.name, path, origin,
                        version if isinstance(version, int) else None,
                        block.get("sha256") or rec.get("sha256"))

    def check(self, data_dir: str | Path, p: P, seed: int) -> Resolved:
        """:meth:`resolve`, the file matches the checksum its record states and passes
        ``validate``: what a run's preflight does (no full load), so a truncated, replaced or
        mismatched file is a :class:`CorruptArtifactError` naming it before the run starts."""
        where = self.resolve(data_dir, p, seed)
        problem = checksum_problem(where.path)
        if problem is not None:
            raise CorruptArtifactError(where.path, problem, self.train_command(p, seed))
        if self.validate is not None:
            try:
                self.validate(where.path, p)
            except Exception as exc:  # the file's problem, named as such
                raise CorruptArtifactError(where.path, str(exc),
                                           self.train_command(p, seed)) from exc
        return where

    def load_for(self, p: P, seed: int, data_dir: str | Path) -> A:
        """Resolve and load; a file that does not load is a CorruptArtifactError naming it."""
        where = self.resolve(data_dir, p, seed)
        return self.load_path(where.path, p, seed)

    def load_path(self, path: Path, p: P, seed: int) -> A:
        """Load ``path`` after checking its checksum; any failure names the file."""
        problem = checksum_problem(path)
        if problem is not None:
            raise CorruptArtifactError(path, problem, self.train_command(p, seed))
        try:
            return self.load(path, p)
        except ArtifactError:
            raise
        except Exception as exc:  # any failure to load is the file's problem, named as such
            raise CorruptArtifactError(path, f"{type(exc).__name__}: {exc}",
                                       self.train_command(p, seed)) from exc

    def with_shipped_dir(self, folder: Path) -> ArtifactSpec[P, A]:
        return replace(self, shipped_dir=folder)


def describe(resolved: Mapping[str, Resolved]) -> list[dict[str, Any]]:
    """JSON-able rows for a run record: which artifact, which file, its version and checksum,
    and where from (``user``: the data directory's, ``shipped``: the package's)."""
    return [{"name": r.name, "file": r.file, "version": r.version, "origin": r.origin,
             "sha256": r.sha256, "path": str(r.path)} for r in resolved.values()]
