"""What happens at the edge of the area: a pluggable border rule, vectorized over users.

A rule maps a step (old positions, proposed positions, velocities) to the positions (and
velocities) actually taken, shape (n, 2):

* :class:`Reflect` mirrors a coordinate that left ``[low, high]`` back inside and reverses
  that velocity component (a billiard ball), then clips;
* :class:`Stay` rejects the whole step of a user that would leave the box (it stays put);
* :class:`Unbounded` takes every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinbed.radio.units import Array

__all__ = ["Border", "Reflect", "Stay", "Unbounded"]


class Border:
    def apply(self, old: Array, new: Array, vel: Array | None = None
              ) -> tuple[Array, Array | None]:
        raise NotImplementedError


@dataclass(frozen=True)
class Unbounded(Border):
    def apply(self, old: Array, new: Array, vel: Array | None = None
              ) -> tuple[Array, Array | None]:
        return new, vel


@dataclass(frozen=True)
class Reflect(Border):
    """Mirror at ``low`` and ``high`` (each coordinate): x < low -> 2 low - x,
    x > high -> 2 high - x, the velocity component reversed; then clipped to the box (a step
    longer than the box is not folded twice)."""

    low: float
    high: float

    def apply(self, old: Array, new: Array, vel: Array | None = None
              ) -> tuple[Array, Array | None]:
        lo, hi = new < self.low, new > self.high
        x = np.where(lo, 2 * self.low - new, np.where(hi, 2 * self.high - new, new))
        v = None if vel is None else np.where(lo | hi, -vel, vel)
        return np.clip(x, self.low, self.high), v


@dataclass(frozen=True)
class Stay(Border):
    """A user whose step would leave the box ``|x_i| <= half`` (any coordinate, with
    tolerance ``tol``) stays where it was."""

    half: float
    tol: float = 1e-9

    def apply(self, old: Array, new: Array, vel: Array | None = None
              ) -> tuple[Array, Array | None]:
        inside = np.all(np.abs(new) <= self.half + self.tol, axis=1)
        return np.where(inside[:, None], new, old), vel
