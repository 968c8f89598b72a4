"""The paper's parameters (Section V, Tables II and III of the seed), SI units inside.

Table II: K = 6 UDs, T = 30 s, N = 25 slots (tau = 1.2 s), eta = 0.25, D in [0.6, 0.8] Mbit,
C = 300 cycles/bit, B = 0.2 MHz, beta_0 = -30 dB, sigma^2 = -80 dBm, p in [0.01, 0.1] W,
E_max = 0.5 J, f_u^max = 1 GHz, f_e^max = 10 GHz, k_loc = 1e-27, x = 1.2, y = 1.5; UDs start
uniformly in a disc of radius 5 m centred at (50, 0, 0) m, BS at the origin. Table III: SAC
hyper-parameters. dB/dBm appear only in ``*_db``/``*_dbm`` fields.

Not in the paper (defaults justified in README.md): the path-loss exponent alpha_3, the sensing
rate v^s, the sensing energy per bit p^s, phi_min (derived from the real codec's recovery error)
and the Gauss-Markov mobility parameters.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twinbed.radio import db_to_lin, dbm_to_w

__all__ = ["SacHyper", "SemanticParams", "db_to_lin", "dbm_to_w"]


class SemanticParams(BaseModel):
    """Parameters of the ``semantic`` scenario. Unknown names are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # -- Table II / Section V ----------------------------------------------------------------
    K: int = Field(6, ge=1, le=10_000, description="number of UDs")
    T_s: float = Field(30.0, gt=0, description="total cycle T")
    N: int = Field(25, ge=1, description="time slots per cycle (tau = T/N)")
    eta: float = Field(0.25, gt=0, lt=1, description="time allocation factor (sensing share)")
    D_min_bits: float = Field(0.6e6, gt=0, description="minimum sensed data per slot D_min")
    D_max_bits: float = Field(0.8e6, gt=0, description="maximum sensed data per slot D_max")
    C_cycles_per_bit: float = Field(300.0, gt=0, description="CPU cycles per bit, C")
    B_hz: float = Field(0.2e6, gt=0, description="total system bandwidth B (B_k = B/K)")
    beta0_db: float = Field(-30.0, description="channel power gain at 1 m, beta_0")
    sigma2_dbm: float = Field(-80.0, description="noise power sigma^2")
    p_min_w: float = Field(0.01, gt=0, description="minimum transmit power p_u^min")
    p_max_w: float = Field(0.1, gt=0, description="maximum transmit power p_u^max")
    E_max_j: float = Field(0.5, gt=0, description="energy budget per UD and slot E_u^max")
    f_u_max_hz: float = Field(1e9, gt=0, description="maximum UD CPU frequency f_u^max")
    f_e_max_hz: float = Field(10e9, gt=0, description="edge CPU frequency budget f_e^max")
    k_loc: float = Field(1e-27, gt=0, description="effective capacitance coefficient")
    x: float = Field(1.2, gt=0, description="extraction load exponent (eq. 7)")
    y: float = Field(1.5, gt=0, description="recovery load exponent (eq. 14)")
    W: float = Field(10.0, gt=0, description="penalty weight of eq. (22)")
    area_center_m: tuple[float, float] = Field((50.0, 0.0), description="UDs' initial disc centre")
    area_radius_m: float = Field(5.0, gt=0, description="UDs' initial disc radius")
    bs_pos_m: tuple[float, float, float] = Field((0.0, 0.0, 0.0), description="BS position")
    # -- not in the paper (README.md says why these values) ------------------------------------
    alpha: float = Field(2.0, ge=2.0, le=6.0, description="path loss exponent alpha_3")
    v_s_bps: float | None = Field(None, gt=0, description="sensing rate v^s (eq. 3); None: "
                                  "D_max / (eta tau), the rate that senses D_max in the sensing "
                                  "stage")
    p_s_j_per_bit: float = Field(5e-8, ge=0, description="sensing energy per bit p^s (eq. 4)")
    phi_min: float = Field(0.15625, gt=0, le=1, description="smallest semantic extraction factor "
                           "(10/64: what `twinbed train semantic-codec` derives for NRMSE <= 1 %)")
    speed_mean_mps: float = Field(1.0, ge=0, description="Gauss-Markov mean speed")
    speed_std_mps: float = Field(0.3, ge=0, description="Gauss-Markov speed deviation")
    heading_std_rad: float = Field(0.5, ge=0, description="Gauss-Markov heading deviation")
    memory: float = Field(0.8, ge=0, le=1, description="Gauss-Markov memory level")
    f_floor: float = Field(0.01, gt=0, lt=1,
                           description="lowest UD CPU share of f_u^max an agent's "
                           "action can map to (the range starts at max(this, (2 W k_loc)^(-1/3)), "
                           "algorithms.f_lower_hz)")

    @model_validator(mode="after")
    def _check(self) -> SemanticParams:
        if self.D_min_bits > self.D_max_bits:
            raise ValueError(f"expected D_min_bits <= D_max_bits, got {self.D_min_bits} > "
                             f"{self.D_max_bits}")
        if self.p_min_w > self.p_max_w:
            raise ValueError(f"expected p_min_w <= p_max_w, got {self.p_min_w} > {self.p_max_w}")
        return self

    @property
    def tau_s(self) -> float:
        """Slot length tau = T/N."""
        return self.T_s / self.N

    @property
    def deadline_s(self) -> float:
        """(1 - eta) tau: the processing window of eq. (16)."""
        return (1.0 - self.eta) * self.tau_s

    @property
    def v_s(self) -> float:
        """Sensing rate [bit/s]; by default D_max/(eta tau), so that eq. (3) gives D_max."""
        if self.v_s_bps is not None:
            return self.v_s_bps
        return self.D_max_bits / (self.eta * self.tau_s)

    @property
    def beta0(self) -> float:
        return db_to_lin(self.beta0_db)

    @property
    def sigma2_w(self) -> float:
        return dbm_to_w(self.sigma2_dbm)


class SacHyper(BaseModel):
    """Table III, as stable-baselines3 SAC arguments (README.md: how each maps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = 1e-4
    n_epoch: int = 20
    n_step: int = 5000
    batch_size: int = 256
    buffer_size: int = 1_000_000
    gamma: float = 0.99
    hidden: tuple[int, int] = (256, 256)
    target_update_interval: int = 320
