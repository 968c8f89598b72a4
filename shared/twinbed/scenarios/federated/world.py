"""The frame-by-frame seeded world of one ``federated`` run: the instance (positions, CPUs,
partial-DT sizes), each frame's draws, and playing a frame (the scheme decides, SOCF forms the
coalitions in the scheme's framework, eqs. 2-25 give the outcome); the same for the
controller's live decision, the gymnasium environment, the figures and the core's in-process
runner.

Frame t draws its randomness from ``rng(seed, "federated", "frame", t)`` (channels, data,
weights) and SOCF's order from ``rng(seed, "federated", "socf", t)``, so a live run with the
same decisions reproduces these numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbed.runtime import RunContext
from twinbed.scenarios.federated import centralized, model
from twinbed.scenarios.federated.algorithms import (
    ALGORITHMS,
    FRAMEWORK,
    Decision,
    Policy,
    View,
    make_policy,
    policy_state,
)
from twinbed.scenarios.federated.contract import (
    Carried,
    FederatedOutcome,
    FrameDecision,
    FrameFields,
    FrameState,
)
from twinbed.scenarios.federated.games import SocfResult, socf, socf_init
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.seeding import rng

__all__ = ["FederatedWorld", "FrameResult", "frame_record", "play_frame", "run_episode"]


class FrameResult:
    """One played frame: decisions, SOCF trace and outcome."""

    def __init__(self, decision: Decision, Y: np.ndarray, outcome: model.FrameOutcome,
                 socf_result: SocfResult | None, socf_passes: int) -> None:
        self.decision, self.Y, self.outcome = decision, Y, outcome
        self.socf, self.socf_passes = socf_result, socf_passes


def _play_cen(p: FederatedParams, inst: model.Instance, frame: model.Frame, state: model.State,
              g: np.random.Generator) -> tuple[FrameResult, model.State]:
    best: tuple[float, int, int, np.ndarray, int, centralized.CenCtx] | None = None
    for zl in range(1, p.z_levels + 1):
        ell = max(1, p.ell_max // 2)
        Y, passes = centralized.cen_socf(p, centralized.cen_ctx(p, inst, frame, state, zl, ell), g)
        utils = []
        for level in range(1, p.ell_max + 1):
            c = centralized.cen_ctx(p, inst, frame, state, zl, level)
            utils.append(centralized._utility(p, c, Y))
        ell = int(np.argmax(utils)) + 1
        c = centralized.cen_ctx(p, inst, frame, state, zl, ell)
        Y, passes = centralized.cen_socf(p, c, g)
        u = centralized._utility(p, c, Y)
        if best is None or u > best[0]:
            best = (u, zl, ell, Y, passes, c)
    if best is None:
        raise ValueError(f"expected z_levels >= 1, got {p.z_levels}")
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
        policy.observe_time(out.T, p.tau_s)
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



def _pairs(Y: np.ndarray) -> list[tuple[int, int]]:
    return [(int(m), int(n)) for m, n in np.argwhere(Y)]


class FederatedWorld:
    """Deterministic frames of one run; a :class:`twinbed.contract.World`.

    The instance is drawn once. :meth:`play` is the controller's frame (live and in-process);
    in-process, the world carries the state from one frame's outcome to the next frame's
    decision state, as the live cloud does in Redis.
    """

    def __init__(self, p: FederatedParams, seed: int) -> None:
        self.p = p
        self.seed = seed
        self.inst = model.draw_instance(p, seed)
        self._carried = self.initial(p)

    @classmethod
    def for_run(cls, ctx: RunContext[FederatedParams]) -> FederatedWorld:
        """The world of a run (its parameters and seed)."""
        return cls(ctx.params, ctx.run.seed)

    @staticmethod
    def initial(p: FederatedParams) -> Carried:
        """What frame 0 starts from: the historical data, no assignment, no associations."""
        st = model.initial_state(p)
        return Carried(D_bits=st.D_bits.tolist(), assign=st.assign.tolist(), Y=[])

    def frame(self, t: int) -> model.Frame:
        return model.draw_frame(self.p, self.inst, self.seed, t)

    def play(self, state: FrameState, policy: Policy, framework: str) -> FrameDecision:
        """Frame ``state.t`` from the carried state: ``policy`` decides (and learns), SOCF
        forms the coalitions, eqs. (2)-(25) give the outcome and the next carried state."""
        p = self.p
        Y = np.zeros((p.M, p.N), dtype=bool)
        for m, n in state.Y:
            Y[m, n] = True
        D = np.asarray(state.D_bits, dtype=float)
        assign = np.asarray(state.assign, dtype=int)
        if D.shape != (p.K,) or assign.shape != (p.K,):
            raise ValueError(f"expected {p.K} data amounts and assignments, got {D.shape}, "
                             f"{assign.shape}")
        frame = self.frame(state.t)
        st = model.State(t=state.t, D_bits=D, assign=assign, Y=Y)
        res, nxt = play_frame(p, self.inst, frame, st, policy, framework, self.seed)
        rec = frame_record(state.t, res)
        del rec["round"]
        return FrameDecision(
            framework=framework,
            assign=rec["assign"], z=rec["z"], ell=rec["ell"], Y=_pairs(res.Y),
            omega=frame.omega.tolist(), d_bits=frame.d_bits.tolist(),
            record=FrameFields.model_validate(rec),
            next=Carried(D_bits=nxt.D_bits.tolist(), assign=nxt.assign.tolist(),
                         Y=_pairs(nxt.Y), policy=policy_state(policy)))

    # -- twinbed.contract.World -------------------------------------------------------------
    def decision_state(self, round_: int) -> FrameState:
        return FrameState(t=round_, **dict(self._carried))

    def outcome(self, round_: int, modeled_start_s: float, state: FrameState,
                action: FrameDecision) -> FederatedOutcome:
        """The frame as the controller played it; the next frame starts from its ``next``."""
        self._carried = action.next
        return FederatedOutcome(round=round_, modeled_start_s=modeled_start_s,
                                **dict(action.record))
