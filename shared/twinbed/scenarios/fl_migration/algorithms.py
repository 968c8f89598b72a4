"""Association decision makers (kappa^t) and the allocations that go with them.

Every scheme maps the cloud's view of a slot (the instance and the slot state) to an
association and historical-data ratios:

* ``nearest`` (baseline 2): each twin on the nearest edge server that still fits its load at
  gamma = 0 (C2, C3), then the exact allocation of (26);
* ``nearest-random`` (baseline 3): the same association, gamma ~ U[0, 1] per user
  (stream ``rng(seed, "random-gamma", t)``);
* ``greedy-optimum``: a per-slot search over associations, every candidate scored by the
  reward (25) the agents learn from, with its exact allocation: exhaustive when
  S^U <= ``EXHAUSTIVE_MAX``, above that steepest-ascent local search (move one twin at a time)
  from the better of "stay" and ``nearest`` - a stated approximation of the per-slot optimum
  (myopic: it ignores what a migration costs in later slots). ``score="objective"`` scores by
  the objective (22) with C2/C3 violations penalized first (problem 23 for one slot);
* ``ppo``, ``actor-critic``, ``ddpg``: trained SB3 agents (see env.py and policies in spec.py);
  their association goes through :func:`repair` only for ``ddpg`` (continuous scores).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from twinbed.scenarios.fl_migration import allocation as alloc
from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.seeding import rng

__all__ = ["ALGORITHMS", "LEARNED", "EXHAUSTIVE_MAX", "PairTables", "feasible_assign",
           "greedy_optimum", "nearest", "pair_tables", "random_gamma", "server_rewards"]

LEARNED = {"ppo": "ppo", "actor-critic": "a2c", "ddpg": "ddpg"}  # scheme -> SB3 algorithm
ALGORITHMS = ("ppo", "actor-critic", "nearest", "nearest-random", "ddpg", "greedy-optimum")
EXHAUSTIVE_MAX = 20_000


class PairTables(NamedTuple):
    """Everything (26) and (25) need per (user, edge server) pair, shape (U, S)."""

    a0: np.ndarray  # cost at gamma = 0 (migration + sync + compute of new data)
    b0: np.ndarray  # compute cost at gamma = 0
    c: np.ndarray  # cost per unit gamma
    b: np.ndarray  # compute cost per unit gamma
    syn: np.ndarray  # synchronization cost (eq. 14)
    n_new: np.ndarray  # (U,)
    n_prev: np.ndarray  # (U,)
    v: np.ndarray  # (U,)


def pair_tables(p: FlMigrationParams, inst: model.Instance, st: model.SlotState) -> PairTables:
    bits = p.bits_per_sample
    E = p.E_s + p.E_us
    l_mig = inst.l_ss[:, st.prev_assoc].T  # (U, S): distance from u's old server to s
    l_us = model.manhattan(st.user_xy[:, None, :], inst.es_xy[None, :, :])
    unit = p.n_cmp * inst.eps[None, :] * E
    new_bits = (st.n_new * bits)[:, None]
    prev_bits = (st.n_prev * bits)[:, None]
    syn = p.n_syn * new_bits / p.rate_bps * l_us
    b0 = unit * new_bits
    a0 = p.n_mig * l_mig * (new_bits + inst.d_twin_bits[:, None]) + syn + b0
    return PairTables(a0, b0, prev_bits * (p.n_mig * l_mig + unit), prev_bits * unit, syn,
                      st.n_new.astype(float), st.n_prev.astype(float),
                      model.emd_factor(inst.emd, p))


def _problems(tab: PairTables, q: np.ndarray, servers: np.ndarray, members: np.ndarray
              ) -> alloc.ServerProblems:
    """Server problems for (server, member list padded with -1) pairs."""
    mask = members >= 0
    u = np.where(mask, members, 0)
    s = servers[:, None]

    def pick(a: np.ndarray) -> np.ndarray:
        return np.where(mask, a[u, s], 0.0)

    def per_user(a: np.ndarray, fill: float = 0.0) -> np.ndarray:
        return np.where(mask, a[u], fill)

    return alloc.ServerProblems(per_user(tab.n_new), per_user(tab.n_prev), per_user(tab.v, 0.5),
                                pick(tab.c), pick(tab.b), mask, pick(tab.a0).sum(-1),
                                q[servers] - pick(tab.b0).sum(-1))


INFEASIBLE_PENALTY = 1e3  # per unit of C2/C3 violation: feasibility first, then objective


def server_rewards(p: FlMigrationParams, inst: model.Instance, tab: PairTables,
                   servers: np.ndarray, members: np.ndarray, score: str = "objective"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per (server, members) problem with its exact allocation (B, m): its share of the
    objective (22) less ``INFEASIBLE_PENALTY`` per unit of C2/C3 violation (``score=
    "objective"``, problem 23 for one slot), or its share of the reward (25)
    (F_s - B(C^cmp_s - q_s) - B(C^syn_s - p_s), ``score="reward"``)."""
    U, S = tab.a0.shape
    pr = _problems(tab, inst.q, servers, members)
    g, f = alloc.solve_problems(p, U, S, pr)
    mask = members >= 0
    u = np.where(mask, members, 0)
    syn = np.where(mask, tab.syn[u, servers[:, None]], 0.0).sum(-1)
    cmp_ = inst.q[servers] - pr.cap + np.sum(pr.b * g, -1)
    if score == "reward":
        r = f - model.barrier(cmp_ - inst.q[servers], p) - model.barrier(syn - inst.p[servers], p)
    elif score == "objective":
        viol = np.maximum(cmp_ - inst.q[servers], 0.0) + np.maximum(syn - inst.p[servers], 0.0)
        r = f - INFEASIBLE_PENALTY * viol
    else:
        raise ValueError(f"expected score 'objective' or 'reward', got {score!r}")
    return r, g


def _members(assoc: np.ndarray, S: int, extra: int = 0) -> np.ndarray:
    """(S, m) member lists of an association, padded with -1 (``extra`` spare columns)."""
    counts = np.bincount(assoc, minlength=S)
    m = int(counts.max(initial=0)) + extra
    out = -np.ones((S, max(m, 1)), dtype=np.int64)
    order = np.argsort(assoc, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(assoc.shape[0]) - starts[assoc[order]]
    out[assoc[order], slot] = order
    return out


def assoc_reward(p: FlMigrationParams, inst: model.Instance, tab: PairTables,
                 assoc: np.ndarray, score: str = "reward") -> tuple[float, np.ndarray]:
    """Reward (25) (or the penalized objective, see server_rewards) of an association with
    its exact allocation, and that gamma (U,)."""
    S = inst.q.shape[0]
    mem = _members(assoc, S)
    r, g = server_rewards(p, inst, tab, np.arange(S), mem, score)
    gamma = np.zeros(assoc.shape[0])
    ok = mem >= 0
    gamma[mem[ok]] = g[ok]
    return float(np.sum(r)), gamma


def feasible_assign(p: FlMigrationParams, inst: model.Instance, st: model.SlotState,
                    pref: np.ndarray) -> np.ndarray:
    """Each user to its most preferred server (lowest ``pref[u, s]``) that still fits its
    load at gamma = 0 (C2: q_s, C3: p_s), ranks tried in order, users with the strongest
    preference first; a user that fits nowhere keeps its first choice (infeasible)."""
    tab = pair_tables(p, inst, st)
    U, S = pref.shape
    order = np.argsort(pref, axis=1, kind="stable")
    assoc = -np.ones(U, dtype=np.int64)
    q_left = inst.q.astype(float).copy()
    p_left = inst.p.astype(float).copy()
    for k in range(S):
        todo = np.flatnonzero(assoc < 0)
        if todo.size == 0:
            break
        tgt = order[todo, k]
        key = pref[todo, tgt]
        idx = np.lexsort((key, tgt))  # by target, then by preference
        todo, tgt = todo[idx], tgt[idx]
        need_q = tab.b0[todo, tgt]
        need_p = tab.syn[todo, tgt]
        starts = np.r_[0, np.flatnonzero(np.diff(tgt)) + 1]
        grp = np.repeat(starts, np.diff(np.r_[starts, tgt.size]))
        cq = np.cumsum(need_q)
        cp_ = np.cumsum(need_p)
        cq = cq - np.r_[0.0, cq][grp]
        cp_ = cp_ - np.r_[0.0, cp_][grp]
        fits = (cq <= q_left[tgt]) & (cp_ <= p_left[tgt])
        # only a prefix of each group is accepted (later ones would have seen earlier loads)
        fits &= np.maximum.accumulate(np.where(~fits, np.arange(tgt.size), -1)) < grp
        acc = todo[fits]
        assoc[acc] = tgt[fits]
        np.subtract.at(q_left, tgt[fits], need_q[fits])
        np.subtract.at(p_left, tgt[fits], need_p[fits])
    left = assoc < 0
    assoc[left] = order[left, 0]
    return assoc


def nearest(p: FlMigrationParams, inst: model.Instance, st: model.SlotState) -> np.ndarray:
    """Baseline 2's association: nearest feasible edge server."""
    d = model.manhattan(st.user_xy[:, None, :], inst.es_xy[None, :, :])
    return feasible_assign(p, inst, st, d)


def random_gamma(p: FlMigrationParams, seed: int, t: int) -> np.ndarray:
    return rng(seed, "random-gamma", t).uniform(0.0, 1.0, p.U)


def greedy_optimum(p: FlMigrationParams, inst: model.Instance, st: model.SlotState,
                   max_moves: int | None = None, score: str = "reward") -> np.ndarray:
    """The per-slot best association with exact allocations (see module doc): by default by
    the reward (25) the agents learn from; ``score="objective"`` solves problem (23) for one
    slot instead (objective 22, C2/C3 violations penalized first), which packs twins onto few
    servers (see README)."""
    tab = pair_tables(p, inst, st)
    U, S = tab.a0.shape
    if S**U <= EXHAUSTIVE_MAX:
        return _exhaustive(p, inst, tab, U, S, score)
    cands = [np.asarray(st.prev_assoc, np.int64), nearest(p, inst, st)]
    scores = [assoc_reward(p, inst, tab, a, score)[0] for a in cands]
    assoc = cands[int(np.argmax(scores))].copy()
    for _ in range(max_moves if max_moves is not None else 3 * U):
        mem = _members(assoc, S)
        cur, _ = server_rewards(p, inst, tab, np.arange(S), mem, score)
        # removing u from its server: that server's members without u
        rm = np.repeat(mem[assoc][:, None, :], 1, axis=1)[:, 0, :]
        rm = np.where(rm == np.arange(U)[:, None], -1, rm)
        r_rm, _ = server_rewards(p, inst, tab, assoc, rm, score)
        # adding u to server s: s's members plus u
        add = np.concatenate([np.broadcast_to(mem[None], (U, S, mem.shape[1])),
                              np.broadcast_to(np.arange(U)[:, None, None], (U, S, 1))], axis=2)
        srv = np.broadcast_to(np.arange(S)[None, :], (U, S))
        r_add, _ = server_rewards(p, inst, tab, srv.reshape(-1), add.reshape(U * S, -1), score)
        gain = (r_rm - cur[assoc])[:, None] + r_add.reshape(U, S) - cur[None, :]
        gain[np.arange(U), assoc] = -np.inf
        u, s = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if not gain[u, s] > 1e-12:
            break
        assoc[u] = s
    return assoc


def _exhaustive(p: FlMigrationParams, inst: model.Instance, tab: PairTables, U: int, S: int,
                score: str) -> np.ndarray:
    """Every association: each distinct (server, member set) solved once, then summed."""
    subsets = list(itertools.product((0, 1), repeat=U))  # member sets as bit masks
    members = -np.ones((len(subsets), max(U, 1)), dtype=np.int64)
    for i, bits in enumerate(subsets):
        idx = [u for u in range(U) if bits[u]]
        members[i, :len(idx)] = idx
    srv = np.repeat(np.arange(S), len(subsets))
    r, _ = server_rewards(p, inst, tab, srv, np.tile(members, (S, 1)), score)
    table = r.reshape(S, len(subsets))  # reward of server s hosting subset i
    best, best_r = None, -np.inf
    weights = 1 << np.arange(U)[::-1]
    for combo in itertools.product(range(S), repeat=U):
        a = np.asarray(combo)
        total = sum(table[s, int(np.sum(weights * (a == s)))] for s in range(S))
        if total > best_r:
            best, best_r = a, total
    if best is None:
        raise ValueError(f"expected S >= 1 and U >= 1 for the exhaustive search, got S={S}, U={U}")
    return best
