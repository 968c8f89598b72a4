"""Held-out evaluation of the learned schemes, as the shipped agents' records state it.

Score: the cumulative utility over T = 100 frames (the paper's metric, Figs. 4 and 9), mean
over held-out instances (seeds 1000-1002, the instances of Fig. 9; training draws its
instances at random from the training seed's stream). Every scheme plays the same instances
and frames (the frame streams are seeded by the instance seed), so the scores compare
directly. ``federated-myopic``, the per-frame best response, is the bound the paper's DMO is
measured against (it re-optimizes every frame; DMO decides from one observation).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from twinbed.agents import curve_end, read_record, save_play_only
from twinbed.artifact_store import Evaluation
from twinbed.artifact_store import ship as ship_file
from twinbed.scenarios.federated.artifacts import (
    DMO,
    DMO_SHARED,
    SHIPPED_DIR,
    load_shared,
    load_team,
    save_team_play_only,
)
from twinbed.scenarios.federated.dmo import DmoPolicy
from twinbed.scenarios.federated.dmo_shared import SharedDmoPolicy
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import run_episode

__all__ = ["HELD_OUT_SEEDS", "cumulative_utility", "score"]

HELD_OUT_SEEDS = (1000, 1001, 1002)


def cumulative_utility(p: FederatedParams, algorithm: str, seeds: tuple[int, ...] | list[int],
                       policy: object | None = None) -> float:
    """Mean over ``seeds`` of the sum of per-frame utility (perf) over ``p.frames`` frames;
    ``policy`` plays a learned scheme (else it is made by name)."""
    return float(np.mean([sum(r["perf"] for r in run_episode(p, algorithm, s, p.frames,
                                                              policy))  # type: ignore[arg-type]
                          for s in seeds]))


def score(path: Path, seeds: list[int]) -> float:
    """The shipped-artifact evaluator: the agents at ``path`` (DMO's team, or dmo-shared's one
    policy, by the record's structure) played greedily on ``seeds``: cumulative utility."""

    rec = read_record(path)
    p = FederatedParams(**rec["meta"]["params"])
    if "agents" in rec:  # DMO: the N + 2 agents
        return cumulative_utility(p, "dmo", seeds, DmoPolicy(p, load_team(path, p)))
    return cumulative_utility(p, "dmo-shared", seeds, SharedDmoPolicy(p, load_shared(path, p)))


PAPER_BUDGET = {"frames": 200_000.0}  # Table III: 2e5 training steps
# re-evaluation is deterministic on one machine (same seeds, same agents, CPU torch); the
# margin covers float32 rounding differences across CPUs, relative to the score
SCORE_REL_TOLERANCE = 1e-6


def ship(src: Path, baselines: dict[str, float], bound: dict[str, float], *, version: int = 1,
         note: str = "", dest_dir: Path | None = None) -> Path:
    """Ship the trained ``src`` (DMO's team or dmo-shared's policy, by its record) into this
    scenario's ``artifacts/`` with its evaluation on :data:`HELD_OUT_SEEDS` beside
    ``baselines`` and ``bound`` (:func:`cumulative_utility` of the same instances); play-only
    (the optimizers' state dropped, :func:`twinbed.agents.drop_optimizer_state`)."""


    rec = read_record(src)
    spec, target = (DMO, "federated-dmo") if "agents" in rec else (DMO_SHARED,
                                                                     "federated-dmo-shared")
    tmp = Path(tempfile.mkdtemp(prefix="twinbed-ship-")) / src.name
    src = save_team_play_only(src, tmp) if spec is DMO else save_play_only(src, tmp)
    steps = int(rec["steps"])
    seeds = list(HELD_OUT_SEEDS)
    got = score(src, seeds)  # of the file that ships
    ev = Evaluation(metric="cumulative utility over T = 100 frames, mean over held-out "
                           "instances", higher_is_better=True, seeds=seeds,
                    score=got, baselines=baselines, bound=bound,
                    tolerance=SCORE_REL_TOLERANCE * max(1.0, abs(got)),
                    evaluator="twinbed.scenarios.federated.evaluation:score", note=note)
    return ship_file(
        src, dest_dir or SHIPPED_DIR, scenario="federated", name=spec.name, folder=spec.folder,
        version=version, command=f"twinbed train {target} --steps {steps}",
        seed=int(rec["seed"]), evaluation=ev, budget={"frames": float(steps)},
        paper_budget=PAPER_BUDGET,
        curve_end=_curve_end(rec["curve"]),
        budget_note="the budget this 2-core machine gave in one session (background, niced); "
                    "Table III: 2e5 steps; trained with checkpoints and resumed")


def _curve_end(curve: list[dict[str, float]]) -> dict[str, float] | None:
    """The learning curve's end (:func:`twinbed.agents.curve_end`), None for too short a one."""

    try:
        return curve_end(curve)
    except ValueError:
        return None
