"""Scenario commands: ``twinbed reproduce|train|solve|calibrate|ship TARGET ...``.

Each scenario folder may have a ``commands.py`` with ``COMMANDS: list[Command]``; the CLI builds
one sub-command per (verb, target). A target is usually the scenario's name
(``twinbed reproduce compression``) but may name an artifact (``twinbed train semantic-codec``).
``twinbed ship SCENARIO`` is the same for every scenario that ships artifacts:
:func:`ship_command` builds it from the scenario's ``shipping`` module.

``add_arguments`` must stay cheap (no torch/cvxpy imports): it runs every time the CLI starts.
``run`` does the work; it raises :class:`twinbed.commands.CommandError` for a problem the user
can fix (printed as one line, exit code 2) and returns the exit code otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from twinbed.scenarios import scenario_modules

__all__ = ["VERBS", "Command", "CommandError", "all_commands", "default_out_dir",
           "ship_command"]

VERBS: dict[str, str] = {
    "reproduce": "reproduce a paper's figure (CSV + PNG + a table beside the paper's numbers)",
    "train": "train an agent or a learned model; saves a checkpoint under the data directory",
    "solve": "solve one fully determined instance",
    "calibrate": "measure real components and fit the paper's model to them",
    "ship": "(maintainers) copy artifacts trained in --from DIR into the package with their "
            "records: version, checksum, evaluation on held-out seeds",
}


class CommandError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits with ``code``."""

    def __init__(self, msg: str, code: int = 2) -> None:
        super().__init__(msg)
        self.code = code


@dataclass(frozen=True)
class Command:
    verb: str
    target: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]

    def __post_init__(self) -> None:
        if self.verb not in VERBS:
            raise ValueError(f"expected a verb in {sorted(VERBS)}, got {self.verb!r}")


def all_commands() -> list[Command]:
    """Every scenario's commands, in (verb, target) order."""
    out: list[Command] = []
    for spec_module in scenario_modules().values():
        module = spec_module.rsplit(".", 1)[0] + ".commands"
        if importlib.util.find_spec(module) is not None:
            out += importlib.import_module(module).COMMANDS
    seen: set[tuple[str, str]] = set()
    for c in out:
        if (c.verb, c.target) in seen:
            raise RuntimeError(f"two commands for `twinbed {c.verb} {c.target}`")
        seen.add((c.verb, c.target))
    return sorted(out, key=lambda c: (c.verb, c.target))


def default_out_dir(data_dir: str | Path, *parts: str) -> Path:
    """Where an artifact goes by default: ``<data_dir>/<parts...>`` (created)."""
    out = Path(data_dir).joinpath(*parts)
    out.mkdir(parents=True, exist_ok=True)
    return out


# -- ship (maintainers) ------------------------------------------------------------------------
class ShipAll(Protocol):
    """A scenario's ``shipping.ship_all``: ship what ``twinbed train ...`` left in ``src`` for
    the default parameters into the package's ``artifacts/`` and return the shipped files."""

    def __call__(self, src: Path, version: int, git: str | None) -> list[Path]: ...


def _ship_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--from", dest="src", type=Path, required=True,
                    help="the data directory the artifacts were trained in")
    ap.add_argument("--version", type=int, default=1, help="the shipped version (>= 1)")
    ap.add_argument("--git", default=None,
                    help="the commit they were trained at (default: their records')")


def ship_command(scenario: str, shipping_module: str, what: str) -> Command:
    """``twinbed ship <scenario> --from DIR [--version N] [--git SHA]``: run
    ``<shipping_module>.ship_all`` (imported only when the command runs: it loads torch) and
    print each shipped file with its held-out evaluation from its record."""

    def run(args: argparse.Namespace) -> int:
        if args.version < 1:
            raise CommandError(f"--version must be >= 1, got {args.version}")
        ship_all = cast(ShipAll, importlib.import_module(shipping_module).ship_all)
        for path in ship_all(args.src, args.version, args.git):
            ev = json.loads(path.with_suffix(".json").read_text())["artifact"]["evaluation"]
            print(f"shipped {path.name} ({path.stat().st_size / 1024:.0f} KiB): "
                  f"{ev['metric']} {ev['score']:.6g}; baselines {ev['baselines']}; "
                  f"bound {ev['bound']}")
        return 0

    return Command("ship", scenario, f"copy {what} trained in --from DIR into the package "
                   "(artifacts/) with their records and held-out evaluations", _ship_args, run)
