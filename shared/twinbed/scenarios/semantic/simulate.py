"""In-process runs: the same slots the live services play, without I/O.

Slot n's world comes from :class:`~twinbed.scenarios.semantic.process.World` (named seed
streams), the decision from the run's algorithm (algorithms.py, or a trained agent), the
modeled metrics from model.slot. Slots are fixed: slot n starts at n tau in modeled time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.algorithms import (
    ALGORITHMS,
    BASELINES,
    action_from_vector,
    observation,
)
from twinbed.scenarios.semantic.learned import (
    AGENTS,
    agent_name,
    check_agent,
    load_agent,
    train_command,
)
from twinbed.scenarios.semantic.optimum import Action
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.process import SlotState, World

__all__ = ["Policy", "agent_name", "check_agent", "load_agent", "policy", "simulate", "slot_record",
           "train_command"]

Policy = Callable[[SlotState], Action]


def policy(p: SemanticParams, algorithm: str, seed: int, data_dir: str | Path | None = None,
           agent: Any = None) -> Policy:
    """The decision maker ``algorithm`` as a slot -> action function. Agents come from ``agent``
    (an SB3 model) or are loaded as :data:`learned.AGENTS` declares (the data directory's
    ``agents/<agent_name>.zip``, else the shipped one)."""
    if algorithm in BASELINES:
        fn = BASELINES[algorithm]
        return lambda s: fn(p, s, seed)
    if algorithm not in AGENTS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    if agent is None:  # the user's trained agent in the data directory, else the shipped one
        from twinbed.config import get_settings

        agent = AGENTS[algorithm].load_for(
            p, seed, data_dir if data_dir is not None else get_settings().data_dir)
    if agent.observation_space.shape != (2 * p.K,):
        raise ValueError(f"the {algorithm} agent observes {agent.observation_space.shape}, "
                         f"the run has K={p.K}; train it with `{train_command(p, algorithm)}`")

    def act(s: SlotState) -> Action:
        a, _ = agent.predict(observation(p, s), deterministic=True)
        return action_from_vector(p, a)

    return act


def slot_record(p: SemanticParams, s: SlotState, act: Action) -> dict[str, Any]:
    """Modeled metrics of one slot as JSON-able values."""
    out = model.slot(p, s.D_bits, s.d_m, s.h2, *act)
    rec: dict[str, Any] = {"round": s.slot, "modeled_start_s": s.slot * p.tau_s,
                           "slot_s": p.tau_s}
    cols = {"phi": act.phi, "f_hz": act.f_hz, "p_w": act.p_w, "f_e_hz": act.f_e_hz,
            "d_m": s.d_m, "D_bits": s.D_bits, "h2": s.h2, "t_s": out.t_s, "t_en": out.t_en,
            "t_up": out.t_up, "t_de": out.t_de, "t_dt": out.t_dt, "t": out.t, "e": out.e,
            "rate_bps": out.rate_bps}
    rec.update({k: np.asarray(v, dtype=float).tolist() for k, v in cols.items()})
    rec.update(T_s=float(out.T), P_t=float(out.P_t), P_e=float(out.P_e), P_f=float(out.P_f),
               reward=float(out.reward),
               violations=int(np.sum((out.t_dt > p.deadline_s) | (out.e > p.E_max_j))))
    return rec


def simulate(p: SemanticParams, algorithm: str = "per-slot-optimum", seed: int = 0,
             rounds: int | None = None, *, data_dir: str | Path | None = None,
             agent: Any = None) -> list[dict[str, Any]]:
    """Per-slot modeled metrics of ``rounds`` slots (default N) of the run with ``seed``."""
    pol = policy(p, algorithm, seed, data_dir, agent)
    world = World(p, seed)
    return [slot_record(p, s, pol(s)) for s in map(world.slot, range(p.N if rounds is None else rounds))]
