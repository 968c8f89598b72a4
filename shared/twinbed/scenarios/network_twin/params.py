"""The paper's parameters (Table I of the seed) plus the reconstructions it leaves open.

Table I: U = 10 users, N = 6 RBs, B = 1 (bandwidth per RB), P = 1 (transmit power),
N0 = 1e-5 (noise PSD), o_u = 1 (mean Rayleigh fading power), l^N = [0, 0] (BS, the centre of
the 100 x 100 area), l^C = [20, 20] (cloud), epsilon = 0.987, D = 0.1 (state size),
gamma = 2.5 (delay bound), M = 5 (GRU input slots), N^h = 128 (GRU hidden units),
alpha = 0.05 (SAC temperature), lambda_pi = 1e-4, lambda_Q = 1e-3 (learning rates),
beta = 0.8 (discount). The paper uses normalised units (B = 1, P = 1): rates are bit/s/Hz, the
delay is in slots of the same unit, positions in grid blocks.

Not in the paper, defaults justified in README.md: the step length ``step_blocks`` (1 block),
the per-user move probabilities (geometric from ``move_prob_min`` to ``move_prob_max``, split
evenly over the four directions), the out-of-area interferers (one per RB per slot, uniform in
the ring of neighbouring cells, ``interferer_ring_blocks``), the minimum distance (1 block),
the RL episode length and the sync period of ``periodic-k``.

Beyond the paper (issue 18): ``mobility="gauss-markov"``, a mobility model with memory, so
that a predictor has something to learn (README.md, "Motion with memory").
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["NetworkTwinParams"]


class NetworkTwinParams(BaseModel):
    """Parameters of the ``network-twin`` scenario. Unknown names are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    U: int = Field(10, ge=1, le=100_000, description="number of users")
    N: int = Field(6, ge=2, le=10_000, description="number of resource blocks")
    B: float = Field(1.0, gt=0, description="bandwidth of one RB (normalised)")
    P: float = Field(1.0, gt=0, description="BS transmit power (normalised)")
    N0: float = Field(1e-5, gt=0, description="noise power spectral density")
    fading_mean: float = Field(1.0, gt=0, description="mean Rayleigh fading power o_u")
    bs_xy: tuple[float, float] = Field((0.0, 0.0), description="BS coordinate l^N, blocks")
    cloud_xy: tuple[float, float] = Field((20.0, 20.0), description="cloud coordinate l^C")
    epsilon: float = Field(0.987, gt=0, lt=1, description="rate weight in (5)")
    D: float = Field(0.1, gt=0, description="size of the network state sent to the cloud")
    gamma: float = Field(2.5, gt=0, description="bound on the cloud-link delay D / c^C")
    M: int = Field(5, ge=1, le=100, description="GRU input: the last M twin states")
    hidden: int = Field(128, ge=1, le=4096, description="GRU hidden units N^h")
    sac_alpha: float = Field(0.05, gt=0, description="SAC entropy temperature alpha")
    lr_pi: float = Field(1e-4, gt=0, description="actor learning rate lambda_pi")
    lr_q: float = Field(1e-3, gt=0, description="critic learning rate lambda_Q")
    discount: float = Field(0.8, gt=0, lt=1, description="discount factor beta")
    # -- reconstructions (not in the paper) -----------------------------------------------
    area_blocks: float = Field(100.0, gt=2, description="side of the square area, centred "
                               "on the BS")
    step_blocks: float = Field(1.0, gt=0, description="distance a user moves in a slot")
    move_prob_min: float = Field(0.002, ge=0, le=1, description="move probability of user 0")
    move_prob_max: float = Field(0.97, ge=0, le=1, description="move probability of user U-1")
    interferer_ring_blocks: tuple[float, float] = Field(
        (50.0, 150.0), description="out-of-area interferers: distance range from the BS")
    min_distance_blocks: float = Field(1.0, gt=0, description="distance floor (path loss)")
    episode_slots: int = Field(30, ge=1, le=100_000, description="RL episode length T "
                               "(the paper's horizon T = 30 of Section IV)")
    sync_period_slots: int = Field(10, ge=1, description="k of the periodic-k agent")
    mobility: Literal["walk", "gauss-markov"] = Field(
        "walk", description="walk: eq. (1), i.i.d. moves (the paper's); gauss-markov: beyond "
        "the paper, each user's velocity is AR(1) with memory gm_memory and the same "
        "per-coordinate step variance as its eq. (1) walk, so motion is predictable")
    gm_memory: float = Field(0.75, ge=0, lt=1, description="Gauss-Markov memory a of the "
                             "velocity (mobility=gauss-markov; 0.75 as in Camp et al. 2002)")
    gru_input: Literal["absolute", "relative"] = Field(
        "absolute", description="the GRU's input: absolute positions scaled by the half side "
        "(the reconstruction the shipped GRU uses), or each window relative to its newest "
        "state in steps (translation-invariant; README.md, 'Motion with memory')")
    predictor: Literal["gru", "hold"] = Field(
        "gru", description="how the twin advances without a sync: the trained GRU, or hold "
        "the last state (no model; for tests and as a reference)")

    @model_validator(mode="after")
    def _check(self) -> NetworkTwinParams:
        if self.move_prob_min > self.move_prob_max:
            raise ValueError(f"expected move_prob_min <= move_prob_max, got "
                             f"{self.move_prob_min} > {self.move_prob_max}")
        lo, hi = self.interferer_ring_blocks
        if not 0 < lo < hi:
            raise ValueError(f"expected 0 < inner < outer interferer ring, got {lo}, {hi}")
        return self

    @property
    def half_blocks(self) -> float:
        return self.area_blocks / 2.0

    def move_probs(self) -> np.ndarray:
        """(U, 5) probabilities of [stay, forward (+y), backward (-y), left (-x), right (+x)]
        (eq. 1): user u moves with probability geometric between min and max, evenly over the
        four directions, so users rise in how dynamic they are."""
        lo, hi = self.move_prob_min, self.move_prob_max
        if self.U == 1:
            m = np.array([hi])
        elif lo == 0.0:
            m = np.linspace(lo, hi, self.U)
        else:
            m = lo * (hi / lo) ** (np.arange(self.U) / (self.U - 1))
        return np.column_stack([1.0 - m, *(m / 4.0 for _ in range(4))])
