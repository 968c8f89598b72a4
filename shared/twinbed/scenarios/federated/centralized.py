"""The centralized framework baseline (CEN, LiveMap [51]): all sensing data to the cloud.

There are no partial-DTs on ESs: sensors upload every feature datum they have (for all K
components) over the cloud's access point (at the centre of the area, ``Z_max`` subcarriers,
the same radio model as eq. 13), the AP relays it over the cloud fibre, and the cloud trains all
K components itself (f_cloud, kappa_cloud, C_cloud) before integrating them (eqs. 21-22). Its
association is SOCF with a single coalition (join and quit rules), so it is optimized the same
way as the proposed framework's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from twinbed.scenarios.federated.model import (
    Frame,
    FrameOutcome,
    Instance,
    State,
    integration,
    quality,
)
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["CenCtx", "cen_ctx", "cen_evaluate", "cen_socf"]


class CenCtx(NamedTuple):
    d: np.ndarray  # (M, K)
    d_tot: np.ndarray  # (M,)
    rate: np.ndarray  # (M,)
    eligible: np.ndarray  # (M,)
    e_sen: np.ndarray  # (M,)
    t_sen: np.ndarray  # (M,)
    cap: int
    ell: int
    omega: np.ndarray
    D_prev: np.ndarray
    Y_prev: np.ndarray  # (M,)
    T_int: float
    E_int: float


def cen_ctx(p: FederatedParams, inst: Instance, frame: Frame, state: State, z: int, ell: int
            ) -> CenCtx:
    z = int(np.clip(z, 1, p.z_levels))
    ell = int(np.clip(ell, 1, p.ell_max))
    ap = np.array([p.area_m / 2, p.area_m / 2])
    dist = np.maximum(np.linalg.norm(inst.sensor_xy_m - ap, axis=1), 1.0)
    pl_db = p.pathloss_db_at_1km + p.pathloss_slope_db * np.log10(dist / 1000.0)
    # the AP's fading: the frame's fading towards ES 0, rescaled to the AP's path loss
    fading = frame.gain[:, 0] * 10.0 ** ((p.pathloss_db_at_1km + p.pathloss_slope_db
                                          * np.log10(inst.dist_m[:, 0] / 1000.0)) / 10.0)
    gain = 10.0 ** (-pl_db / 10.0) * fading
    sinr = p.p_sensor_w * gain / (frame.interference_w.mean() + p.noise_w)
    rate = z * p.B_sub_hz * np.log2(1.0 + sinr)
    d_tot = frame.d_bits.sum(axis=1)
    t_sen = np.where(d_tot > 0, d_tot / rate, 0.0)
    T_int, E_int = integration(p, inst)
    return CenCtx(d=frame.d_bits, d_tot=d_tot, rate=rate, eligible=rate >= p.r_min_bps,
                  e_sen=p.p_sensor_w * t_sen, t_sen=t_sen, cap=p.Z_max // z, ell=ell,
                  omega=frame.omega, D_prev=state.D_bits, Y_prev=np.asarray(state.Y.any(axis=1)),
                  T_int=T_int, E_int=E_int)


def _terms(p: FederatedParams, c: CenCtx, dD: np.ndarray, E_sen: np.ndarray | float,
           T_sen: np.ndarray | float) -> tuple[Any, Any, Any, Any]:
    """dD (..., K) -> (Q, E_cre + relay, T_cre + relay, total new bits)."""
    D = c.D_prev + dD
    Q = np.sum(c.omega * quality(p, D, c.ell), axis=-1)
    new = dD.sum(axis=-1)
    train = new + p.replay * c.D_prev.sum()
    cycles = c.ell * p.C_cloud_cycles_per_bit * train
    E = E_sen + p.kappa_cloud * cycles * p.f_cloud_hz ** 2 + p.P_es_w * new / p.r_cloud_bps
    T = T_sen + new / p.r_cloud_bps + cycles / p.f_cloud_hz
    return Q, E, T, new


def _utility(p: FederatedParams, c: CenCtx, Y: np.ndarray) -> float:
    dD = Y @ c.d
    T_sen = float(np.max(np.where(Y, c.t_sen, 0.0), initial=0.0))
    Q, E, T, _ = _terms(p, c, dD, float(np.sum(c.e_sen * Y)), T_sen)
    ch = int(np.sum(Y != c.Y_prev))
    return float(p.lambda1 * Q - p.lambda2 * E - p.c_config * ch
                 - p.zeta * max(0.0, float(T) + c.T_int - p.tau_s))


def cen_socf(p: FederatedParams, c: CenCtx, g: np.random.Generator) -> tuple[np.ndarray, int]:
    """Join/quit switches of single sensors while the cloud's utility strictly rises."""
    Y = c.Y_prev & c.eligible
    if Y.sum() > c.cap:
        Y[g.choice(np.flatnonzero(Y), int(Y.sum() - c.cap), replace=False)] = False
    U = _utility(p, c, Y)
    passes = 0
    for _ in range(p.socf_max_passes):
        moved = False
        for m in g.permutation(len(Y)):
            if not Y[m] and (not c.eligible[m] or Y.sum() >= c.cap):
                continue
            Y[m] = not Y[m]
            U2 = _utility(p, c, Y)
            if U2 > U + 1e-9:
                U, moved = U2, True
            else:
                Y[m] = not Y[m]
        if not moved:
            break
        passes += 1
    return Y, passes


def cen_evaluate(p: FederatedParams, inst: Instance, frame: Frame, state: State, c: CenCtx,
                 Y: np.ndarray) -> tuple[FrameOutcome, State]:
    dD = Y @ c.d
    T_sen = float(np.max(np.where(Y, c.t_sen, 0.0), initial=0.0))
    E_sen = float(np.sum(c.e_sen * Y))
    Q, E_rest, T_rest, _new = _terms(p, c, dD, E_sen, T_sen)
    Q, E = float(Q), float(E_rest) + c.E_int
    T = float(T_rest) + c.T_int
    ch = int(np.sum(Y != c.Y_prev))
    U = p.lambda1 * Q - p.lambda2 * E
    pen = p.zeta * max(0.0, T - p.tau_s)
    Yfull = np.zeros((p.M, p.N), dtype=bool)
    Yfull[:, 0] = Y  # the AP stands in for "ES 0" in the carried state
    out = FrameOutcome(
        Q=Q, Q_k=quality(p, c.D_prev + dD, c.ell), new_D_bits=c.D_prev + dD, dD_bits=dD, E=E,
        E_parts={"sen": E_sen, "mig": 0.0, "cre": float(E_rest) - E_sen, "up": 0.0, "int": c.E_int},
        T=T, T_parts_max={"sen": T_sen, "mig": 0.0, "cre": float(T_rest) - T_sen, "up": 0.0,
                          "int": c.T_int},
        T_n=np.array([float(T_rest)]), changes=ch, U=U, gain=p.lambda1 * Q,
        cost=p.lambda2 * E + p.c_config * ch, perf=U - p.c_config * ch, penalty=pen,
        reward=U - p.c_config * ch - pen, U_n=np.array([U]), associations=int(Y.sum()))
    return out, State(t=state.t + 1, D_bits=c.D_prev + dD, assign=state.assign, Y=Yfull)
