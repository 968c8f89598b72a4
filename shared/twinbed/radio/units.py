"""dB <-> linear and dBm <-> W. Work on scalars and numpy arrays alike."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "ArrayLike", "db_to_lin", "dbm_to_w", "lin_to_db", "w_to_dbm"]

Array = npt.NDArray[np.float64]
ArrayLike = float | npt.NDArray[Any]
X = TypeVar("X", float, npt.NDArray[Any])


def dbm_to_w(dbm: X) -> X:
    """Power in dBm to watts: 15 dBm -> 0.0316 W."""
    return 10.0 ** ((dbm - 30.0) / 10.0)


def w_to_dbm(w: X) -> X:
    """Power in watts to dBm: 1 W -> 30 dBm."""
    return 10.0 * np.log10(w) + 30.0


def db_to_lin(db: X) -> X:
    """A ratio in dB to linear: -30 dB -> 1e-3."""
    return 10.0 ** (db / 10.0)


def lin_to_db(x: X) -> X:
    """A linear ratio to dB: 1e-3 -> -30 dB."""
    return 10.0 * np.log10(x)
