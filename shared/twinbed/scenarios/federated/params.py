"""Parameters of the ``federated`` scenario (seed 001, Table 2), SI units inside.

The seed lost Table 2's symbols and almost all values; only the units and two values survive
(120 cycles/bit and a unitless 0.92). Every default below is the reconstruction's proposal
(``001-reconstruction.md`` section 6) unless the README says otherwise; the two surviving values
are ``C_cycles_per_bit = 120`` and ``Q_max = 0.92``. dB/dBm only appear in ``*_db``/``*_dbm``
fields.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twinbed.radio import dbm_to_w

__all__ = ["FederatedParams", "dbm_to_w"]


class FederatedParams(BaseModel):
    """Parameters of the ``federated`` scenario. Unknown names are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # sizes
    N: int = Field(5, ge=1, le=500, description="edge servers (ESs)")
    K: int = Field(4, ge=1, le=500, description="partial-DTs (K <= N, eq. 3)")
    M: int = Field(30, ge=1, le=20_000, description="sensors")
    frames: int = Field(100, ge=1, le=100_000,
                        description="time frames T of the cumulative utility")
    area_m: float = Field(1000.0, gt=0, description="side of the square area")
    # radio
    B_sub_hz: float = Field(1e6, gt=0, description="bandwidth of one subcarrier B_c")
    Z_max: int = Field(10, ge=1, description="subcarriers one ES can hand out (eq. 14)")
    z_levels: int = Field(3, ge=1, description="choices of subcarriers per sensor (1..z_levels)")
    Y_max: int = Field(2, ge=1, description="ESs one sensor may associate with (eq. 8)")
    p_sensor_dbm: float = Field(20.0, description="sensor transmit power p_m")
    noise_dbm_per_hz: float = Field(-174.0, description="AWGN power spectral density")
    interference_dbm: float = Field(-110.0,
                                    description="mean co-channel interference I_n per subcarrier")
    r_min_bps: float = Field(100e3, gt=0, description="minimum uplink rate (25c)")
    pathloss_db_at_1km: float = Field(128.1, description="PL = a + b log10(d/km)")
    pathloss_slope_db: float = Field(37.6, gt=0, description="b of the path-loss law")
    # data
    d_min_bits: float = Field(20e3, gt=0,
                              description="data a sensor gets for a partial-DT, low end")
    d_max_bits: float = Field(100e3, gt=0,
                              description="data a sensor gets for a partial-DT, high end")
    relevance: float = Field(0.7, gt=0, le=1,
                             description="probability a sensor sees data for a partial-DT")
    H0_bits: float = Field(2e6, ge=0, description="historical data of each partial-DT at t = 0")
    S_min_bits: float = Field(1e6, gt=0, description="partial-DT model size S_k, low end")
    S_max_bits: float = Field(5e6, gt=0, description="partial-DT model size S_k, high end")
    # computing
    C_cycles_per_bit: float = Field(120.0, gt=0, description="cycles per bit at ESs (Table 2)")
    C_cloud_cycles_per_bit: float = Field(120.0, gt=0, description="cycles per bit at the cloud")
    f_min_hz: float = Field(2e9, gt=0, description="ES CPU speed f_n, low end")
    f_max_hz: float = Field(4e9, gt=0, description="ES CPU speed f_n, high end")
    kappa: float = Field(1e-28, gt=0, description="effective switched capacitance of an ES")
    f_cloud_hz: float = Field(10e9, gt=0, description="cloud CPU speed")
    kappa_cloud: float = Field(1e-28, gt=0,
                               description="switched capacitance of the cloud (CEN only)")
    r_fiber_bps: float = Field(100e6, gt=0, description="ES-ES fibre rate")
    r_cloud_bps: float = Field(100e6, gt=0, description="ES-cloud fibre rate")
    P_es_w: float = Field(1.0, gt=0, description="ES transmit power P_n")
    nu_instr_per_s: float = Field(1e9, gt=0, description="access rate of a cloud processing unit")
    I_instr: float = Field(1e8, gt=0, description="instructions to integrate one partial-DT")
    theta1_j_per_instr: float = Field(1e-9, ge=0, description="eq. (22) hardware parameter 1")
    theta2_w: float = Field(10.0, ge=0, description="eq. (22) hardware parameter 2")
    theta3_w: float = Field(5.0, ge=0, description="eq. (22) hardware parameter 3")
    # quality (eqs. 4-6)
    Q_max: float = Field(0.92, gt=0, lt=1, description="required maximum model quality (Table 2)")
    varpi_per_bit: float = Field(1e-7, gt=0, description="log-normalisation parameter of rho")
    L_lipschitz: float = Field(4.0, gt=0)
    gamma_convex: float = Field(2.0, gt=0)
    delta_lr: float = Field(0.25, gt=0)
    replay: float = Field(0.02, ge=0, le=1, description="share of the historical data retrained "
                          "each frame (eq. 17 training set)")
    # objective (eqs. 23-24) and the DMO penalty
    lambda1: float = Field(50.0, ge=0, description="gain weight")
    lambda2: float = Field(0.2, ge=0, description="cost (energy) weight, per J")
    c_config: float = Field(0.05, ge=0, description="configuration cost per association change")
    zeta: float = Field(1.0, ge=0, description="penalty per second over the frame time")
    tau_s: float = Field(20.0, gt=0, description="frame duration (25b)")
    weight_drift: float = Field(0.2, ge=0, le=1,
                                description="importance weights: share redrawn each frame")
    # SOCF
    socf_max_passes: int = Field(200, ge=1, description="safety cap on SOCF passes")
    protect_members: bool = Field(False, description="also require (iii): no other member's "
                                  "marginal contribution drops")

    @model_validator(mode="after")
    def _consistent(self) -> FederatedParams:
        if self.K > self.N:
            raise ValueError("expected K <= N (each ES creates at most one partial-DT, eq. 3), "
                             f"got K={self.K} > N={self.N}")
        if self.d_max_bits < self.d_min_bits:
            raise ValueError("expected d_max_bits >= d_min_bits")
        if self.S_max_bits < self.S_min_bits:
            raise ValueError("expected S_max_bits >= S_min_bits")
        if self.f_max_hz < self.f_min_hz:
            raise ValueError("expected f_max_hz >= f_min_hz")
        if self.z_levels > self.Z_max:
            raise ValueError(f"expected z_levels <= Z_max, got {self.z_levels} > {self.Z_max}")
        if self.L_lipschitz * self.delta_lr >= 2:
            raise ValueError("expected L_lipschitz * delta_lr < 2 (convergent learning rate, "
                             "eq. 4)")
        return self

    @property
    def v(self) -> float:
        """Rounds per halving of the local loss gap, v = 2 / ((2 - L delta) delta gamma) [19]."""
        return 2.0 / ((2.0 - self.L_lipschitz * self.delta_lr) * self.delta_lr * self.gamma_convex)

    @property
    def ell_max(self) -> int:
        """Eq. (6): the rounds at which perfect data (rho = 1) reaches Q_max."""
        return max(1, math.ceil(self.v * math.log2(1.0 / (1.0 - self.Q_max))))

    @property
    def p_sensor_w(self) -> float:
        return dbm_to_w(self.p_sensor_dbm)

    @property
    def noise_w(self) -> float:
        """AWGN power over one subcarrier."""
        return dbm_to_w(self.noise_dbm_per_hz) * self.B_sub_hz

    @property
    def interference_w(self) -> float:
        return dbm_to_w(self.interference_dbm)
