"""A federated episode drawn at reset, and a frame's context on it in one compiled call.

:class:`FederatedEnv` (its fast path, issue 15) draws the frames of an episode when it resets
(a block of up to :attr:`Episode.BLOCK` frames, the next one when a step reaches it): the
frames' named streams ``rng(seed, "federated", "frame", t)`` and SOCF's
``rng(seed, "federated", "socf", t)`` of the block's frames mixed at once
(:func:`twinbed.seeding.rngs`, the same generators), each frame's draws taken from its own
stream in :func:`~.model.draw_frame`'s order, and what depends on the frame only (the channel's
``log2(1 + SINR)``, the utility estimate's best-sensor sums) computed for the block's frames
in one vectorized pass. What is left per step depends on the decision and the carried state:
the frame context, SOCF and the outcome run in compiled calls (:mod:`.socf_fast`: the
``*_prepared`` functions), with numpy's ``log1p`` between them.

Every number equals the frame-by-frame path's (:func:`~.model.draw_frame`,
:func:`~.algorithms.utility_estimate`, :func:`~.model.frame_ctx`, :func:`~.world.play_frame`),
bit for bit: the elementwise operations are the same IEEE operations in the same order on the
same values (numpy evaluates an elementwise function the same way for an element whatever
array holds it), the sums add in the same order, and the generators draw the same numbers in
the same order. ``tests/scenarios/test_federated_envfast.py`` checks it against the kept path
(``FederatedEnv(reference=True)``) with ``np.array_equal`` and ``==``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.seeding import rngs

if TYPE_CHECKING:
    from twinbed.scenarios.federated.socf_fast import Prepared

__all__ = ["Episode", "frame_ctx"]


class Episode:
    """The draws of the frames of instance ``inst`` under ``seed``, a block of at most
    :attr:`BLOCK` frames at a time (``frames`` of them at reset, if fewer), the next block
    drawn when a step reaches it: a long episode does not hold its whole draw. The block's
    arrays are indexed by :meth:`at`."""

    BLOCK = 128

    def __init__(self, p: FederatedParams, inst: model.Instance, seed: int, frames: int) -> None:
        self.p, self.inst, self.seed = p, inst, seed
        self.block = max(1, min(frames, self.BLOCK))
        # instance constants, computed as the frame-by-frame path computes them each frame
        pl_db = p.pathloss_db_at_1km + p.pathloss_slope_db * np.log10(inst.dist_m / 1000.0)
        self._lin = 10.0 ** (-pl_db / 10.0)
        self._w_keep = (1.0 - p.weight_drift) * inst.w_base
        self._noise = p.noise_w
        self.T_int, self.E_int = model.integration(p, inst)
        self.f2 = inst.f_hz ** 2
        ell = p.ell_max // 2  # utility_estimate's default rounds
        self.est_acc = model.accuracy(p, ell)
        self.est_e_bit = ell * p.kappa * p.C_cycles_per_bit * inst.f_hz ** 2
        self.f_obs = inst.f_hz / p.f_max_hz
        self.acc_table = model.accuracy(p, np.arange(1, p.ell_max + 1))  # A(l), l = 1 .. l_max
        self.t0 = self.n = 0  # the block holds frames t0 .. t0 + n - 1
        self._draw(0, self.block)

    def _draw(self, t0: int, count: int) -> None:
        p = self.p
        M, N, K = p.M, p.N, p.K
        gens = rngs(self.seed, "federated", "frame", last=range(t0, t0 + count))
        D = np.empty((count, K))
        X = np.empty((count, M, N))
        I_ = np.empty((count, N))
        Ud = np.empty((count, M, K))
        ones = np.ones(K)
        for i, g in enumerate(gens):  # draw_frame's order within each frame's stream
            D[i] = g.dirichlet(ones)
            X[i] = g.exponential(1.0, (M, N))
            I_[i] = g.exponential(p.interference_w, N)
            Ud[i] = g.uniform(p.d_min_bits, p.d_max_bits, (M, K))
        omega = self._w_keep + p.weight_drift * D
        gain = self._lin * X
        d = Ud * self.inst.relevant
        sinr = p.p_sensor_w * gain / (I_ + self._noise)[:, None, :]
        l2 = np.log2(1.0 + sinr)
        # utility_estimate's frame-only part: per (k, n) the data of the best Z_max eligible
        # sensors (one subcarrier each), added in row order as there
        elig = 1.0 * p.B_sub_hz * l2 >= p.r_min_bps
        best = -np.sort(-(np.swapaxes(d, 1, 2)[:, :, :, None] * elig[:, None]), axis=2)
        best = best[:, :, :p.Z_max]
        if N > 1:
            top = best.sum(axis=2)
        else:  # a single column is added pairwise there: the same call per (frame, k)
            top = np.stack([np.stack([best[i, k].sum(axis=0) for k in range(K)])
                            for i in range(count)])
        self.omega, self.gain, self.interf, self.d_bits = omega, gain, I_, d
        self.l2, self.top = l2, top
        self.socf_g = rngs(self.seed, "federated", "socf", last=range(t0, t0 + count))
        self.t0, self.n = t0, count

    def at(self, t: int) -> int:
        """The index of frame ``t`` in the block's arrays (the block drawn first if it does not
        hold t)."""
        i = t - self.t0
        if not 0 <= i < self.n:
            self._draw(t, self.block)
            i = 0
        return i

    def frame(self, t: int) -> model.Frame:
        """Frame t as :func:`~.model.draw_frame` gives it."""
        i = self.at(t)
        return model.Frame(t=t, omega=self.omega[i], gain=self.gain[i],
                           interference_w=self.interf[i], d_bits=self.d_bits[i])

    def estimate(self, t: int, st: model.State) -> np.ndarray:
        """:func:`~.algorithms.utility_estimate` of frame t in state ``st`` (default rounds)."""
        p = self.p
        i = self.at(t)
        top = self.top[i]
        Q = np.minimum(p.Q_max, model.rho(p, st.D_bits[:, None] + top) * self.est_acc)
        mig = np.where(st.assign[:, None] == np.arange(p.N)[None, :], 0.0,
                       (st.D_bits / p.r_fiber_bps * p.P_es_w)[:, None])
        return (p.lambda1 * self.omega[i][:, None] * Q
                - p.lambda2 * (self.est_e_bit[None, :] * top + mig))


def frame_ctx(p: FederatedParams, ep: Episode, t: int, state: model.State, assign: np.ndarray,
              z: np.ndarray, ell: np.ndarray) -> Prepared:
    """:func:`~.model.frame_ctx` of frame ``t`` of the episode (the same numbers) in one
    compiled call, from the frame's channel term drawn at reset and the instance's constants;
    with the arrays SOCF's switch loop reads (:class:`~.socf_fast.Prepared`)."""
    from twinbed.scenarios.federated.socf_fast import frame_ctx_arrays

    assign = np.asarray(assign, dtype=int)
    K, N = p.K, p.N
    if assign.shape != (K,) or len(set(assign.tolist())) != K or assign.min() < 0 \
            or assign.max() >= N:
        raise ValueError(f"expected assign: K={K} distinct ES indices in [0, {N}), "
                         f"got {assign}")
    z = np.minimum(np.maximum(np.asarray(z, dtype=int), 1), p.z_levels)
    ell = np.minimum(np.maximum(np.asarray(ell, dtype=int), 1), p.ell_max)
    i = ep.at(t)
    return frame_ctx_arrays(p, assign, z, ell, ep.l2[i], ep.d_bits[i], ep.omega[i],
                            state.D_bits, state.assign, state.Y, ep.inst.S_bits, ep.inst.f_hz,
                            ep.f2, ep.acc_table, ep.T_int, ep.E_int)
