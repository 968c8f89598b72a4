"""The real part of a partial-DT: feature data the sensors really send and a model the ESs
really train (least squares by gradient descent, warm-started from the migrated weights).

Partial-DT k is a linear map y = x . w_k (F features) plus noise; a sensor's feature data for k
in frame t is ``rows_for_bits(d_{m,k})`` float32 rows [x | y], drawn from
``rng(seed, "federated", "features", t, m, k)``, so the bytes on the bus match the modeled bits.
Quality is the coefficient of determination R^2 on a held-out set of partial-DT k.
"""

from __future__ import annotations

import numpy as np

from twinbed.seeding import rng

__all__ = ["F", "ROW_BITS", "feature_rows", "from_bytes", "history_rows", "r2", "rows_for_bits",
           "to_bytes", "train"]

F = 8
ROW_BITS = (F + 1) * 32
NOISE = 0.3


def rows_for_bits(bits: float) -> int:
    return int(round(float(bits) / ROW_BITS))


def _truth(seed: int, k: int) -> np.ndarray:
    return rng(seed, "federated", "truth", k).standard_normal(F)


def _rows(g: np.random.Generator, w: np.ndarray, n: int) -> np.ndarray:
    X = g.standard_normal((n, F))
    y = X @ w + NOISE * g.standard_normal(n)
    return np.hstack([X, y[:, None]]).astype(np.float32)


def feature_rows(seed: int, t: int, m: int, k: int, n: int) -> np.ndarray:
    return _rows(rng(seed, "federated", "features", t, m, k), _truth(seed, k), n)


def history_rows(seed: int, k: int, n: int) -> np.ndarray:
    """The historical data H_k^0 the cloud holds before the first frame."""
    return _rows(rng(seed, "federated", "history", k), _truth(seed, k), n)


def to_bytes(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def from_bytes(b: bytes | None) -> np.ndarray:
    if not b:
        return np.zeros((0, F + 1), dtype=np.float32)
    a = np.frombuffer(b, dtype="<f4")
    if a.size % (F + 1):
        raise ValueError(f"feature payload of {len(b)} bytes is not whole rows of {F + 1} float32")
    return a.reshape(-1, F + 1)


def train(data: np.ndarray, w0: np.ndarray, rounds: int, lr: float = 0.1) -> np.ndarray:
    """``rounds`` full-batch gradient steps of least squares from ``w0``."""
    w = np.asarray(w0, dtype=np.float64).copy()
    if len(data) == 0:
        return w
    X, y = data[:, :F].astype(np.float64), data[:, F].astype(np.float64)
    for _ in range(rounds):
        w -= lr * (X.T @ (X @ w - y)) / len(X)
    return w


def r2(seed: int, k: int, w: np.ndarray, n: int = 2000) -> float:
    val = _rows(rng(seed, "federated", "validation", k), _truth(seed, k), n)
    X, y = val[:, :F].astype(np.float64), val[:, F].astype(np.float64)
    return float(1.0 - np.mean((X @ w - y) ** 2) / np.var(y))
