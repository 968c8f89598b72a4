"""Decision makers of the ``compression`` scenario, selectable by name.

A decision maker maps the leader's view of a round (the channel gains) to the allocation
``(b_hz, f_hz)``; each sensor then plays its own best response (eq. 9) to its bandwidth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from twinbed.scenarios.compression.params import CompressionParams

__all__ = ["ALGORITHMS", "Allocation", "fixed_bf"]


class Allocation(NamedTuple):
    b_hz: np.ndarray
    f_hz: np.ndarray


def fixed_bf(p: CompressionParams, H_gain: np.ndarray) -> Allocation:
    """Baseline 3 of Section V-A: equal split, b_k = B/K and f_k = C_DT/K."""
    return Allocation(np.full(p.K, p.B_hz / p.K), np.full(p.K, p.C_dt_hz / p.K))


ALGORITHMS: dict[str, Callable[[CompressionParams, np.ndarray], Allocation]] = {
    "fixed-bf": fixed_bf,
}
