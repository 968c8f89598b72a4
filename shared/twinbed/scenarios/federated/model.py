"""The system model of seed 001, eqs. (1)-(25) and the frame-time constraint, vectorized.

Indices: k partial-DT (K), n edge server (N), m sensor (M). A frame's decisions are

- ``assign`` (K,) int: the ES creating partial-DT k (x_{k,n} = 1, eq. 3: a permutation slice),
- ``Y`` (M, N) bool: ES-sensor associations y_{m,n} (overlaps allowed, eq. 8),
- ``z`` (N,) int: subcarriers each associated sensor gets from ES n (so |S_n| z_n <= Z_max, eq. 14),
- ``ell`` (N,) int: training rounds of ES n (eq. 5).

Everything an ES's utility needs is gathered once per frame in :class:`FrameCtx`; then
:func:`coalition_utility` evaluates U_n (eq. 27 with the frame-time penalty) for whole arrays
of candidate coalitions (SOCF evaluates every single-sensor toggle at once).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from twinbed.scenarios.federated.params import FederatedParams
from twinbed.seeding import rng

__all__ = [
    "Frame",
    "FrameCtx",
    "FrameOutcome",
    "Instance",
    "State",
    "accuracy",
    "coalition_utility",
    "columns",
    "draw_frame",
    "draw_instance",
    "es_utilities",
    "evaluate",
    "frame_ctx",
    "initial_state",
    "integration",
    "quality",
    "rates_bps",
    "rho",
    "toggle_utilities",
]


class Instance(NamedTuple):
    """What stays fixed over a run: geometry, CPUs, model sizes, which data each sensor sees."""

    es_xy_m: np.ndarray  # (N, 2)
    sensor_xy_m: np.ndarray  # (M, 2)
    dist_m: np.ndarray  # (M, N)
    f_hz: np.ndarray  # (N,)
    S_bits: np.ndarray  # (K,)
    relevant: np.ndarray  # (M, K) bool: sensor m senses feature data for partial-DT k
    w_base: np.ndarray  # (K,) long-run importance weights


class Frame(NamedTuple):
    """One frame's random state (eq. 13 channels, eq. 7 data amounts, importance weights)."""

    t: int
    omega: np.ndarray  # (K,) importance weights, sum 1
    gain: np.ndarray  # (M, N) channel power gain (path loss x Rayleigh)
    interference_w: np.ndarray  # (N,) co-channel interference per subcarrier at ES n
    d_bits: np.ndarray  # (M, K) feature data sensor m can deliver for partial-DT k


class State(NamedTuple):
    """What links frames: cumulative data, last assignment, last associations."""

    t: int
    D_bits: np.ndarray  # (K,) cumulative data D_k^{t-1} (= historical data H_k^{t-1})
    assign: np.ndarray  # (K,) ES of each partial-DT in t-1, -1 before the first frame
    Y: np.ndarray  # (M, N) bool associations of t-1


def draw_instance(p: FederatedParams, seed: int) -> Instance:
    g = rng(seed, "federated", "instance")
    es = g.uniform(0, p.area_m, (p.N, 2))
    se = g.uniform(0, p.area_m, (p.M, 2))
    dist = np.maximum(np.linalg.norm(se[:, None, :] - es[None, :, :], axis=2), 1.0)
    return Instance(
        es_xy_m=es, sensor_xy_m=se, dist_m=dist,
        f_hz=g.uniform(p.f_min_hz, p.f_max_hz, p.N),
        S_bits=g.uniform(p.S_min_bits, p.S_max_bits, p.K),
        relevant=g.random((p.M, p.K)) < p.relevance,
        w_base=g.dirichlet(np.ones(p.K)),
    )


def draw_frame(p: FederatedParams, inst: Instance, seed: int, t: int) -> Frame:
    """Frame t's draws, from the named stream ``rng(seed, "federated", "frame", t)``.

    Importance weights: (1 - drift) w_base + drift Dirichlet(1) (time-varying around a base);
    fading: Rayleigh |h|^2 ~ Exp(1), frequency-flat over an ES's subcarriers; interference:
    Exp(mean interference_dbm) per ES; data: U[d_min, d_max] where the sensor is relevant.
    """
    g = rng(seed, "federated", "frame", t)
    omega = (1.0 - p.weight_drift) * inst.w_base + p.weight_drift * g.dirichlet(np.ones(p.K))
    pl_db = p.pathloss_db_at_1km + p.pathloss_slope_db * np.log10(inst.dist_m / 1000.0)
    gain = 10.0 ** (-pl_db / 10.0) * g.exponential(1.0, (p.M, p.N))
    interf = g.exponential(p.interference_w, p.N)
    d = g.uniform(p.d_min_bits, p.d_max_bits, (p.M, p.K)) * inst.relevant
    return Frame(t=t, omega=omega, gain=gain, interference_w=interf, d_bits=d)


def initial_state(p: FederatedParams) -> State:
    return State(t=0, D_bits=np.full(p.K, p.H0_bits), assign=np.full(p.K, -1),
                 Y=np.zeros((p.M, p.N), dtype=bool))


# -- eqs. (4)-(6) ----------------------------------------------------------------------------
def rho(p: FederatedParams, D_bits: np.ndarray | float) -> np.ndarray:
    """Data discount of eq. (4): log normalisation ln(1 + w D) / (1 + ln(1 + w D)), in [0, 1)."""
    x = np.log1p(p.varpi_per_bit * np.asarray(D_bits, dtype=float))
    return x / (1.0 + x)


def accuracy(p: FederatedParams, ell: np.ndarray | float) -> np.ndarray:
    """A(l) = 1 - 2^(-l/v): the accuracy after l rounds (inverting Yang et al. [19], Lemma 1)."""
    return 1.0 - np.exp2(-np.asarray(ell, dtype=float) / p.v)


def quality(p: FederatedParams, D_bits: np.ndarray | float, ell: np.ndarray | float) -> np.ndarray:
    """Eq. (4): Q = min(Q_max, rho(D) A(l))."""
    return np.minimum(p.Q_max, rho(p, D_bits) * accuracy(p, ell))


# -- eq. (13) --------------------------------------------------------------------------------
def rates_bps(p: FederatedParams, frame: Frame, z: np.ndarray) -> np.ndarray:
    """Eq. (13): r_{m,n} = z_n B log2(1 + p g / (I_n + sigma^2)), shape (M, N)."""
    sinr = p.p_sensor_w * frame.gain / (frame.interference_w + p.noise_w)[None, :]
    return np.asarray(z, dtype=float)[None, :] * p.B_sub_hz * np.log2(1.0 + sinr)


def integration(p: FederatedParams, inst: Instance) -> tuple[float, float]:
    """Eqs. (21)-(22): cloud integration latency and energy (independent of the decisions)."""
    T = float(np.sum(p.C_cloud_cycles_per_bit * inst.S_bits) / p.f_cloud_hz)
    power = p.theta1_j_per_instr * p.nu_instr_per_s + p.theta2_w + p.theta3_w
    E = float(p.K * power * p.I_instr / p.nu_instr_per_s)
    return T, E


class FrameCtx(NamedTuple):
    """Per-ES constants of one frame given (assign, z, ell): what U_n(S) needs besides S."""

    active: np.ndarray  # (N,) bool: ES creates a partial-DT
    k_of_n: np.ndarray  # (N,) partial-DT of ES n, -1 if idle
    omega_n: np.ndarray  # (N,)
    D_prev_n: np.ndarray  # (N,) historical data of ES n's partial-DT
    ell: np.ndarray  # (N,)
    z: np.ndarray  # (N,)
    cap: np.ndarray  # (N,) sensors ES n can serve: Z_max // z_n (0 if idle)
    rate: np.ndarray  # (M, N)
    eligible: np.ndarray  # (M, N) bool: (25c) and ES active
    dk: np.ndarray  # (M, N) data sensor m delivers to ES n's partial-DT
    e_sen: np.ndarray  # (M, N) eq. (12) term p d / r
    t_sen: np.ndarray  # (M, N) eq. (11) term d / r
    cre_j_per_bit: np.ndarray  # (N,) eq. (18) per bit of training data: l kappa C f^2
    cre_s_per_bit: np.ndarray  # (N,) eq. (17) per bit: l C / f
    fixed_E: np.ndarray  # (N,) migration + upload energy (eqs. 16, 20)
    fixed_T: np.ndarray  # (N,) migration + upload latency (eqs. 15, 19)
    T_mig: np.ndarray
    E_mig: np.ndarray
    T_up: np.ndarray
    E_up: np.ndarray
    Y_prev: np.ndarray  # (M, N) bool
    T_int: float
    E_int: float


def frame_ctx(p: FederatedParams, inst: Instance, frame: Frame, state: State,
              assign: np.ndarray, z: np.ndarray, ell: np.ndarray) -> FrameCtx:
    assign = np.asarray(assign, dtype=int)
    if assign.shape != (p.K,) or len(set(assign.tolist())) != p.K or assign.min() < 0 \
            or assign.max() >= p.N:
        raise ValueError(f"expected assign: K={p.K} distinct ES indices in [0, {p.N}), "
                         f"got {assign}")
    z = np.minimum(np.maximum(np.asarray(z, dtype=int), 1), p.z_levels)
    ell = np.minimum(np.maximum(np.asarray(ell, dtype=int), 1), p.ell_max)
    k_of_n = np.full(p.N, -1)
    k_of_n[assign] = np.arange(p.K)
    active = k_of_n >= 0
    kk = np.where(active, k_of_n, 0)
    rate = rates_bps(p, frame, z)
    dk = frame.d_bits[:, kk] * active[None, :]
    eligible = (rate >= p.r_min_bps) & active[None, :]
    t_sen = np.divide(dk, rate, out=np.zeros_like(dk), where=dk > 0)
    D_prev = state.D_bits[kk] * active
    # migration (15)-(16): from last frame's ES (the cloud holds the data before frame 0)
    prev = np.full(p.N, -2)
    prev[assign] = state.assign
    moved = active & (prev != np.arange(p.N))
    r_mig = np.where(prev == -1, p.r_cloud_bps, p.r_fiber_bps)
    T_mig = np.where(moved, D_prev / r_mig, 0.0)
    E_mig = p.P_es_w * T_mig
    S_n = inst.S_bits[kk] * active
    T_up = S_n / p.r_cloud_bps
    E_up = p.P_es_w * T_up
    T_int, E_int = integration(p, inst)
    return FrameCtx(
        active=active, k_of_n=k_of_n, omega_n=frame.omega[kk] * active, D_prev_n=D_prev,
        ell=ell, z=z, cap=np.where(active, p.Z_max // z, 0), rate=rate, eligible=eligible,
        dk=dk, e_sen=p.p_sensor_w * t_sen, t_sen=t_sen,
        cre_j_per_bit=ell * p.kappa * p.C_cycles_per_bit * inst.f_hz ** 2 * active,
        cre_s_per_bit=ell * p.C_cycles_per_bit / inst.f_hz * active,
        fixed_E=E_mig + E_up, fixed_T=T_mig + T_up, T_mig=T_mig, E_mig=E_mig, T_up=T_up,
        E_up=E_up, Y_prev=state.Y, T_int=T_int, E_int=E_int,
    )


def coalition_utility(p: FederatedParams, fc: FrameCtx, dD: np.ndarray, E_sen: np.ndarray,
                      T_sen: np.ndarray, changes: np.ndarray) -> np.ndarray:
    """U_n (eq. 27) minus zeta max(0, T_n + T_int - tau), for arrays shaped (..., N).

    ``dD`` new data of the coalition (eq. 7), ``E_sen`` its sensing energy (12), ``T_sen`` its
    sensing latency (11), ``changes`` its association changes against the previous frame.
    Idle ESs have utility 0.
    """
    D = fc.D_prev_n + dD
    Q = quality(p, D, fc.ell)
    train = dD + p.replay * fc.D_prev_n  # training set of eqs. (17)-(18)
    E = E_sen + fc.cre_j_per_bit * train + fc.fixed_E
    T = T_sen + fc.cre_s_per_bit * train + fc.fixed_T
    U = (p.lambda1 * fc.omega_n * Q - p.lambda2 * E - p.c_config * changes
         - p.zeta * np.maximum(0.0, T + fc.T_int - p.tau_s))
    return np.where(fc.active, U, 0.0)


def _aggregates(fc: FrameCtx, Y: np.ndarray) -> tuple[np.ndarray, ...]:
    dD = np.sum(fc.dk * Y, axis=0)
    E_sen = np.sum(fc.e_sen * Y, axis=0)
    T_sen = np.max(np.where(Y, fc.t_sen, 0.0), axis=0, initial=0.0)
    changes = np.sum(Y != fc.Y_prev, axis=0)
    return dD, E_sen, T_sen, changes


def es_utilities(p: FederatedParams, fc: FrameCtx, Y: np.ndarray) -> np.ndarray:
    """U_n(S_n) for the coalitions in ``Y`` (M, N), shape (N,)."""
    return coalition_utility(p, fc, *_aggregates(fc, Y))


def columns(fc: FrameCtx, cols: np.ndarray) -> FrameCtx:
    """The frame context restricted to the ESs ``cols`` (every per-ES array sliced)."""
    N = fc.active.shape[0]
    out: dict[str, Any] = {}
    for name, v in fc._asdict().items():
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[-1] == N:
            out[name] = v[..., cols]
        else:
            out[name] = v
    return FrameCtx(**out)


def toggle_utilities(p: FederatedParams, fc: FrameCtx, Y: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(U_n(S_n), U_n(S_n toggled by m)) for every (m, n) at once: shapes (N,), (M, N).

    Toggling adds m to S_n if absent and removes it if present. The sensing latency is a max,
    so removing the member with the largest d/r falls back to the second largest.
    """
    dD, E_sen, T_sen, changes = _aggregates(fc, Y)
    U = coalition_utility(p, fc, dD, E_sen, T_sen, changes)
    sign = np.where(Y, -1.0, 1.0)
    tm = np.where(Y, fc.t_sen, 0.0)
    if Y.shape[0] >= 2:
        top2 = -np.partition(-tm, 1, axis=0)[:2]  # (2, N): largest, second largest
    else:
        top2 = np.vstack([tm.max(axis=0, initial=0.0), np.zeros(Y.shape[1])])
    T_rem = np.where(tm >= top2[0][None, :], top2[1][None, :], top2[0][None, :])
    T_add = np.maximum(T_sen[None, :], fc.t_sen)
    T_tog = np.where(Y, T_rem, T_add)
    flip = np.where(Y != fc.Y_prev, -1, 1)
    U_tog = coalition_utility(p, fc, dD[None, :] + sign * fc.dk, E_sen[None, :] + sign * fc.e_sen,
                              T_tog, changes[None, :] + flip)
    return U, U_tog


class FrameOutcome(NamedTuple):
    """Everything eqs. (2)-(25) say about one frame, plus the DMO penalty."""

    Q: float  # eq. (2)
    Q_k: np.ndarray  # (K,) partial-DT qualities
    new_D_bits: np.ndarray  # (K,) D_k^t
    dD_bits: np.ndarray  # (K,)
    E: float  # eq. (10)
    E_parts: dict[str, float]  # sen, mig, cre, up, int
    T: float  # eq. (9)
    T_parts_max: dict[str, float]  # per phase, max over ESs
    T_n: np.ndarray  # (N,) preparation latency per ES
    changes: int  # eq. (24)
    U: float  # eq. (23)
    gain: float  # lambda1 Q
    cost: float  # lambda2 E + c changes
    perf: float  # U - c changes (the summand of eq. 24)
    penalty: float  # zeta max(0, T - tau)
    reward: float  # perf - penalty
    U_n: np.ndarray  # (N,) ES utilities (eq. 27 with penalty)
    associations: int


def evaluate(p: FederatedParams, inst: Instance, frame: Frame, state: State,
             assign: np.ndarray, Y: np.ndarray, z: np.ndarray, ell: np.ndarray,
             fc: FrameCtx | None = None) -> tuple[FrameOutcome, State]:
    """One frame's outcome for the given decisions, and the state the next frame starts in.
    ``fc``: :func:`frame_ctx` of these decisions when the caller has it already."""
    if fc is None:
        fc = frame_ctx(p, inst, frame, state, assign, z, ell)
    Y = np.asarray(Y, dtype=bool) & fc.active[None, :]
    dD_n, E_sen_n, T_sen_n, ch_n = _aggregates(fc, Y)
    D_n = fc.D_prev_n + dD_n
    Q_n = quality(p, D_n, fc.ell) * fc.active
    assign = np.asarray(assign, dtype=int)
    Q_k = Q_n[assign]
    dD_k = dD_n[assign]
    Q = float(np.sum(frame.omega * Q_k))
    train = dD_n + p.replay * fc.D_prev_n
    E_cre = fc.cre_j_per_bit * train
    T_cre = fc.cre_s_per_bit * train
    T_n = (T_sen_n + fc.T_mig + T_cre + fc.T_up) * fc.active
    E_parts = {"sen": float(E_sen_n.sum()), "mig": float(fc.E_mig.sum()),
               "cre": float(E_cre.sum()), "up": float(fc.E_up.sum()), "int": fc.E_int}
    E = float(sum(E_parts.values()))
    T = float(T_n.max(initial=0.0) + fc.T_int)
    changes = int(np.sum(Y != state.Y))
    U = p.lambda1 * Q - p.lambda2 * E
    penalty = p.zeta * max(0.0, T - p.tau_s)
    out = FrameOutcome(
        Q=Q, Q_k=Q_k, new_D_bits=state.D_bits + dD_k, dD_bits=dD_k, E=E, E_parts=E_parts, T=T,
        T_parts_max={"sen": float(T_sen_n.max(initial=0)), "mig": float(fc.T_mig.max(initial=0)),
                     "cre": float(T_cre.max(initial=0)), "up": float(fc.T_up.max(initial=0)),
                     "int": fc.T_int},
        T_n=T_n, changes=changes, U=U, gain=p.lambda1 * Q,
        cost=p.lambda2 * E + p.c_config * changes,
        perf=U - p.c_config * changes, penalty=penalty, reward=U - p.c_config * changes - penalty,
        U_n=coalition_utility(p, fc, dD_n, E_sen_n, T_sen_n, ch_n), associations=int(Y.sum()),
    )
    nxt = State(t=state.t + 1, D_bits=state.D_bits + dD_k, assign=assign.copy(), Y=Y.copy())
    return out, nxt
