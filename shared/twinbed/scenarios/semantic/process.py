"""The slot-by-slot random world of one run: mobility, sensed data sizes, fading.

Slot n of a run with root seed s draws from named streams, so every process (the gymnasium
environment, the in-process simulation, the live sensor and basestation services) sees the same
world for the same seed: initial positions from ``rng(s, "mobility", "init")``, the move into
slot n+1 from ``rng(s, "mobility", n)``, D_k[n] from ``rng(s, "data", n)`` and the Rayleigh
fading of slot n from ``rng(s, "fading", n)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.seeding import rng

__all__ = ["SlotState", "World"]


class SlotState(NamedTuple):
    """What slot n is: positions (K, 2) [m], distances d (K,) [m], D (K,) [bit], |g|^2 (K,)."""

    slot: int
    pos_m: np.ndarray
    d_m: np.ndarray
    D_bits: np.ndarray
    h2: np.ndarray


class World:
    """Deterministic slots of one run (positions are iterated once and cached)."""

    def __init__(self, p: SemanticParams, seed: int) -> None:
        self.p = p
        self.seed = seed
        self._mob = [model.init_mobility(p, rng(seed, "mobility", "init"))]

    def mobility(self, n: int) -> model.Mobility:
        if n < 0:
            raise ValueError(f"expected slot >= 0, got {n}")
        while len(self._mob) <= n:
            k = len(self._mob) - 1
            self._mob.append(model.step_mobility(self.p, self._mob[k], rng(self.seed, "mobility", k)))
        return self._mob[n]

    def slot(self, n: int) -> SlotState:
        pos = self.mobility(n).pos_m
        return SlotState(
            slot=n, pos_m=pos, d_m=model.distance_m(self.p, pos),
            D_bits=model.draw_data_bits(self.p, rng(self.seed, "data", n)),
            h2=model.draw_fading(self.p, rng(self.seed, "fading", n)),
        )
