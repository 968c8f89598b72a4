"""SOCF's switch loop compiled (numba), equal to :func:`~.games.socf_reference` bit for bit.

:func:`~.games.socf_reference` gives each sensor's turn about thirty small numpy calls and
each switch sixty more; at the paper's size (M = 30, N = 5, ~12 switches per frame) that was
4 ms of a 6 ms environment step. Here one compiled call scans the sensors' turns until a
sensor switches, and re-evaluates the touched ESs' utilities (eq. 27) for the new partition.

Bit-equality with the numpy form is by construction, and tested on thousands of frames
(``tests/scenarios/test_federated_games.py``):

- every elementwise operation is the same IEEE operation in the same order (numba does not
  reassociate or fuse without ``fastmath``);
- the coalition sums are added in numpy's order: ``np.sum(a, axis=0)`` over an (M, c) slice
  adds the sensors one after the other when c >= 2 and by numpy's pairwise summation when
  c = 1 (:func:`twinbed.npsum.pairwise`, as numpy's ``pairwise_sum``);
- ``log1p``, the one transcendental function whose argument changes within a frame, is numpy's
  own: the kernel stops after writing the arguments, ``np.log1p`` evaluates them, and the
  kernel resumes (numpy's SIMD ``log1p`` differs from the C library's in ~2 % of arguments).
  The accuracy term ``A(l)`` (``np.exp2``) is per ES and frame, computed by numpy beforehand.

The environment's fast path (:mod:`.episode`, ``FederatedEnv``; issue 15) plays the rest of a
frame here by the same rules: the frame context (:func:`frame_ctx_arrays`), SOCF's
initialization (:func:`socf_init_prepared`: the candidates compiled, the generator's
``choice`` and ``permutation`` numpy's, same draws), the switch loop with one compiled call
and one ``log1p`` per switch (:func:`socf_prepared`), the outcome (:func:`evaluate_prepared`),
the observation with the utility estimate (:func:`observe_prepared`) and the action's
decoding (:func:`decode_kernel`, Gale-Shapley by stable sorts); each equal to the
frame-by-frame code, tested in ``tests/scenarios/test_federated_envfast.py``.

numba is imported here only, and this module only when SOCF first runs (it adds ~0.5 s to
an import; the CLI and services start without it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from twinbed.npsum import pairwise as _pairwise
from twinbed.scenarios.federated.model import FrameCtx, FrameOutcome, State, accuracy
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["EPS", "Prepared", "SwitchLoop", "decode_kernel", "evaluate_prepared",
           "frame_ctx_arrays", "observe_prepared", "socf_init_prepared", "socf_prepared",
           "socf_switches"]

EPS = 1e-9  # a switch must gain more than this (games._EPS)

# indices into the per-ES table (rows) and the constants vector
_D_PREV, _ACC, _OMEGA, _CRE_J, _CRE_S, _FIX_E, _FIX_T, _ACTIVE, _CAP = range(9)
_VARPI, _QMAX, _L1, _L2, _C, _ZETA, _TAU, _TINT, _REPLAY, _EPS = range(10)


@njit(cache=True)
def _colsum(v: np.ndarray, width: int) -> float:  # pragma: no cover - compiled
    """``np.sum(x, axis=0)`` of one column of an (M, width) array: see the module doc."""
    if width == 1:
        return _pairwise(v)
    s = 0.0
    for x in v:
        s += x
    return s


@njit(cache=True)
def _prepare(cols: np.ndarray, Y: np.ndarray, S: np.ndarray, B: np.ndarray, col: np.ndarray,
             k: np.ndarray, X: np.ndarray, R: np.ndarray) -> None:  # pragma: no cover
    """For each ES ``cols[slot]`` (numpy's slice ``Y[:, cols]``): the aggregates of its
    coalition and of each single-sensor toggle of it (rows 0 and 1 + m, as
    :func:`~.model.toggle_utilities`) in ``R[slot]``; the arguments of log1p,
    ``varpi (D_prev + dD)``, in ``X[slot]``."""
    for slot in range(len(cols)):
        _prepare_one(cols[slot], len(cols), slot, Y, S, B, col, k, X, R)


@njit(cache=True)
def _prepare_one(n: int, width: int, slot: int, Y: np.ndarray, S: np.ndarray, B: np.ndarray,
                 col: np.ndarray, k: np.ndarray, X: np.ndarray, R: np.ndarray
                 ) -> None:  # pragma: no cover - compiled
    M = Y.shape[0]
    tmp = np.empty(M)
    for m in range(M):
        tmp[m] = S[0, m, n] if Y[m, n] else 0.0
    dD = _colsum(tmp, width)
    for m in range(M):
        tmp[m] = S[1, m, n] if Y[m, n] else 0.0
    E = _colsum(tmp, width)
    top1 = 0.0
    top2 = 0.0
    changes = 0
    for m in range(M):
        t = S[2, m, n] if Y[m, n] else 0.0
        if t > top1:
            top2 = top1
            top1 = t
        elif t > top2:
            top2 = t
        if Y[m, n] != B[0, m, n]:
            changes += 1
    d_prev = col[_D_PREV, n]
    R[slot, 0, 0] = dD
    R[slot, 0, 1] = E
    R[slot, 0, 2] = top1  # T_sen = max over members (0 if none)
    R[slot, 0, 3] = changes
    X[slot, 0] = k[_VARPI] * (d_prev + dD)
    for m in range(M):
        r = m + 1
        if Y[m, n]:
            R[slot, r, 0] = dD + (-1.0 * S[0, m, n])
            R[slot, r, 1] = E + (-1.0 * S[1, m, n])
            R[slot, r, 2] = top2 if S[2, m, n] >= top1 else top1
        else:
            R[slot, r, 0] = dD + S[0, m, n]
            R[slot, r, 1] = E + S[1, m, n]
            t = S[2, m, n]
            R[slot, r, 2] = top1 if top1 >= t else t
        R[slot, r, 3] = changes + (-1 if Y[m, n] != B[0, m, n] else 1)
        X[slot, r] = k[_VARPI] * (d_prev + R[slot, r, 0])


@njit(cache=True)
def _finish(cols: np.ndarray, col: np.ndarray, k: np.ndarray, L: np.ndarray, R: np.ndarray,
            U: np.ndarray, U_tog: np.ndarray) -> None:  # pragma: no cover - compiled
    """U_n and the toggles' U_n of the ESs ``cols`` (eq. 27 with the frame-time penalty, as
    :func:`~.model.coalition_utility`) from the aggregates and ``L = log1p(X)``."""
    for slot in range(len(cols)):
        _finish_one(cols[slot], slot, col, k, L, R, U, U_tog)


@njit(cache=True)
def _finish_one(n: int, slot: int, col: np.ndarray, k: np.ndarray, L: np.ndarray,
                R: np.ndarray, U: np.ndarray, U_tog: np.ndarray) -> None:  # pragma: no cover
    M = U_tog.shape[0]
    d_prev = col[_D_PREV, n]
    replay_d = k[_REPLAY] * d_prev
    w = k[_L1] * col[_OMEGA, n]
    active = col[_ACTIVE, n] > 0.0
    for r in range(M + 1):
        x = L[slot, r]
        q = x / (1.0 + x) * col[_ACC, n]
        if q > k[_QMAX]:
            q = k[_QMAX]
        dD = R[slot, r, 0]
        train = dD + replay_d
        E = R[slot, r, 1] + col[_CRE_J, n] * train + col[_FIX_E, n]
        T = R[slot, r, 2] + col[_CRE_S, n] * train + col[_FIX_T, n]
        over = T + k[_TINT] - k[_TAU]
        if over < 0.0:
            over = 0.0
        u = w * q - k[_L2] * E - k[_C] * R[slot, r, 3] - k[_ZETA] * over
        if not active:
            u = 0.0
        if r == 0:
            U[n] = u
        else:
            U_tog[r - 1, n] = u


@njit(cache=True)
def _scan(perm: np.ndarray, i: int, y_max: int, Y: np.ndarray, B: np.ndarray,
          col: np.ndarray, k: np.ndarray, U: np.ndarray, U_tog: np.ndarray,
          count: np.ndarray, move: np.ndarray) -> int:  # pragma: no cover - compiled
    """The turns of ``perm[i:]`` until a sensor switches: its best allowed switch (the first
    of the largest gains, in the reference's order: quits, transfers, joins) if that gains
    more than EPS. Applies it to ``Y`` and ``count``, writes (m, from, to) to ``move`` and
    returns its position in ``perm``; ``len(perm)`` when nobody switched."""
    N = Y.shape[1]
    delta = np.empty(N)
    room = np.empty(N, dtype=np.bool_)
    eps = k[_EPS]
    while i < len(perm):
        m = perm[i]
        members = 0
        for n in range(N):
            delta[n] = U_tog[m, n] - U[n]
            room[n] = B[1, m, n] and not Y[m, n] and count[n] < col[_CAP, n]
            if Y[m, n]:
                members += 1
        best = -np.inf
        frm = -1
        to = -1
        for s in range(N):  # quits
            if Y[m, s] and delta[s] > best:
                best, frm, to = delta[s], s, -1
        for s in range(N):  # transfers s -> d
            if Y[m, s]:
                for d in range(N):
                    if room[d]:
                        g = delta[s] + delta[d]
                        if g > best:
                            best, frm, to = g, s, d
        if members < y_max:  # joins
            for d in range(N):
                if room[d] and delta[d] > best:
                    best, frm, to = delta[d], -1, d
        if best > eps:
            if frm >= 0:
                Y[m, frm] = False
                count[frm] -= 1
            if to >= 0:
                Y[m, to] = True
                count[to] += 1
            move[0], move[1], move[2] = m, frm, to
            return i
        i += 1
    return i


class SwitchLoop:
    """SOCF's switches for one frame context (the numbers of :func:`~.games.socf_reference`).

    ``U`` (N,) and ``U_tog`` (M, N) are :func:`~.model.toggle_utilities` of the partition
    ``Y``, kept up to date as switches change ``Y`` (all three are updated in place)."""

    def __init__(self, p: FederatedParams, fc: FrameCtx, Y: np.ndarray, y_max: int) -> None:
        M, N = Y.shape
        self.Y, self.y_max = Y, y_max
        self.S = np.ascontiguousarray(np.stack([fc.dk, fc.e_sen, fc.t_sen]), dtype=float)
        self.B = np.ascontiguousarray(np.stack([fc.Y_prev, fc.eligible]), dtype=np.bool_)
        self.col = np.stack([fc.D_prev_n, accuracy(p, fc.ell), fc.omega_n, fc.cre_j_per_bit,
                             fc.cre_s_per_bit, fc.fixed_E, fc.fixed_T, fc.active, fc.cap]
                            ).astype(float)
        self.k = np.array([p.varpi_per_bit, p.Q_max, p.lambda1, p.lambda2, p.c_config, p.zeta,
                           p.tau_s, fc.T_int, p.replay, EPS])
        self.count = Y.sum(axis=0).astype(np.int64)
        self.X = np.empty((N, M + 1))
        self.L = np.empty((N, M + 1))
        self.R = np.empty((N, M + 1, 4))
        self.move = np.empty(3, dtype=np.int64)
        self.U = np.empty(N)
        self.U_tog = np.empty((M, N))
        self._update(np.arange(N))  # toggle_utilities(p, fc, Y): all N columns at once

    def _update(self, cols: np.ndarray) -> None:
        """U and U_tog of the ESs ``cols``, as numpy computes them on the slice ``Y[:, cols]``."""
        _prepare(cols, self.Y, self.S, self.B, self.col, self.k, self.X, self.R)
        np.log1p(self.X[:len(cols)], out=self.L[:len(cols)])
        _finish(cols, self.col, self.k, self.L, self.R, self.U, self.U_tog)

    def next_switch(self, perm: np.ndarray, i: int) -> tuple[int, int, int, int]:
        """From turn ``i`` of ``perm``: (position, m, from, to) of the next switch, applied
        with the touched ESs' utilities updated; position ``len(perm)`` if none."""
        i = _scan(perm, i, self.y_max, self.Y, self.B, self.col, self.k, self.U, self.U_tog,
                  self.count, self.move)
        if i >= len(perm):
            return i, -1, -1, -1
        m, frm, to = self.move.tolist()
        # only the touched ESs change: (from, to) of a transfer, the one of a join or quit
        self._update(self.move[1:] if frm >= 0 and to >= 0 else self.move[1 + (frm < 0):][:1])
        return i, m, frm, to


@njit(cache=True)
def _turns(pending: int, cols: np.ndarray, perm: np.ndarray, i: int, y_max: int,
           Y: np.ndarray, S: np.ndarray, B: np.ndarray, col: np.ndarray, k: np.ndarray,
           X: np.ndarray, L: np.ndarray, R: np.ndarray, U: np.ndarray, U_tog: np.ndarray,
           count: np.ndarray, move: np.ndarray) -> tuple[int, int]:  # pragma: no cover
    """One call per switch of :func:`socf_switches`: finish the utilities of the ``pending``
    ESs ``cols`` of the last switch (``L = log1p(X)`` computed by numpy since), scan the turns
    from ``i`` (:func:`_scan`) and, if a sensor switched, prepare the touched ESs' aggregates
    and log1p arguments (``cols``, ``X``). Returns (position, touched ESs); position
    ``len(perm)`` when nobody switched."""
    if pending > 0:
        _finish(cols[:pending], col, k, L, R, U, U_tog)
    i = _scan(perm, i, y_max, Y, B, col, k, U, U_tog, count, move)
    if i >= len(perm):
        return i, 0
    frm, to = move[1], move[2]
    w = 0
    if frm >= 0:
        cols[w] = frm
        w += 1
    if to >= 0:
        cols[w] = to
        w += 1
    _prepare(cols[:w], Y, S, B, col, k, X, R)
    return i, w


def socf_switches(p: FederatedParams, fc: FrameCtx, Y0: np.ndarray, g: np.random.Generator,
                  y_max: int) -> tuple[np.ndarray, int]:
    """(Y, passes) of :func:`~.games.socf` (the same partition, the same draws from ``g``),
    with one compiled call and one numpy ``log1p`` per switch; the potentials and the switch
    kinds, which SOCF's result also records, are not kept (the environment's fast path)."""
    Y = np.array(Y0, dtype=bool, order="C")
    M = Y.shape[0]
    loop = SwitchLoop(p, fc, Y, y_max)
    cols = np.empty(2, dtype=np.int64)
    args = (Y, loop.S, loop.B, loop.col, loop.k, loop.X, loop.L, loop.R, loop.U, loop.U_tog,
            loop.count, loop.move)
    X, L = loop.X, loop.L
    passes = pending = 0
    for _ in range(p.socf_max_passes):
        perm = g.permutation(M)
        i, moved = 0, False
        while True:
            i, pending = _turns(pending, cols, perm, i, y_max, *args)
            if i >= M:
                break
            np.log1p(X[:pending], out=L[:pending])
            moved = True
            i += 1
        if not moved:
            break
        passes += 1
    return Y, passes


# frame_ctx_arrays' float parameters
_FB, _FRMIN, _FPSEN, _FRCLOUD, _FRFIBER, _FPES, _FKAPPA, _FC = range(8)


@njit(cache=True)
def _ctx(assign: np.ndarray, z: np.ndarray, ell: np.ndarray, l2: np.ndarray, d: np.ndarray,
         omega: np.ndarray, D_bits: np.ndarray, st_assign: np.ndarray, S_bits: np.ndarray,
         f_hz: np.ndarray, f2: np.ndarray, fp: np.ndarray, Z_max: int, k_of_n: np.ndarray,
         active: np.ndarray, cap: np.ndarray, rate: np.ndarray, S: np.ndarray, B: np.ndarray,
         Y_prev: np.ndarray, col: np.ndarray, ext: np.ndarray) -> None:  # pragma: no cover
    """:func:`~.model.frame_ctx`'s arithmetic, elementwise as there (see frame_ctx_arrays)."""
    M, N = l2.shape
    K = assign.shape[0]
    for n in range(N):
        k_of_n[n] = -1
    for k in range(K):
        k_of_n[assign[k]] = k
    prev = np.full(N, -2, dtype=np.int64)
    for k in range(K):
        prev[assign[k]] = st_assign[k]
    for n in range(N):
        act = k_of_n[n] >= 0
        a = 1.0 if act else 0.0
        kk = k_of_n[n] if act else 0
        active[n] = act
        zb = float(z[n]) * fp[_FB]
        for m in range(M):
            r = zb * l2[m, n]
            rate[m, n] = r
            dk = d[m, kk] * a
            S[0, m, n] = dk
            B[1, m, n] = (r >= fp[_FRMIN]) and act
            B[0, m, n] = Y_prev[m, n]
            ts = dk / r if dk > 0 else 0.0
            S[2, m, n] = ts
            S[1, m, n] = fp[_FPSEN] * ts
        d_prev = D_bits[kk] * a
        moved = act and prev[n] != n
        r_mig = fp[_FRCLOUD] if prev[n] == -1 else fp[_FRFIBER]
        t_mig = d_prev / r_mig if moved else 0.0
        e_mig = fp[_FPES] * t_mig
        t_up = S_bits[kk] * a / fp[_FRCLOUD]
        e_up = fp[_FPES] * t_up
        c = Z_max // z[n] if act else 0
        cap[n] = c
        col[_D_PREV, n] = d_prev
        col[_OMEGA, n] = omega[kk] * a
        col[_CRE_J, n] = float(ell[n]) * fp[_FKAPPA] * fp[_FC] * f2[n] * a
        col[_CRE_S, n] = float(ell[n]) * fp[_FC] / f_hz[n] * a
        col[_FIX_E, n] = e_mig + e_up
        col[_FIX_T, n] = t_mig + t_up
        col[_ACTIVE, n] = a
        col[_CAP, n] = float(c)
        ext[0, n] = t_mig
        ext[1, n] = e_mig
        ext[2, n] = t_up
        ext[3, n] = e_up


class Prepared:
    """A frame context built by one compiled call (:func:`frame_ctx_arrays`), with the
    arrays the switch loop reads (``S``, ``B``, ``col``, ``k``) laid out already."""

    def __init__(self, fc: FrameCtx, S: np.ndarray, B: np.ndarray, col: np.ndarray,
                 k: np.ndarray, ext: np.ndarray) -> None:
        self.fc, self.S, self.B, self.col, self.k, self.ext = fc, S, B, col, k, ext


def frame_ctx_arrays(p: FederatedParams, assign: np.ndarray, z: np.ndarray, ell: np.ndarray,
                     l2: np.ndarray, d: np.ndarray, omega: np.ndarray, D_bits: np.ndarray,
                     st_assign: np.ndarray, Y_prev: np.ndarray, S_bits: np.ndarray,
                     f_hz: np.ndarray, f2: np.ndarray, acc_table: np.ndarray, T_int: float,
                     E_int: float) -> Prepared:
    """:func:`~.model.frame_ctx` (the same numbers) for a valid ``assign`` and ``z``, ``ell``
    clipped already, from the frame's ``l2 = log2(1 + SINR)`` and data ``d``; ``acc_table``:
    :func:`~.model.accuracy` of the rounds 1 .. ell_max."""
    M, N = l2.shape
    fp = np.array([p.B_sub_hz, p.r_min_bps, p.p_sensor_w, p.r_cloud_bps, p.r_fiber_bps,
                   p.P_es_w, p.kappa, p.C_cycles_per_bit])
    k_of_n = np.empty(N, dtype=np.int64)
    active = np.empty(N, dtype=np.bool_)
    cap = np.empty(N, dtype=np.int64)
    rate = np.empty((M, N))
    S = np.empty((3, M, N))
    B = np.empty((2, M, N), dtype=np.bool_)
    col = np.empty((9, N))
    ext = np.empty((4, N))
    _ctx(assign, z, ell, l2, d, omega, D_bits, st_assign, S_bits, f_hz, f2, fp, p.Z_max,
         k_of_n, active, cap, rate, S, B, Y_prev, col, ext)
    col[_ACC] = acc_table[ell - 1]
    fc = FrameCtx(
        active=active, k_of_n=k_of_n, omega_n=col[_OMEGA], D_prev_n=col[_D_PREV], ell=ell, z=z,
        cap=cap, rate=rate, eligible=B[1], dk=S[0], e_sen=S[1], t_sen=S[2],
        cre_j_per_bit=col[_CRE_J], cre_s_per_bit=col[_CRE_S], fixed_E=col[_FIX_E],
        fixed_T=col[_FIX_T], T_mig=ext[0], E_mig=ext[1], T_up=ext[2], E_up=ext[3],
        Y_prev=Y_prev, T_int=T_int, E_int=E_int)
    k = np.array([p.varpi_per_bit, p.Q_max, p.lambda1, p.lambda2, p.c_config, p.zeta,
                  p.tau_s, T_int, p.replay, EPS])
    return Prepared(fc, S, B, col, k, ext)


def socf_prepared(p: FederatedParams, pre: Prepared, Y0: np.ndarray, g: np.random.Generator,
                  y_max: int) -> tuple[np.ndarray, int]:
    """:func:`socf_switches` on a :class:`Prepared` frame context (the same partition and
    passes)."""
    Y = np.array(Y0, dtype=bool, order="C")
    M, N = Y.shape
    S, B, col, k = pre.S, pre.B, pre.col, pre.k
    count = Y.sum(axis=0).astype(np.int64)
    X = np.empty((N, M + 1))
    L = np.empty((N, M + 1))
    R = np.empty((N, M + 1, 4))
    move = np.empty(3, dtype=np.int64)
    U = np.empty(N)
    U_tog = np.empty((M, N))
    cols = np.arange(max(N, 2), dtype=np.int64)
    _prepare(cols[:N], Y, S, B, col, k, X, R)  # toggle_utilities of every ES, as SwitchLoop
    np.log1p(X[:N], out=L[:N])
    pending = N
    args = (Y, S, B, col, k, X, L, R, U, U_tog, count, move)
    passes = 0
    for _ in range(p.socf_max_passes):
        perm = g.permutation(M)
        i, moved = 0, False
        while True:
            i, pending = _turns(pending, cols, perm, i, y_max, *args)
            if i >= M:
                break
            np.log1p(X[:pending], out=L[:pending])
            moved = True
            i += 1
        if not moved:
            break
        passes += 1
    return Y, passes


@njit(cache=True)
def _eval_sums(Y: np.ndarray, S: np.ndarray, B: np.ndarray, col: np.ndarray, k: np.ndarray,
               Ym: np.ndarray, agg: np.ndarray, X: np.ndarray) -> None:  # pragma: no cover
    """:func:`~.model.evaluate`'s coalition aggregates (:func:`~.model._aggregates` of ``Y``
    restricted to the active ESs, written to ``Ym``) in ``agg`` (4, N) and the arguments of
    log1p in ``X``, ``varpi (D_prev + dD)``."""
    M, N = Y.shape
    tmp = np.empty(M)
    for n in range(N):
        act = col[_ACTIVE, n] > 0.0
        for m in range(M):
            Ym[m, n] = Y[m, n] and act
        for m in range(M):
            tmp[m] = S[0, m, n] * (1.0 if Ym[m, n] else 0.0)
        dD = _colsum(tmp, N)
        for m in range(M):
            tmp[m] = S[1, m, n] * (1.0 if Ym[m, n] else 0.0)
        E = _colsum(tmp, N)
        top = 0.0
        changes = 0
        for m in range(M):
            t = S[2, m, n] if Ym[m, n] else 0.0
            if t > top:
                top = t
            if Ym[m, n] != B[0, m, n]:
                changes += 1
        agg[0, n] = dD
        agg[1, n] = E
        agg[2, n] = top
        agg[3, n] = changes
        X[n] = k[_VARPI] * (col[_D_PREV, n] + dD)


@njit(cache=True)
def _eval_rest(col: np.ndarray, k: np.ndarray, ext: np.ndarray, agg: np.ndarray, L: np.ndarray,
               out: np.ndarray) -> None:  # pragma: no cover
    """The rest of :func:`~.model.evaluate` per ES from ``L = log1p(X)``: rows of ``out`` are
    Q_n, U_n (eq. 27 with the penalty, as :func:`_finish_one`), E_cre, T_cre, T_n."""
    N = col.shape[1]
    for n in range(N):
        a = col[_ACTIVE, n]
        x = L[n]
        q = x / (1.0 + x) * col[_ACC, n]
        if q > k[_QMAX]:
            q = k[_QMAX]
        d_prev = col[_D_PREV, n]
        dD = agg[0, n]
        train = dD + k[_REPLAY] * d_prev
        e_cre = col[_CRE_J, n] * train
        t_cre = col[_CRE_S, n] * train
        E = agg[1, n] + e_cre + col[_FIX_E, n]
        T = agg[2, n] + t_cre + col[_FIX_T, n]
        over = T + k[_TINT] - k[_TAU]
        if over < 0.0:
            over = 0.0
        u = k[_L1] * col[_OMEGA, n] * q - k[_L2] * E - k[_C] * agg[3, n] - k[_ZETA] * over
        out[0, n] = q * a
        out[1, n] = u if a > 0.0 else 0.0
        out[2, n] = e_cre
        out[3, n] = t_cre
        out[4, n] = (agg[2, n] + ext[0, n] + t_cre + ext[2, n]) * a


def evaluate_prepared(p: FederatedParams, pre: Prepared, omega: np.ndarray, state: State,
                      assign: np.ndarray, Y: np.ndarray) -> tuple[FrameOutcome, State]:
    """:func:`~.model.evaluate` (the same outcome and next state, bit for bit) on a
    :class:`Prepared` frame context: the per-ES arithmetic compiled, ``log1p`` numpy's."""
    fc = pre.fc
    Y = np.asarray(Y, dtype=bool)
    M, N = Y.shape
    Ym = np.empty((M, N), dtype=np.bool_)
    agg = np.empty((4, N))
    X = np.empty(N)
    _eval_sums(np.ascontiguousarray(Y), pre.S, pre.B, pre.col, pre.k, Ym, agg, X)
    per = np.empty((5, N))
    _eval_rest(pre.col, pre.k, pre.ext, agg, np.log1p(X), per)
    dD_n, E_sen_n, T_sen_n = agg[0], agg[1], agg[2]
    Q_n, U_n, E_cre, T_cre, T_n = per
    assign = np.asarray(assign, dtype=int)
    Q_k = Q_n[assign]
    dD_k = dD_n[assign]
    Q = float(np.sum(omega * Q_k))
    E_parts = {"sen": float(E_sen_n.sum()), "mig": float(fc.E_mig.sum()),
               "cre": float(E_cre.sum()), "up": float(fc.E_up.sum()), "int": fc.E_int}
    E = float(sum(E_parts.values()))
    T = float(T_n.max(initial=0.0) + fc.T_int)
    changes = int(agg[3].sum())
    U = p.lambda1 * Q - p.lambda2 * E
    penalty = p.zeta * max(0.0, T - p.tau_s)
    new_D = state.D_bits + dD_k
    out = FrameOutcome(
        Q=Q, Q_k=Q_k, new_D_bits=new_D, dD_bits=dD_k, E=E, E_parts=E_parts, T=T,
        T_parts_max={"sen": float(T_sen_n.max(initial=0)), "mig": float(fc.T_mig.max(initial=0)),
                     "cre": float(T_cre.max(initial=0)), "up": float(fc.T_up.max(initial=0)),
                     "int": fc.T_int},
        T_n=T_n, changes=changes, U=U, gain=p.lambda1 * Q,
        cost=p.lambda2 * E + p.c_config * changes,
        perf=U - p.c_config * changes, penalty=penalty, reward=U - p.c_config * changes - penalty,
        U_n=U_n, associations=int(Ym.sum()),
    )
    return out, State(t=state.t + 1, D_bits=state.D_bits + dD_k, assign=assign.copy(), Y=Ym)


@njit(cache=True)
def _candidates(n: int, S: np.ndarray, B: np.ndarray, Y: np.ndarray, per_sensor: np.ndarray,
                y_max: int, out: np.ndarray) -> int:  # pragma: no cover - compiled
    """The sensors ES ``n`` may add (eligible, with data, not in S_n, below Y_max), ascending,
    in ``out``; returns how many."""
    c = 0
    for m in range(Y.shape[0]):
        if B[1, m, n] and S[0, m, n] > 0 and not Y[m, n] and per_sensor[m] < y_max:
            out[c] = m
            c += 1
    return c


def socf_init_prepared(p: FederatedParams, pre: Prepared, g: np.random.Generator, y_max: int
                       ) -> np.ndarray:
    """:func:`~.games.socf_init` (the same partition, the same draws from ``g``) on a
    :class:`Prepared` frame context: each ES's candidates found by one compiled call."""
    fc = pre.fc
    N = fc.eligible.shape[1]
    Y = fc.Y_prev & fc.eligible
    per_sensor = Y.sum(axis=1)
    if (per_sensor > y_max).any():  # Y_max may have shrunk (NOV): as socf_init
        for m in np.flatnonzero(per_sensor > y_max):
            on = np.flatnonzero(Y[m])
            Y[m, g.choice(on, len(on) - y_max, replace=False)] = False
        per_sensor = Y.sum(axis=1)
    count = Y.sum(axis=0)
    if (count > fc.cap).any():  # capacity may have shrunk (z changed): as socf_init
        for n in np.flatnonzero(count > fc.cap):
            members = np.flatnonzero(Y[:, n])
            Y[g.choice(members, len(members) - fc.cap[n], replace=False), n] = False
        per_sensor = Y.sum(axis=1)
        count = Y.sum(axis=0)
    free = (fc.cap - count).tolist()
    buf = np.empty(Y.shape[0], dtype=np.int64)
    for n in g.permutation(N).tolist():
        if free[n] <= 0:
            continue
        c = _candidates(n, pre.S, pre.B, Y, per_sensor, y_max, buf)
        if c:
            pick = g.choice(buf[:c], min(c, (free[n] + 1) // 2), replace=False)
            Y[pick, n] = True
            per_sensor[pick] += 1
    return Y


@njit(cache=True)
def _obs_args(D: np.ndarray, top: np.ndarray, varpi: float, X: np.ndarray
              ) -> None:  # pragma: no cover - compiled
    """The arguments of the observation's two log1p: varpi (D_k + top_kn) for the utility
    estimate's rho (K N, row-major), then D_k varpi for the data feature (K)."""
    K, N = top.shape
    for k in range(K):
        for n in range(N):
            X[k * N + n] = varpi * (D[k] + top[k, n])
    for k in range(K):
        X[K * N + k] = D[k] * varpi


@njit(cache=True)
def _observation(L: np.ndarray, top: np.ndarray, omega: np.ndarray, D: np.ndarray,
                 assign: np.ndarray, Y: np.ndarray, acc: float, e_bit: np.ndarray,
                 f_obs: np.ndarray, c: np.ndarray, t_frac: float, est: np.ndarray,
                 prior: np.ndarray, obs: np.ndarray) -> None:  # pragma: no cover - compiled
    """:func:`~.algorithms.utility_estimate` (``est``), its normalization (``prior``) and the
    env's observation (float32, clipped to [0, c[5]]) from ``L = log1p(X)`` of
    :func:`_obs_args`; ``c``: Q_max, lambda1, lambda2, 1 / r_fiber's divisor r_fiber, P_es,
    OBS_HIGH, Z_max."""
    K, N = top.shape
    q_max, l1, l2, r_fiber, p_es, high, z_max = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    for k in range(K):
        for n in range(N):
            x = L[k * N + n]
            q = x / (1.0 + x) * acc
            if q > q_max:
                q = q_max
            mig = 0.0 if assign[k] == n else D[k] / r_fiber * p_es
            est[k, n] = l1 * omega[k] * q - l2 * (e_bit[n] * top[k, n] + mig)
    lo = est[0, 0]
    hi = est[0, 0]
    for k in range(K):
        for n in range(N):
            v = est[k, n]
            if v < lo:
                lo = v
            if v > hi:
                hi = v
    for k in range(K):
        for n in range(N):
            prior[k, n] = (est[k, n] - lo) / (hi - lo) if hi > lo else 0.0
    placed = True
    for k in range(K):
        if assign[k] < 0:
            placed = False
    out = np.empty(obs.shape[0])
    i = 0
    for k in range(K):
        out[i] = omega[k]
        i += 1
    for k in range(K):
        out[i] = L[K * N + k] / 5.0
        i += 1
    for k in range(K):
        for n in range(N):
            out[i] = 1.0 if placed and assign[k] == n else 0.0
            i += 1
    for n in range(N):
        out[i] = f_obs[n]
        i += 1
    for n in range(N):
        cnt = 0
        for m in range(Y.shape[0]):
            if Y[m, n]:
                cnt += 1
        out[i] = cnt / z_max
        i += 1
    for k in range(K):
        for n in range(N):
            out[i] = prior[k, n]
            i += 1
    out[i] = t_frac
    for j in range(obs.shape[0]):  # numpy's clip: max(x, 0) then min(., high)
        x = out[j]
        x = x if x > 0.0 else 0.0
        x = x if x < high else high
        obs[j] = np.float32(x)


def observe_prepared(p: FederatedParams, top: np.ndarray, omega: np.ndarray, st: State,
                     acc: float, e_bit: np.ndarray, f_obs: np.ndarray, high: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observation, utility estimate, its normalization) of a frame as the env's
    frame-by-frame path computes them (the same numbers), numpy's log1p between two
    compiled calls."""
    K, N = top.shape
    X = np.empty(K * N + K)
    _obs_args(st.D_bits, top, p.varpi_per_bit, X)
    L = np.log1p(X)
    est = np.empty((K, N))
    prior = np.empty((K, N))
    obs = np.empty(2 * K + 2 * K * N + 2 * N + 1, dtype=np.float32)
    c = np.array([p.Q_max, p.lambda1, p.lambda2, p.r_fiber_bps, p.P_es_w, high, p.Z_max])
    _observation(L, top, omega, st.D_bits, st.assign, st.Y, acc, e_bit, f_obs, c,
                 st.t / max(1, p.frames), est, prior, obs)
    return obs, est, prior


@njit(cache=True)
def _gale_shapley(sk: np.ndarray, sn: np.ndarray, assign: np.ndarray
                  ) -> None:  # pragma: no cover - compiled
    """:func:`~.games.gale_shapley` (the same matching): partial-DTs propose in the same order
    down lists sorted stably by descending score."""
    K, N = sk.shape
    pk = np.empty((K, N), dtype=np.int64)
    for k in range(K):
        pk[k] = np.argsort(-sk[k], kind="mergesort")
    rank_n = np.empty((N, K), dtype=np.int64)
    for n in range(N):
        order = np.argsort(-sn[n], kind="mergesort")
        for pos in range(K):
            rank_n[n, order[pos]] = pos
    holder = np.full(N, -1, dtype=np.int64)
    nxt = np.zeros(K, dtype=np.int64)
    free = np.empty(K, dtype=np.int64)  # a stack: k = 0 on top first, as the list's pop()
    top = 0
    for k in range(K - 1, -1, -1):
        free[top] = k
        top += 1
    while top > 0:
        top -= 1
        k = free[top]
        n = pk[k, nxt[k]]
        nxt[k] += 1
        h = holder[n]
        if h < 0:
            holder[n] = k
        elif rank_n[n, k] < rank_n[n, h]:
            holder[n] = k
            free[top] = h
            top += 1
        else:
            free[top] = k
            top += 1
    for k in range(K):
        assign[k] = -1
    for n in range(N):
        if holder[n] >= 0:
            assign[holder[n]] = n


@njit(cache=True)
def decode_kernel(a: np.ndarray, prior: np.ndarray, ell_max: int, ell_levels: int,
                  pref: float, assign: np.ndarray, ell: np.ndarray, z: np.ndarray
                  ) -> None:  # pragma: no cover - compiled
    """:func:`~.env.decode_action` of a valid action: rounds, subcarriers, and the
    Gale-Shapley matching on the prior with each side's first choice raised by ``pref``."""
    K, N = prior.shape
    for n in range(N):
        ell[n] = int(np.ceil(float((a[n] + 1) * ell_max) / float(ell_levels)))
        z[n] = a[N + n] + 1
    sk = prior.copy()
    for k in range(K):
        sk[k, a[2 * N + k]] += pref
    sn = np.empty((N, K))
    for n in range(N):
        for k in range(K):
            sn[n, k] = prior[k, n]
        sn[n, a[2 * N + K + n]] += pref
    _gale_shapley(sk, sn, assign)
