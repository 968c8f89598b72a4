"""Training budgets of the shipped agents beside the papers' (``twinbed artifacts --budgets``).

A shipped agent is trained for what fits on a small machine, often less than its paper's
budget. For a reader to judge what that costs, each row gives the steps the shipped file was
trained for (its record), the paper's budget where the paper states one (declared once by
the scenario, :class:`twinbed.artifacts.PaperBudget`, with where it says so or why it does
not), and how the learning curve was still moving at the end: the least-squares slope of the
record's curve over its last quarter of steps, as the change it implies across that quarter,
in percent of the curve's level there. The curve's points are moving means over the last
(up to) 100 episodes, so they are strongly autocorrelated: the slope is a description of the
end of the curve, not a test, and no interval is claimed for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.artifact_store import SCENARIOS_DIR, shipped_artifacts
from twinbed.artifacts import ArtifactSpec, PaperBudget
from twinbed.scenarios import get_scenario, scenario_names

__all__ = ["BudgetRow", "budget_rows", "end_of_curve"]

TAIL = 0.25  # the share of the curve's steps whose slope is reported


@dataclass(frozen=True)
class BudgetRow:
    scenario: str
    file: str
    steps: int | None  # what the shipped file was trained for (None: not an RL budget)
    paper: PaperBudget | None
    tail_change_pct: float | None  # the fitted change across the curve's last quarter
    tail_from: int | None  # the first step of that quarter
    level: float | None  # the curve's fitted value at its last point

    @property
    def fraction(self) -> float | None:
        if self.steps is None or self.paper is None or self.paper.steps is None:
            return None
        return self.steps / self.paper.steps

    def as_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "file": self.file, "steps": self.steps,
                "paper_steps": None if self.paper is None else self.paper.steps,
                "paper_source": None if self.paper is None else self.paper.source,
                "fraction_of_paper": self.fraction, "tail_change_pct": self.tail_change_pct,
                "tail_from_step": self.tail_from, "end_level": self.level}


def end_of_curve(curve: list[dict[str, Any]]) -> tuple[float, int, float] | None:
    """(change across the last quarter in % of the end level, its first step, the end
    level) from a record's ``curve`` of ``{"timesteps", "mean_reward"}`` points; None when
    the curve has fewer than 3 points in its last quarter or an end level of 0."""
    pts = [(float(c["timesteps"]), float(c["mean_reward"])) for c in curve
           if "timesteps" in c and "mean_reward" in c]
    if len(pts) < 3:
        return None
    x, y = np.array(pts).T
    start = x[-1] - TAIL * (x[-1] - x[0])
    tail = x >= start
    if tail.sum() < 3:
        return None
    slope, intercept = np.polyfit(x[tail], y[tail], 1)  # least squares
    level = intercept + slope * x[-1]
    if level == 0:
        return None
    change = slope * (x[-1] - x[tail][0])
    return 100.0 * change / abs(level), int(x[tail][0]), float(level)


def _declared_specs() -> dict[str, ArtifactSpec[Any, Any]]:
    """Every artifact a scenario's policies declare, by name."""
    out: dict[str, ArtifactSpec[Any, Any]] = {}
    for name in scenario_names():
        for policy in get_scenario(name).policies.values():
            for spec in policy.artifacts:
                out.setdefault(spec.name, spec)
    return out


def budget_rows(root: Path = SCENARIOS_DIR) -> Iterator[BudgetRow]:
    """One row per shipped artifact that a policy declares (the agents)."""
    specs = _declared_specs()
    for path, block in shipped_artifacts(root):
        spec = specs.get(block.name)
        if spec is None:  # not an agent (a codec, a predictor): no training budget to set
            continue
        record = json.loads(path.with_suffix(".json").read_text())
        steps = record.get("steps")
        end = end_of_curve(record.get("curve") or [])
        yield BudgetRow(scenario=block.scenario, file=block.file,
                        steps=int(steps) if steps is not None else None,
                        paper=spec.paper_budget,
                        tail_change_pct=None if end is None else end[0],
                        tail_from=None if end is None else end[1],
                        level=None if end is None else end[2])
