"""Held-out evaluation of an association scheme, as the shipped agents' records state it.

An agent is trained for one instance (the run's seed draws the servers and twins) on episodes
of :data:`EPISODE_SLOTS` slots whose user trajectory and EMD the environment draws at random.
Held out here: user trajectories from named seeds the training never drew on purpose, each
played at every one of the paper's four EMDs, on the same instance. Every scheme - the agents,
the baselines and greedy-optimum - plays the very same episodes (common random numbers), so
their scores compare directly. The score is the mean reward (25) per slot, what the agents
learn; the objective (22) per slot is reported beside it.

``greedy-optimum`` maximizes the reward of each slot on its own (a local search at U = 20): it
is the per-slot bound a myopic scheme could reach, not a strict bound on a learned scheme,
which may trade one slot's reward for later ones.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.agents import curve_end, read_record, save_play_only
from twinbed.artifact_store import Evaluation
from twinbed.artifact_store import ship as ship_file
from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.algorithms import LEARNED
from twinbed.scenarios.fl_migration.artifacts import AGENTS, SHIPPED_DIR, load_agent
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.world import Policy, decide_slot

__all__ = ["EPISODE_SLOTS", "HELD_OUT_SEEDS", "INSTANCE_SEED", "PAPER_EMDS", "episodes",
           "score", "summary"]

PAPER_EMDS = (0.0, 0.2, 0.4, 0.6)
EPISODE_SLOTS = 50  # as in training (`twinbed train fl-migration --slots`, default 50)
INSTANCE_SEED = 0  # the shipped agents' instance: the defaults' run seed
HELD_OUT_SEEDS = (101, 102)  # trajectory seeds


def episodes(p: FlMigrationParams, scheme: str, seeds: tuple[int, ...] | list[int],
             policy: Policy | None = None, instance_seed: int = INSTANCE_SEED,
             slots: int = EPISODE_SLOTS) -> list[dict[str, Any]]:
    """One row per (trajectory seed, EMD): the mean reward and objective per slot of
    ``scheme`` (``policy`` for a learned one) over ``slots`` slots."""
    if scheme in LEARNED and policy is None:
        raise ValueError(f"scheme {scheme!r} needs its trained policy")
    rows = []
    for s in seeds:
        for emd in PAPER_EMDS:
            q = p.model_copy(update={"emd": emd, "emd_per_user": None})
            inst = model.draw_instance(q, instance_seed)
            st = model.first_state(q, inst, s)
            rewards, objectives = [], []
            for _ in range(slots):
                assoc, gamma = decide_slot(q, inst, st, scheme, s, policy)
                ev = model.evaluate(q, inst, st, assoc, gamma)
                rewards.append(float(ev["reward"]))
                objectives.append(float(ev["objective"]))
                st = model.next_state(q, st, assoc, s)
            rows.append({"seed": s, "emd": emd, "reward": float(np.mean(rewards)),
                         "objective": float(np.mean(objectives))})
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {"reward": float(np.mean([r["reward"] for r in rows])),
            "objective": float(np.mean([r["objective"] for r in rows]))}


def score(path: Path, seeds: list[int]) -> float:
    """The shipped-artifact evaluator: the agent at ``path`` (its scheme and parameters from its
    record) on the held-out ``seeds``: mean reward per slot."""

    meta = read_record(path)["meta"]
    p = FlMigrationParams(**meta["params"])
    rows = episodes(p, meta["scheme"], seeds, load_agent(path, p))
    return summary(rows)["reward"]


# the paper's budget: Fig. 4 converges in ~200 episodes of T = 750 slots, per (S, EMD)
PAPER_BUDGET = {"steps": 150_000.0, "episode_slots": 750.0}
# re-evaluation is deterministic on one machine (same seeds, same agent, CPU torch); the
# margin covers float32 rounding differences across CPUs, relative to the score
SCORE_REL_TOLERANCE = 1e-6


def ship(src: Path, baselines: dict[str, float], bound: dict[str, float], *, version: int = 1,
         note: str = "", dest_dir: Path | None = None) -> Path:
    """Ship the trained agent ``src`` (its record says scheme and budget) into this scenario's
    ``artifacts/``, play-only (no optimizer state: :func:`twinbed.agents.save_play_only`), with
    its evaluation on :data:`HELD_OUT_SEEDS` beside ``baselines`` and ``bound`` (scores of the
    same episodes, :func:`episodes`)."""


    rec = read_record(src)
    scheme, steps = rec["meta"]["scheme"], int(rec["steps"])
    seeds = list(HELD_OUT_SEEDS)
    src = save_play_only(src, Path(tempfile.mkdtemp(prefix="twinbed-ship-")) / src.name)
    got = score(src, seeds)  # of the file that ships
    ev = Evaluation(metric="mean reward (25) per slot, 50-slot episodes on the instance of "
                           "seed 0, held-out trajectory seeds x the four EMDs",
                    higher_is_better=True, seeds=seeds, score=got, baselines=baselines,
                    bound=bound, tolerance=SCORE_REL_TOLERANCE * max(1.0, abs(got)),
                    evaluator="twinbed.scenarios.fl_migration.evaluation:score", note=note)
    return ship_file(
        src, dest_dir or SHIPPED_DIR, scenario="fl-migration", name=AGENTS[scheme].name,
        folder=AGENTS[scheme].folder, version=version,
        command=f"twinbed train fl-migration --algorithm {scheme} --steps {steps}",
        seed=int(rec["seed"]), evaluation=ev, budget={"steps": float(steps),
                                       "episode_slots": float(rec["meta"]["episode_slots"])},
        paper_budget=PAPER_BUDGET, curve_end=_curve_end(rec["curve"]),
        budget_note="the budget this 2-core machine gave in one session (background, niced); "
                    "the paper's: ~200 episodes of 750 slots per (S, EMD); trained with "
                    "checkpoints and resumed, so a re-run differs in the episodes drawn")


def _curve_end(curve: list[dict[str, float]]) -> dict[str, float] | None:
    """The learning curve's end (:func:`twinbed.agents.curve_end`), None for too short a one."""

    try:
        return curve_end(curve)
    except ValueError:
        return None
