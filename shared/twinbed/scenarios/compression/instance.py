"""One fully determined instance of the game (``twinbed solve compression --instance FILE``).

JSON keys, SI units; the per-sensor keys are lists of one entry per sensor (K = their length):

| key | meaning |
| --- | --- |
| ``D_bits`` | bits per sensor D_k (list) |
| ``p_w`` | transmit power p_k [W] (list) |
| ``f_s_hz`` | compression speed f_k^S [Hz] (list) |
| ``c_cycles_per_bit`` | DT processing complexity c_k (list) |
| ``H_gain`` | \\|H_k\\|^2, path loss and fading included (list) |
| ``B_hz`` | total bandwidth B |
| ``C_dt_hz`` | DT processing capacity C_DT |
| ``beta_max`` | highest lossless compression ratio |
| ``epsilon`` | compression complexity constant (eq. 1) |
| ``N0_w_per_hz`` | noise power spectral density N_0 [W/Hz] |
| ``xi``, ``L_max`` | optional: Algorithm 1's stopping rule (defaults 1e-6 s, 30) |
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twinbed.scenarios.compression import model
from twinbed.scenarios.compression.algorithms import ALGORITHMS
from twinbed.scenarios.compression.params import CompressionParams

__all__ = ["Instance", "InstanceError", "load_instance", "solve_instance"]

PER_SENSOR = ("D_bits", "p_w", "f_s_hz", "c_cycles_per_bit", "H_gain")


class InstanceError(ValueError):
    """A bad instance file; the message is one line naming the bad key."""



class Instance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    D_bits: list[float] = Field(min_length=1)
    p_w: list[float] = Field(min_length=1)
    f_s_hz: list[float] = Field(min_length=1)
    c_cycles_per_bit: list[float] = Field(min_length=1)
    H_gain: list[float] = Field(min_length=1)
    B_hz: float = Field(gt=0)
    C_dt_hz: float = Field(gt=0)
    beta_max: float = Field(ge=1)
    epsilon: float = Field(gt=0)
    N0_w_per_hz: float = Field(gt=0)
    xi: float = Field(1e-6, gt=0)
    L_max: int = Field(30, ge=1)

    @model_validator(mode="after")
    def _per_sensor(self) -> Instance:
        K = len(self.D_bits)
        for key in PER_SENSOR:
            vals = getattr(self, key)
            if len(vals) != K:
                raise ValueError(f"{key}: expected {K} entries (one per sensor, as D_bits), "
                                 f"got {len(vals)}")
            if not all(v > 0 for v in vals):
                raise ValueError(f"{key}: expected positive numbers")
        return self

    @property
    def K(self) -> int:
        return len(self.D_bits)

    def params(self) -> CompressionParams:
        return CompressionParams(
            K=self.K, B_hz=self.B_hz, C_dt_hz=self.C_dt_hz, beta_max=self.beta_max,
            epsilon=self.epsilon, N0_dbm_per_hz=10.0 * math.log10(self.N0_w_per_hz) + 30.0,
            xi=self.xi, L_max=self.L_max)

    def arrays(self) -> model.SensorArrays:
        return model.SensorArrays(
            D_bits=np.asarray(self.D_bits, float), p_w=np.asarray(self.p_w, float),
            f_s_hz=np.asarray(self.f_s_hz, float),
            c_cycles_per_bit=np.asarray(self.c_cycles_per_bit, float),
            distance_m=np.ones(self.K))


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:
        return msg
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}; known: {', '.join(Instance.model_fields)}"
    if err["type"] == "missing":
        return f"missing key {loc!r}"
    return f"key {loc!r}: {msg}"


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance file; :class:`InstanceError` (one line) if it is bad."""
    path = Path(path)
    try:
        raw: Any = json.loads(path.read_text())
    except OSError as exc:
        raise InstanceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InstanceError(f"{path}: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InstanceError(f"{path}: expected a JSON object of keys, got {type(raw).__name__}")
    try:
        return Instance.model_validate(raw)
    except ValidationError as exc:
        raise InstanceError(f"{path}: {_one_line(exc)}") from None


def solve_instance(inst: Instance, algorithm: str = "stackelberg") -> dict[str, Any]:
    """Run one scheme on the instance; the output keys of ``twinbed solve compression``."""
    p = inst.params()
    s = inst.arrays()
    H = np.asarray(inst.H_gain, float)
    t0 = time.perf_counter()
    a = ALGORITHMS[algorithm](p, H, s)
    beta = a.beta
    if beta is None:
        r = model.rate_bps(a.b_hz, H, s.p_w, p.N0_w_per_hz)
        beta = model.best_response(r, s.f_s_hz, p.epsilon, p.beta_max)
    solve_s = time.perf_counter() - t0
    t = model.timings(p, np.asarray(beta, float), a.b_hz, a.f_hz, H, s)
    return {
        "algorithm": algorithm,
        "beta": np.asarray(beta, float).tolist(),
        "b_hz": a.b_hz.tolist(),
        "f_hz": a.f_hz.tolist(),
        "T_total_s": t.T_total.tolist(),
        "T_max_s": float(np.max(t.T_total)),
        "iterations": int(a.iterations),
        "solve_s": solve_s,
    }
