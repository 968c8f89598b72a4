"""Eqs. (1)-(25) of the seed, vectorized over users and edge servers.

Notation (shapes): U users, S edge servers. Data sizes in bits; the data utility takes samples
(bits / ``bits_per_sample``, see params.py). ``assoc`` is kappa as an index vector (U,) of edge
servers (C1 and C4 hold by construction); ``gamma`` (U,) are the historical-data ratios (C5).

Per slot t a user u holds ``n_new[u]`` new samples (D_{u,t}) and ``n_prev[u]`` samples of the
previous slot (D_{u,t-1}); it trains on Dbar_{u,t} = D_{u,t} + gamma_u D_{u,t-1} (eq. 3).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.seeding import rng

__all__ = [
    "Costs",
    "Instance",
    "SlotState",
    "barrier",
    "costs",
    "draw_instance",
    "emd_factor",
    "evaluate",
    "first_state",
    "manhattan",
    "mobility_step",
    "nearest_server",
    "next_state",
    "norm",
    "server_coefficients",
    "utility",
]


class Instance(NamedTuple):
    """What stays fixed over a run: edge servers and the users' twins (drawn from the seed)."""

    es_xy: np.ndarray  # (S, 2) m
    q: np.ndarray  # (S,) computation resource q_s
    p: np.ndarray  # (S,) communication resource p_s
    eps: np.ndarray  # (S,) CPU cycles per bit
    d_twin_bits: np.ndarray  # (U,) base twin data
    emd: np.ndarray  # (U,) phi_u
    l_ss: np.ndarray  # (S, S) Manhattan distances between edge servers


class SlotState(NamedTuple):
    """What the cloud's edge-server twins know at the start of slot t (the MDP state)."""

    t: int
    user_xy: np.ndarray  # (U, 2) m
    vel: np.ndarray  # (U, 2) m/slot (Gauss-Markov)
    n_new: np.ndarray  # (U,) samples uploaded in slot t (D_{u,t})
    n_prev: np.ndarray  # (U,) samples of slot t-1 (D_{u,t-1})
    prev_assoc: np.ndarray  # (U,) int, kappa^{t-1}


class Costs(NamedTuple):
    mig: np.ndarray  # (S,) eq. 13
    syn: np.ndarray  # (S,) eq. 14
    cmp: np.ndarray  # (S,) eq. 15
    total: np.ndarray  # (S,) eq. 21
    rho: np.ndarray  # (U,) eq. 11
    dbar_bits: np.ndarray  # (U,) eq. 3


def manhattan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|dx| + |dy| between every row of a (..., 2) and b (..., 2) by broadcasting."""
    return np.abs(a[..., 0] - b[..., 0]) + np.abs(a[..., 1] - b[..., 1])


def draw_instance(p: FlMigrationParams, seed: int) -> Instance:
    """Edge servers uniform in the area with q_s, p_s, eps_s uniform (Table II), users' base
    twin data uniform; stream ``rng(seed, "instance")``."""
    g = rng(seed, "instance")
    es = g.uniform(0.0, p.area_m, size=(p.S, 2))
    q = g.uniform(p.q_low, p.q_high, p.S)
    ps = g.uniform(p.p_s_low, p.p_s_high, p.S)
    eps = g.uniform(p.eps_low, p.eps_high, p.S)
    dtw = g.uniform(p.d_twin_low_bits, p.d_twin_high_bits, p.U)
    emd = np.asarray(p.emd_per_user if p.emd_per_user is not None else [p.emd] * p.U, float)
    return Instance(es, q, ps, eps, dtw, emd, manhattan(es[:, None, :], es[None, :, :]))


def nearest_server(inst: Instance, user_xy: np.ndarray) -> np.ndarray:
    """Index of the edge server closest (Manhattan) to each user."""
    return np.argmin(manhattan(user_xy[:, None, :], inst.es_xy[None, :, :]), axis=1)


def _new_samples(p: FlMigrationParams, seed: int, t: int | str) -> np.ndarray:
    """Samples each user uploads in slot t: U[new_samples_low, new_samples_high]."""
    return rng(seed, "data", t).integers(p.new_samples_low, p.new_samples_high + 1, p.U)


def first_state(p: FlMigrationParams, inst: Instance, seed: int) -> SlotState:
    """Slot 0: users uniform in the area, twins at their nearest server (kappa^{-1}), and a
    previous slot's data already there (the system has been running)."""
    g = rng(seed, "users")
    xy = g.uniform(0.0, p.area_m, size=(p.U, 2))
    vel = (g.normal(p.mobility_mean_m, p.mobility_sigma_m, size=(p.U, 2))
           if p.mobility_sigma_m else np.zeros((p.U, 2)))
    return SlotState(0, xy, vel, _new_samples(p, seed, 0), _new_samples(p, seed, "before"),
                     nearest_server(inst, xy))


def mobility_step(p: FlMigrationParams, xy: np.ndarray, vel: np.ndarray, g: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Markov mobility (Liang & Haas 1999), reflected at the area's border.

    v' = a v + (1 - a) mean + sqrt(1 - a^2) sigma w, w ~ N(0, I); x' = x + v'. The mean
    velocity points along each user's current heading with magnitude ``mobility_mean_m``.
    """
    a = p.mobility_memory
    speed = np.linalg.norm(vel, axis=1, keepdims=True)
    heading = np.divide(vel, speed, out=np.zeros_like(vel), where=speed > 0)
    mean = p.mobility_mean_m * heading
    v = (a * vel + (1 - a) * mean
         + np.sqrt(1 - a * a) * p.mobility_sigma_m * g.standard_normal(vel.shape))
    x = xy + v
    L = p.area_m
    low, high = x < 0, x > L
    x = np.where(low, -x, np.where(high, 2 * L - x, x))
    v = np.where(low | high, -v, v)
    return np.clip(x, 0.0, L), v


def next_state(p: FlMigrationParams, s: SlotState, assoc: np.ndarray, seed: int) -> SlotState:
    """Slot t+1: users move (stream ``rng(seed, "mobility", t+1)``), upload new data; the
    association just used becomes kappa^{t}."""
    t = s.t + 1
    xy, vel = mobility_step(p, s.user_xy, s.vel, rng(seed, "mobility", t))
    return SlotState(t, xy, vel, _new_samples(p, seed, t), s.n_new.copy(),
                     np.asarray(assoc, dtype=np.int64).copy())


def emd_factor(phi: np.ndarray, p: FlMigrationParams) -> np.ndarray:
    """v(phi) of eq. (12)."""
    return p.alpha4 * np.exp(-(((p.alpha5 + phi) / p.alpha6) ** 2))


def utility(n_samples: np.ndarray, phi: np.ndarray, p: FlMigrationParams) -> np.ndarray:
    """rho of eq. (11) for ``n_samples`` training samples and EMD ``phi``."""
    v = emd_factor(np.asarray(phi, float), p)
    x = np.maximum(p.alpha3 * np.asarray(n_samples, float), 0.0)
    return v - p.alpha1 * np.exp(-p.alpha2 * x**v)


def norm(x: np.ndarray, f0: float) -> np.ndarray:
    """Norm(x, f0) = 2 / (1 + exp(-x / (2 f0))) - 1 (= tanh(x / (4 f0)))."""
    return np.tanh(np.asarray(x, float) / (4.0 * f0))


def costs(p: FlMigrationParams, inst: Instance, s: SlotState, assoc: np.ndarray,
          gamma: np.ndarray) -> Costs:
    """Eqs. (3), (11), (13)-(15), (21) for association ``assoc`` and ratios ``gamma``."""
    assoc = np.asarray(assoc, dtype=np.int64)
    gamma = np.asarray(gamma, float)
    bits = p.bits_per_sample
    dbar = (s.n_new + gamma * s.n_prev) * bits
    l_mig = inst.l_ss[assoc, s.prev_assoc]  # 0 when the twin stays
    l_us = manhattan(s.user_xy, inst.es_xy[assoc])
    mig_u = p.n_mig * l_mig * (dbar + inst.d_twin_bits)
    syn_u = p.n_syn * (s.n_new * bits) / p.rate_bps * l_us
    cmp_u = p.n_cmp * inst.eps[assoc] * dbar * (p.E_s + p.E_us)
    S = inst.es_xy.shape[0]
    mig = np.bincount(assoc, mig_u, S)
    syn = np.bincount(assoc, syn_u, S)
    cmp_ = np.bincount(assoc, cmp_u, S)
    rho = utility(dbar / bits, inst.emd, p)
    return Costs(mig, syn, cmp_, mig + syn + cmp_, rho, dbar)


def barrier(x: np.ndarray, p: FlMigrationParams) -> np.ndarray:
    """B(x) of eq. (24), -(1/f) ln(-x) for x < -delta, continued linearly (tangent) above.

    The paper's B is +inf for x >= 0; a learner needs a finite reward, so an infeasible
    action is charged the tangent line at -delta (steep: slope 1 / (f delta))."""
    x = np.asarray(x, float)
    d = p.barrier_delta
    inside = -np.log(np.maximum(-x, d)) / p.barrier_f
    tangent = -np.log(d) / p.barrier_f + (x + d) / (p.barrier_f * d)
    return np.where(x < -d, inside, tangent)


def evaluate(p: FlMigrationParams, inst: Instance, s: SlotState, assoc: np.ndarray,
             gamma: np.ndarray) -> dict[str, float | np.ndarray]:
    """Objective (22), reward (25), feasibility (C2, C3) and the parts, for one slot."""
    c = costs(p, inst, s, assoc, gamma)
    S = inst.es_xy.shape[0]
    util = float(np.mean(c.rho))
    cost_norm = float(np.mean(norm(c.total, p.f0)))
    e = p.beta1 * util - p.beta2 * cost_norm
    r = e - float(np.sum(barrier(c.cmp - inst.q, p))) - float(np.sum(barrier(c.syn - inst.p, p)))
    feasible = bool(np.all(c.cmp <= inst.q) and np.all(c.syn <= inst.p))
    return {"objective": e, "reward": r, "utility": util, "cost_total": float(np.sum(c.total)),
            "cost_norm": cost_norm, "cost_mig": float(np.sum(c.mig)),
            "cost_syn": float(np.sum(c.syn)), "cost_cmp": float(np.sum(c.cmp)),
            "feasible": feasible, "migrations": int(np.sum(assoc != s.prev_assoc)),
            "gamma_mean": float(np.mean(gamma)), "S": S, "costs": c}


def server_coefficients(p: FlMigrationParams, inst: Instance, s: SlotState, assoc: np.ndarray
                        ) -> dict[str, np.ndarray]:
    """Problem (26) per user as affine functions of gamma_u (the allocator's input).

    C_s(gamma) = a0_s + sum_{u in s} c_u gamma_u (eq. 21), C^cmp_s = b0_s + sum b_u gamma_u,
    samples n_u(gamma) = n_new + gamma n_prev.
    """
    assoc = np.asarray(assoc, dtype=np.int64)
    bits = p.bits_per_sample
    E = p.E_s + p.E_us
    l_mig = inst.l_ss[assoc, s.prev_assoc]
    l_us = manhattan(s.user_xy, inst.es_xy[assoc])
    unit_cmp = p.n_cmp * inst.eps[assoc] * E  # energy per bit trained
    new_bits = s.n_new * bits
    prev_bits = s.n_prev * bits
    a0_u = (p.n_mig * l_mig * (new_bits + inst.d_twin_bits)
            + p.n_syn * new_bits / p.rate_bps * l_us + unit_cmp * new_bits)
    S = inst.es_xy.shape[0]
    return {
        "a0": np.bincount(assoc, a0_u, S),
        "b0": np.bincount(assoc, unit_cmp * new_bits, S),
        "c": prev_bits * (p.n_mig * l_mig + unit_cmp),
        "b": prev_bits * unit_cmp,
        "n_new": s.n_new.astype(float),
        "n_prev": s.n_prev.astype(float),
        "v": emd_factor(inst.emd, p),
    }
