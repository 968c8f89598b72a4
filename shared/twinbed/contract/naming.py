"""One naming scheme for everything a scenario names (checked by the contract tests).

* scenario: kebab-case, its module the snake_case spelling (``network-twin`` in
  ``scenarios/network_twin``);
* message type: ``<scenario>.<message>``, message kebab-case (``compression.uplink``,
  ``fl-migration.upload-request``), :func:`message_type`;
* twin kind: ``<scenario>.<entity kind>``, kind kebab-case (``compression.sensor``,
  ``federated.partial-dt``), :func:`twin_kind`;
* entity: ``<kind>-<index>`` (0-based) or ``<kind>`` for a singleton (``sensor-0``, ``es-3``,
  ``network``, ``global-dt``), :func:`entity`; it is also the twin's name and the reporting
  party's name;
* twin id: ``<run id>.<entity>`` (:func:`twinbed.twins.twin_id`);
* figure files: ``fig<N>.csv``, ``fig<N>.png``, ``fig<N>-claims.json`` (:func:`figure_files`);
  ``reproduce`` returns a :class:`FigureResult`;
* artifact file: ``<scenario>-<what>[-<param><value>...]<suffix>`` (``network-twin-sac-U10.zip``,
  :mod:`twinbed.artifacts`).

Core messages (``round.start``, ``decision.request``, ``decision``, ``round.report``,
``oracle.sample``) have no scenario prefix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from twinbed.report import Claim, claims_table

if TYPE_CHECKING:
    from twinbed import claims as computed

__all__ = ["KEBAB", "FigureFiles", "FigureResult", "entity", "figure_files", "is_kebab",
           "message_type", "twin_kind"]

KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def is_kebab(name: str) -> bool:
    return bool(KEBAB.match(name))


def _check(what: str, name: str) -> str:
    if not is_kebab(name):
        raise ValueError(f"{what} {name!r} is not kebab-case (lowercase words joined by '-')")
    return name


def message_type(scenario: str, name: str) -> str:
    """``<scenario>.<name>``: the ``TYPE`` of a scenario's bus message."""
    return f"{_check('scenario', scenario)}.{_check('message', name)}"


def twin_kind(scenario: str, kind: str) -> str:
    """``<scenario>.<kind>``: the kind of a scenario's twin."""
    return f"{_check('scenario', scenario)}.{_check('twin kind', kind)}"


def entity(kind: str, index: int | None = None) -> str:
    """``<kind>-<index>`` (or ``<kind>`` for a singleton): an observed entity / twin name."""
    _check("entity kind", kind)
    if index is None:
        return kind
    if index < 0:
        raise ValueError(f"expected an index >= 0, got {index}")
    return f"{kind}-{index}"


@dataclass(frozen=True)
class FigureFiles:
    csv: Path
    png: Path
    claims: Path


def figure_files(out: str | Path, figure: int | str) -> FigureFiles:
    """Where figure ``figure`` goes in ``out``: ``fig<N>.csv``, ``.png``, ``-claims.json``."""
    stem = Path(out) / f"fig{figure}"
    return FigureFiles(stem.with_suffix(".csv"), stem.with_suffix(".png"),
                       stem.with_name(f"{stem.name}-claims.json"))


@dataclass(frozen=True)
class FigureResult:
    """What every scenario's ``reproduce`` returns: the figure, its files, its claims.

    ``claims``: computed verdicts (:class:`twinbed.claims.Claim`, printed with their rules) or,
    for a scenario not converted yet, the hand-typed :class:`twinbed.report.Claim`."""

    scenario: str
    figure: int | str
    files: FigureFiles
    claims: Sequence[Claim] | Sequence[computed.Claim]
    note: str = ""  # budget, seeds: printed in the table's title
    detail: str = ""  # printed before the claims table (a sweep's rows)

    def table(self) -> str:
        title = f"{self.scenario} Fig. {self.figure}"
        if self.note:
            title += f" ({self.note})"
        title = f"{title} -> {self.files.csv.parent}"
        if not self.claims:  # a figure beyond the paper: its rows are the result
            return f"{title}\n{self.detail}"
        if self.claims and not isinstance(self.claims[0], Claim):
            # twinbed.claims imports the scenario registry, which imports this module
            from twinbed import claims as computed  # noqa: PLC0415 (import cycle)

            table = computed.table(self.claims, title)  # type: ignore[arg-type]
        else:
            table = claims_table(self.claims, title=title)  # type: ignore[arg-type]
        return f"{self.detail}\n\n{table}" if self.detail else table
