"""The paper's parameters (Section V and Table I of the seed), SI units inside.

Defaults are the uniform scenario of Section V-A: K = 4 sensors at 378 m, 4 kbit per round,
15 dBm transmit power, 200 kHz compression speed, beta_max = 3, B = 100 kHz, C_DT = 50 MHz,
c_k = 1e4 cycles/bit, N0 = -90 dBm/Hz, A0 = -30 dB, alpha = 2, epsilon = 3.5, Rician fading with
K-factor 10 and sigma = 1. dB/dBm appear only in the ``*_db``/``*_dbm`` fields.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from twinbed.radio import db_to_lin, dbm_to_w

__all__ = ["CompressionParams", "dbm_to_w", "db_to_lin"]


# Size bounds (issue #14): one sensor's round at most 1 MiB of samples, one round of all sensors
# at most 64 MiB, so a run's rounds fit in the cloud's memory with history on (history keeps
# TWINBED_HISTORY_LEN versions of each twin) and a round's codec work stays seconds, not hours.
MAX_D_BITS = 8 * 1024 * 1024
MAX_ROUND_BITS = 8 * 64 * 1024 * 1024


class CompressionParams(BaseModel):
    """Parameters of the ``compression`` scenario. Unknown names are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    K: int = Field(4, ge=1, le=100_000, description="number of sensors")
    distance_m: float = Field(378.0, gt=0, description="sensor-BS distance d_k")
    D_bits: int = Field(4000, ge=16, le=MAX_D_BITS,
                        description="bits each sensor sends per round (D_k)")
    p_dbm: float = Field(15.0, description="transmit power p_k (15 dBm = 31.6 mW)")
    f_s_hz: float = Field(200e3, gt=0, description="compression speed f_k^S")
    c_cycles_per_bit: float = Field(1e4, gt=0, description="DT processing complexity c_k")
    beta_max: float = Field(3.0, ge=1.0, description="highest lossless compression ratio")
    epsilon: float = Field(3.5, gt=0, description="compression complexity constant (eq. 1)")
    B_hz: float = Field(100e3, gt=0, description="total uplink bandwidth B")
    C_dt_hz: float = Field(50e6, gt=0, description="DT processing capacity C_DT")
    N0_dbm_per_hz: float = Field(-90.0, description="noise power spectral density N_0")
    A0_db: float = Field(-30.0, description="path loss at the 1 m reference distance")
    alpha: float = Field(2.0, ge=2.0, description="path loss exponent")
    rician_k: float = Field(10.0, ge=0, description="LoS/NLoS energy ratio kappa")
    fading_sigma: float = Field(1.0, gt=0, description="standard deviation of the fading gain")
    xi: float = Field(1e-6, gt=0, description="stopping tolerance of Algorithm 1")
    L_max: int = Field(30, ge=1, description="iteration cap of Algorithm 1")
    bits_per_sample: int = Field(16, description="sensor samples are int16 (ADC word size)")

    @field_validator("D_bits")
    @classmethod
    def _whole_samples(cls, v: int) -> int:
        if v % 16:
            raise ValueError(f"expected a multiple of 16 bits (whole int16 samples), got {v}")
        return v

    @model_validator(mode="after")
    def _round_fits(self) -> CompressionParams:
        if self.K * self.D_bits > MAX_ROUND_BITS:
            raise ValueError(f"K * D_bits = {self.K * self.D_bits} bits per round is over the "
                             f"bound of {MAX_ROUND_BITS} bits (64 MiB): lower K or D_bits")
        return self

    @field_validator("bits_per_sample")
    @classmethod
    def _int16(cls, v: int) -> int:
        if v != 16:
            raise ValueError(f"expected 16 (int16 samples), got {v}")
        return v

    @property
    def p_w(self) -> float:
        return dbm_to_w(self.p_dbm)

    @property
    def N0_w_per_hz(self) -> float:
        return dbm_to_w(self.N0_dbm_per_hz)

    @property
    def A0(self) -> float:
        return db_to_lin(self.A0_db)

    @property
    def n_samples(self) -> int:
        """int16 samples per sensor per round."""
        return self.D_bits // self.bits_per_sample
