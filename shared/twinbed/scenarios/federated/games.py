"""The two short-term games of seed 001: Gale-Shapley matching (upper) and SOCF (lower).

- :func:`gale_shapley`: partial-DTs propose to ESs (the ``matching`` package's
  hospital-resident game with capacity 1, resident-optimal), from ranking-value matrices.
- :func:`socf`: Algorithm 1, overlapping coalition formation with the transfer, join and quit
  rules of Definition 7; the potential sum_n U_n never decreases and the loop terminates.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

# `matching` calls warnings.simplefilter("always") when imported, which would turn on every
# warning of every library for the whole process (services printed ResourceWarnings for
# detached children, deprecations of their dependencies): keep the process's filters
with warnings.catch_warnings():
    from matching.games import HospitalResident

from twinbed.scenarios.federated.model import FrameCtx, columns, toggle_utilities
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["SocfResult", "blocking_pairs", "gale_shapley", "gale_shapley_reference",
           "preference_lists", "socf", "socf_init", "socf_reference", "stable_partition"]

_EPS = 1e-9


def preference_lists(scores: np.ndarray) -> list[list[int]]:
    """Row i's preference list: column indices by descending ranking value (ties by index)."""
    scores = np.asarray(scores, dtype=float)
    return np.argsort(-scores, axis=1, kind="stable").tolist()


def _check_shapes(score_k: np.ndarray, score_n: np.ndarray) -> tuple[int, int]:
    K, N = np.shape(score_k)
    if np.shape(score_n) != (N, K) or K > N:
        raise ValueError(f"expected score_k (K, N) and score_n (N, K) with K <= N, got "
                         f"{np.shape(score_k)} and {np.shape(score_n)}")
    return K, N


def gale_shapley(score_k: np.ndarray, score_n: np.ndarray) -> np.ndarray:
    """Stable one-to-one matching of K partial-DTs to N >= K ESs (Definition 5).

    ``score_k`` (K, N): how much partial-DT k likes ES n; ``score_n`` (N, K): how much ES n likes
    partial-DT k. Returns ``assign`` (K,): the ES of each partial-DT.

    Deferred acceptance with the partial-DTs proposing. With strict lists (ties broken by
    index) the partial-DT-optimal stable matching is unique, so this is exactly the ``matching``
    package's resident-optimal hospital-resident solution (:func:`gale_shapley_reference`,
    tested equal); the package builds player objects for every call, which cost 18x this.
    """
    K, N = _check_shapes(score_k, score_n)
    pk = preference_lists(score_k)
    rank_n = np.argsort(np.argsort(-np.asarray(score_n, dtype=float), axis=1, kind="stable"),
                        axis=1).tolist()  # rank_n[n][k]: position of k in ES n's list
    holder = [-1] * N
    nxt = [0] * K
    free = list(range(K - 1, -1, -1))
    while free:
        k = free.pop()
        n = pk[k][nxt[k]]
        nxt[k] += 1
        h = holder[n]
        if h < 0:
            holder[n] = k
        elif rank_n[n][k] < rank_n[n][h]:
            holder[n] = k
            free.append(h)
        else:
            free.append(k)
    assign = np.full(K, -1)
    for n, k in enumerate(holder):
        if k >= 0:
            assign[k] = n
    return assign


def gale_shapley_reference(score_k: np.ndarray, score_n: np.ndarray) -> np.ndarray:
    """:func:`gale_shapley` by the ``matching`` package (hospital-resident game, capacity 1,
    resident-optimal): the reference it is tested against."""

    K, N = _check_shapes(score_k, score_n)
    pk, pn = preference_lists(score_k), preference_lists(score_n)
    game = HospitalResident.create_from_dictionaries(
        {k: pk[k] for k in range(K)}, {n: pn[n] for n in range(N)}, {n: 1 for n in range(N)})
    matching = game.solve(optimal="resident")
    assign = np.full(K, -1)
    for es, members in matching.items():
        for r in members:
            assign[r.name] = es.name
    if (assign < 0).any():  # complete lists and K <= N: every partial-DT is matched
        raise RuntimeError(f"Gale-Shapley left a partial-DT unmatched: {assign}")
    return assign


def blocking_pairs(assign: np.ndarray, score_k: np.ndarray, score_n: np.ndarray
                   ) -> list[tuple[int, int]]:
    """Pairs (k, n) that both prefer each other to their partners (an unmatched ES prefers
    any k)."""
    K, N = np.shape(score_k)
    partner = np.full(N, -1)
    partner[assign] = np.arange(K)
    rank_k = np.argsort(np.argsort(-np.asarray(score_k, float), axis=1, kind="stable"), axis=1)
    rank_n = np.argsort(np.argsort(-np.asarray(score_n, float), axis=1, kind="stable"), axis=1)
    out = []
    for k in range(K):
        for n in range(N):
            if n == assign[k]:
                continue
            k_wants = rank_k[k, n] < rank_k[k, assign[k]]
            n_wants = partner[n] < 0 or rank_n[n, k] < rank_n[n, partner[n]]
            if k_wants and n_wants:
                out.append((k, n))
    return out


class SocfResult(NamedTuple):
    Y: np.ndarray  # (M, N) bool: the stable overlapping coalition partition
    passes: int  # passes over all sensors in which some sensor switched (SOCF iterations)
    moves: int
    potential: list[float]  # sum_n U_n: initially, then after every pass
    move_potential: list[float]  # sum_n U_n after every single switch
    kinds: dict[str, int]  # switches by rule


def socf_init(p: FederatedParams, fc: FrameCtx, g: np.random.Generator,
              y_max: int | None = None) -> np.ndarray:
    """Algorithm 1, lines 1-4: keep the previous coalition (where still eligible), then add
    random eligible sensors (at most half of the free capacity) without violating (8), (14)."""
    y_max = p.Y_max if y_max is None else y_max
    N = fc.eligible.shape[1]
    Y = fc.Y_prev & fc.eligible
    for m in np.flatnonzero(Y.sum(axis=1) > y_max):  # Y_max may have shrunk (NOV)
        on = np.flatnonzero(Y[m])
        Y[m, g.choice(on, len(on) - y_max, replace=False)] = False
    # capacity may have shrunk (z changed): keep a random subset
    for n in np.flatnonzero(Y.sum(axis=0) > fc.cap):
        members = np.flatnonzero(Y[:, n])
        Y[g.choice(members, len(members) - fc.cap[n], replace=False), n] = False
    can_add = fc.eligible & (fc.dk > 0)
    per_sensor = Y.sum(axis=1)  # ESs each sensor is with, kept up to date below
    free = (fc.cap - Y.sum(axis=0)).tolist()  # an ES's picks leave the other ESs' free room
    for n in g.permutation(N).tolist():
        if free[n] <= 0:
            continue
        cand = np.flatnonzero(can_add[:, n] & ~Y[:, n] & (per_sensor < y_max))
        if len(cand):
            pick = g.choice(cand, min(len(cand), (free[n] + 1) // 2), replace=False)
            Y[pick, n] = True
            per_sensor[pick] += 1
    return Y


def _psi(p: FederatedParams, fc: FrameCtx, Y: np.ndarray, n: int) -> np.ndarray:
    """Marginal contributions psi_m(S_n) (eq. 32) of every member of S_n (0 for others)."""
    U, U_tog = toggle_utilities(p, fc, Y)
    return np.where(Y[:, n], U[n] - U_tog[:, n], 0.0)


def _members_ok(p: FederatedParams, fc: FrameCtx, Y: np.ndarray, Y2: np.ndarray, m: int,
                touched: list[int]) -> bool:
    """Rule condition (iii): no other member of a touched coalition loses marginal utility."""
    for n in touched:
        before, after = _psi(p, fc, Y, n), _psi(p, fc, Y2, n)
        others = Y[:, n] & Y2[:, n]
        others[m] = False
        if np.any(after[others] < before[others] - _EPS):
            return False
    return True


def socf(p: FederatedParams, fc: FrameCtx, Y0: np.ndarray, g: np.random.Generator,
         y_max: int | None = None) -> SocfResult:
    """Switch-rules-based overlapping coalition formation (Algorithm 1, Definition 7).

    Sensors take turns in a random order each pass. Sensor m's allowed switches:

    - transfer S_n -> S_n' (m in S_n, not in S_n', n' eligible with a free subcarrier block),
    - join S_n' as an overlap (also |{n: m in S_n}| < Y_max, eq. 8),
    - quit S_n,

    each only if m's coalitional utility u_m = sum_n psi_m(S_n) strictly rises (rule ii); for
    these moves that is exactly a strict rise of sum_n U_n, the potential of Appendix B. With
    ``p.protect_members`` the members of the touched coalitions must also keep their marginal
    contributions (rule iii). The sensor takes its best allowed switch; passes repeat until
    nobody switches.

    The switch loop runs compiled (:mod:`.socf_fast`) and equals :func:`socf_reference`, the
    numpy form, bit for bit (tested); ``p.protect_members`` takes the numpy form.
    """
    if p.protect_members:
        return socf_reference(p, fc, Y0, g, y_max)
    # numba, the one heavy import of this package, is kept out of start-up (socf_fast's doc)
    from twinbed.scenarios.federated.socf_fast import SwitchLoop

    y_max = p.Y_max if y_max is None else y_max
    Y = np.array(Y0, dtype=bool, order="C")
    M = Y.shape[0]
    loop = SwitchLoop(p, fc, Y, y_max)  # Y, U, U_tog updated in place by its switches
    U = loop.U
    potential = [float(U.sum())]
    move_pot: list[float] = []
    kinds = {"transfer": 0, "join": 0, "quit": 0}
    passes = moves = 0
    for _ in range(p.socf_max_passes):
        perm = g.permutation(M)
        i, moved = 0, False
        while True:
            i, _m, n_from, n_to = loop.next_switch(perm, i)
            if i >= M:
                break
            kinds["quit" if n_to < 0 else ("join" if n_from < 0 else "transfer")] += 1
            move_pot.append(float(U.sum()))
            moves += 1
            moved = True
            i += 1
        if not moved:
            break
        passes += 1
        potential.append(float(U.sum()))
    return SocfResult(Y=Y, passes=passes, moves=moves, potential=potential,
                      move_potential=move_pot, kinds=kinds)


def socf_reference(p: FederatedParams, fc: FrameCtx, Y0: np.ndarray, g: np.random.Generator,
                   y_max: int | None = None) -> SocfResult:
    """SOCF as first written: each sensor's candidate switches built and ranked on its turn.

    The specification :func:`socf` must equal exactly (tested on many frames); also the path
    :func:`socf` takes with ``p.protect_members`` (rule iii tries the switches in order of gain).

    Sensors take turns in a random order each pass. Sensor m's allowed switches:

    - transfer S_n -> S_n' (m in S_n, not in S_n', n' eligible with a free subcarrier block),
    - join S_n' as an overlap (also |{n: m in S_n}| < Y_max, eq. 8),
    - quit S_n,

    each only if m's coalitional utility u_m = sum_n psi_m(S_n) strictly rises (rule ii); for
    these moves that is exactly a strict rise of sum_n U_n, the potential of Appendix B. With
    ``p.protect_members`` the members of the touched coalitions must also keep their marginal
    contributions (rule iii). The sensor takes its best allowed switch; passes repeat until
    nobody switches.
    """
    y_max = p.Y_max if y_max is None else y_max
    Y = np.asarray(Y0, dtype=bool).copy()
    M, N = Y.shape
    U, U_tog = toggle_utilities(p, fc, Y)
    potential = [float(U.sum())]
    move_pot: list[float] = []
    kinds = {"transfer": 0, "join": 0, "quit": 0}
    passes = moves = 0
    count = Y.sum(axis=0)
    for _ in range(p.socf_max_passes):
        moved = False
        for m in g.permutation(M):
            member = Y[m]
            delta = U_tog[m] - U  # (N,): gain of adding (non-member) or removing (member)
            room = fc.eligible[m] & ~member & (count < fc.cap)
            src = np.flatnonzero(member)
            dst = np.flatnonzero(room)
            # candidates as (gain, from, to): quits, transfers (every member x room pair), joins
            gains = [delta[src], (delta[src][:, None] + delta[dst][None, :]).ravel()]
            frm = [src, np.repeat(src, len(dst))]
            to = [np.full(len(src), -1), np.tile(dst, len(src))]
            if len(src) < y_max:
                gains.append(delta[dst])
                frm.append(np.full(len(dst), -1))
                to.append(dst)
            gain, n_from_all, n_to_all = (np.concatenate(x) for x in (gains, frm, to))
            ok = gain > _EPS
            if not ok.any():
                continue
            order = np.flatnonzero(ok)[np.argsort(-gain[ok], kind="stable")]
            if not p.protect_members:
                order = order[:1]
            for i in order:
                n_from, n_to = int(n_from_all[i]), int(n_to_all[i])
                Y2 = Y.copy()
                if n_from >= 0:
                    Y2[m, n_from] = False
                if n_to >= 0:
                    Y2[m, n_to] = True
                touched = [x for x in (n_from, n_to) if x >= 0]
                if p.protect_members and not _members_ok(p, fc, Y, Y2, int(m), touched):
                    continue
                kind = "quit" if n_to < 0 else ("join" if n_from < 0 else "transfer")
                Y = Y2
                count = Y.sum(axis=0)
                cols = np.array(touched)  # only the touched ESs' utilities change
                U[cols], U_tog[:, cols] = toggle_utilities(p, columns(fc, cols), Y[:, cols])
                move_pot.append(float(U.sum()))
                kinds[kind] += 1
                moves += 1
                moved = True
                break
        if not moved:
            break
        passes += 1
        potential.append(float(U.sum()))
    return SocfResult(Y=Y, passes=passes, moves=moves, potential=potential,
                      move_potential=move_pot, kinds=kinds)


def stable_partition(p: FederatedParams, fc: FrameCtx, Y: np.ndarray, y_max: int | None = None
                     ) -> bool:
    """True when no single allowed switch (transfer, join, quit) raises sum_n U_n (Def. 6)."""
    y_max = p.Y_max if y_max is None else y_max
    U, U_tog = toggle_utilities(p, fc, Y)
    delta = U_tog - U[None, :]
    count = Y.sum(axis=0)
    for m in range(Y.shape[0]):
        member = Y[m]
        room = fc.eligible[m] & ~member & (count < fc.cap)
        if np.any(delta[m, member] > _EPS):
            return False
        if member.sum() < y_max and np.any(delta[m, room] > _EPS):
            return False
        for n in np.flatnonzero(member):
            if np.any(delta[m, n] + delta[m, room] > _EPS):
                return False
    return True

