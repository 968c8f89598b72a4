"""dB <-> linear and dBm <-> W. Work on scalars and numpy arrays alike."""

from __future__ import annotations

import numpy as np

__all__ = ["db_to_lin", "dbm_to_w", "lin_to_db", "w_to_dbm"]


def dbm_to_w(dbm):  # noqa: ANN001, ANN201 - float or ndarray in, same out
    """Power in dBm to watts: 15 dBm -> 0.0316 W."""
    return 10.0 ** ((dbm - 30.0) / 10.0)


def w_to_dbm(w):  # noqa: ANN001, ANN201
    return 10.0 * np.log10(w) + 30.0


def db_to_lin(db):  # noqa: ANN001, ANN201
    """A ratio in dB to linear: -30 dB -> 1e-3."""
    return 10.0 ** (db / 10.0)


def lin_to_db(x):  # noqa: ANN001, ANN201
    return 10.0 * np.log10(x)
