"""In-process frames of the ``federated`` scenario: the same frames the live services play.

Frame t draws its randomness from ``rng(seed, "federated", "frame", t)`` (channels, data,
weights) and SOCF's order from ``rng(seed, "federated", "socf", t)``, so a live run with the
same decisions reproduces these numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbed.scenarios.federated import centralized, model
from twinbed.scenarios.federated.algorithms import (ALGORITHMS, FRAMEWORK, Decision, Policy,
                                                    View, make_policy)
from twinbed.scenarios.federated.artifacts import ARTIFACTS
from twinbed.scenarios.federated.games import SocfResult, socf, socf_init
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.seeding import rng

__all__ = ["FrameResult", "frame_record", "play_frame", "run_episode", "simulate"]


class FrameResult:
    """One played frame: decisions, SOCF trace and outcome."""

    def __init__(self, decision: Decision, Y: np.ndarray, outcome: model.FrameOutcome,
                 socf_result: SocfResult | None, socf_passes: int) -> None:
        self.decision, self.Y, self.outcome = decision, Y, outcome
        self.socf, self.socf_passes = socf_result, socf_passes


def _play_cen(p: FederatedParams, inst: model.Instance, frame: model.Frame, state: model.State,
              g: np.random.Generator) -> tuple[FrameResult, model.State]:
    best = None
    for zl in range(1, p.z_levels + 1):
        ell = max(1, p.ell_max // 2)
        Y, passes = centralized.cen_socf(p, centralized.cen_ctx(p, inst, frame, state, zl, ell), g)
        utils = []
        for l in range(1, p.ell_max + 1):
            c = centralized.cen_ctx(p, inst, frame, state, zl, l)
            utils.append(centralized._utility(p, c, Y))
        ell = int(np.argmax(utils)) + 1
        c = centralized.cen_ctx(p, inst, frame, state, zl, ell)
        Y, passes = centralized.cen_socf(p, c, g)
        u = centralized._utility(p, c, Y)
        if best is None or u > best[0]:
            best = (u, zl, ell, Y, passes, c)
    _, zl, ell, Y, passes, c = best
    out, nxt = centralized.cen_evaluate(p, inst, frame, state, c, Y)
    d = Decision(np.full(p.K, -1), np.full(p.N, zl), np.full(p.N, ell), None)
    return FrameResult(d, nxt.Y, out, None, passes), nxt


def play_frame(p: FederatedParams, inst: model.Instance, frame: model.Frame, state: model.State,
               policy: Policy, framework: str, seed: int) -> tuple[FrameResult, model.State]:
    """Decide (policy), associate (SOCF in the framework) and evaluate frame ``state.t``."""
    g = rng(seed, "federated", "socf", state.t)
    if framework == "cen":
        return _play_cen(p, inst, frame, state, g)
    y_max = 1 if framework == "nov" else p.Y_max
    q = p if y_max == p.Y_max else p.model_copy(update={"Y_max": y_max})
    v = View(q, inst, frame, state, g)
    d = policy.act(v)
    fc = model.frame_ctx(q, inst, frame, state, d.assign, d.z, d.ell)
    res = None
    if d.Y is None:
        res = socf(q, fc, socf_init(q, fc, g), g)
        Y = res.Y
    else:
        Y = d.Y
    out, nxt = model.evaluate(q, inst, frame, state, d.assign, Y, d.z, d.ell, fc)
    policy.learn(v, d, out.reward)
    if hasattr(policy, "observe_time"):
        policy.observe_time(out.T, p.tau_s)  # type: ignore[attr-defined]
    return FrameResult(d, Y, out, res, res.passes if res else 0), nxt


def frame_record(t: int, r: FrameResult) -> dict[str, Any]:
    o = r.outcome
    rec = {"round": t, "frame": t, "Q": o.Q, "E_J": o.E, "T_s": o.T, "U": o.U, "gain": o.gain,
           "cost": o.cost, "perf": o.perf, "penalty": o.penalty, "reward": o.reward,
           "changes": o.changes, "associations": o.associations,
           "overlapping_sensors": int((r.Y.sum(axis=1) >= 2).sum()),
           "socf_passes": r.socf_passes, "sum_U_n": float(o.U_n.sum()),
           "assign": r.decision.assign.tolist(), "z": r.decision.z.tolist(),
           "ell": r.decision.ell.tolist(), "Q_k": o.Q_k.tolist(),
           "D_bits": o.new_D_bits.tolist()}
    rec.update({f"E_{k}_J": v for k, v in o.E_parts.items()})
    rec.update({f"T_{k}_s": v for k, v in o.T_parts_max.items()})
    return rec


def run_episode(p: FederatedParams, algorithm: str, seed: int, frames: int | None = None,
                policy: Policy | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """Per-frame records of one run of ``frames`` frames (default ``p.frames``)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    frames = p.frames if frames is None else frames
    policy = policy if policy is not None else make_policy(algorithm, p)
    inst = model.draw_instance(p, seed)
    state = model.initial_state(p)
    out = []
    it = range(frames)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"{algorithm} seed {seed}", unit="frame", leave=False)
    for t in it:
        frame = model.draw_frame(p, inst, seed, t)
        res, state = play_frame(p, inst, frame, state, policy, FRAMEWORK[algorithm], seed)
        out.append(frame_record(t, res))
    return out


def simulate(p: FederatedParams, algorithm: str = "federated-myopic", seed: int = 0,
             rounds: int = 1) -> list[dict[str, Any]]:
    """``twinbed simulate``: ``rounds`` frames of ``algorithm`` (DMO loads its agents)."""
    policy = None
    if algorithm in ARTIFACTS:  # the user's agents in the data directory, else the shipped
        from twinbed.config import get_settings

        loaded = ARTIFACTS[algorithm].load_for(p, 0, get_settings().data_dir)
        policy = make_policy(algorithm, p, **{"models" if algorithm == "dmo" else "model": loaded})
    return run_episode(p, algorithm, seed, rounds, policy)
