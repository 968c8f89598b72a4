"""The ``compression`` scenario's policy registry: every decision maker of algorithms.py as a
:class:`twinbed.contract.Policy` on the typed decision hop (none is learned: no artifacts)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from twinbed.contract import Policy, RunContext, registry
from twinbed.scenarios.compression.algorithms import ALGORITHMS, Decider
from twinbed.scenarios.compression.contract import AllocationAction, ChannelState
from twinbed.scenarios.compression.params import CompressionParams

__all__ = ["POLICIES", "SUMMARIES"]

SUMMARIES = {
    "fixed-bf": "baseline 3: b_k = B/K, f_k = C_DT/K, sensors play their best response",
    "stackelberg": "Algorithm 1 (live: negotiated between the BS and the sensors)",
    "fixed-f": "baseline 1: f_k = C_DT/K, Algorithm 1 over b and beta",
    "fixed-b": "baseline 2: b_k = B/K, Algorithm 1 over f and beta",
    "no-compression": "baseline 4: beta_k = 1, the leader optimizes b and f",
    "centralized": "baseline 5: the joint optimum of eq. (10) over beta, b, f",
}

def _policy(name: str, scheme: Decider) -> Policy[CompressionParams, ChannelState,
                                                  AllocationAction]:
    def make(ctx: RunContext[CompressionParams]) -> Callable[[ChannelState], AllocationAction]:
        p = ctx.params

        def decide(state: ChannelState) -> AllocationAction:
            H = np.asarray(state.H_gain, dtype=float)
            if H.shape != (p.K,):
                raise ValueError(f"expected {p.K} channel gains, got shape {H.shape}")
            a = scheme(p, H)
            return AllocationAction(
                b_hz=a.b_hz.tolist(), f_hz=a.f_hz.tolist(),
                beta=None if a.beta is None else np.asarray(a.beta, dtype=float).tolist(),
                iterations=int(a.iterations))

        return decide

    return Policy(name, make, SUMMARIES[name])


# fixed-bf stays first: it is the default algorithm (the cheapest, no negotiation)
POLICIES = registry(*(_policy(name, fn) for name, fn in ALGORITHMS.items()))
