"""Movement models, vectorized over users (one row per user), pluggable like mobile-env's.

Each model consumes its generator in a fixed, documented order, so a scenario that switches
to it keeps its random streams and numbers.

* :class:`GaussMarkovVelocity` -- Gauss-Markov on the velocity vector (Liang & Haas 1999):
  v' = a v + (1 - a) m + sqrt(1 - a^2) sigma w, m = ``mean_speed`` along the current heading,
  w ~ N(0, I) (one ``standard_normal((n, 2))`` draw); x' = border(x + v').
* :class:`GaussMarkovPolar` -- Gauss-Markov on speed and heading: the user first moves
  ``tau`` seconds at its current speed and heading, then speed and heading take one AR(1)
  step around their means (one ``standard_normal((2, n))`` draw: row 0 speed, row 1 heading);
  speeds are kept >= 0.
* :class:`GridRandomWalk` -- one of a few moves per slot (``random(n)`` then inverse CDF over
  each user's move probabilities), ``step`` long, the border rule deciding the edge.

Initial placements: :func:`uniform_disc`, :func:`uniform_box`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from twinbed.mobility.border import Border, Stay, Unbounded
from twinbed.radio.units import Array

__all__ = ["GaussMarkovPolar", "GaussMarkovVelocity", "GridRandomWalk", "PolarState",
           "uniform_box", "uniform_disc"]


def uniform_disc(rng: np.random.Generator, n: int, center: tuple[float, float] | Array,
                 radius: float) -> Array:
    """n points uniform in a disc (draws: radius ``uniform(0, 1, n)``, then angle
    ``uniform(0, 2 pi, n)``), shape (n, 2)."""
    r = radius * np.sqrt(rng.uniform(0.0, 1.0, n))
    a = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.asarray(center)[None, :] + np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def uniform_box(rng: np.random.Generator, n: int, low: float, high: float) -> Array:
    """n points uniform in the square [low, high)^2 (one ``uniform`` draw), shape (n, 2)."""
    return rng.uniform(low, high, size=(n, 2))


@dataclass(frozen=True)
class GaussMarkovVelocity:
    memory: float  # a in [0, 1]: 1 keeps the velocity, 0 redraws it every step
    mean_speed: float  # |m| [distance per step]
    # per-component standard deviation of the velocity [distance per step]; an (n, 1) array
    # gives each user its own
    sigma: float | Array
    border: Border = field(default_factory=Unbounded)

    def step(self, rng: np.random.Generator, pos: Array, vel: Array) -> tuple[Array, Array]:
        """(positions, velocities) after one step; both shape (n, 2)."""
        a = self.memory
        speed = np.linalg.norm(vel, axis=1, keepdims=True)
        heading = np.divide(vel, speed, out=np.zeros_like(vel), where=speed > 0)
        mean = self.mean_speed * heading
        v = a * vel + (1 - a) * mean + np.sqrt(1 - a * a) * self.sigma * rng.standard_normal(
            vel.shape)
        x, v2 = self.border.apply(pos, pos + v, v)
        return x, (v if v2 is None else v2)


class PolarState(NamedTuple):
    """Positions (n, 2), speeds (n,), headings (n,) [rad] and mean headings (n,) [rad]."""

    pos: Array
    speed: Array
    heading: Array
    mean_heading: Array


@dataclass(frozen=True)
class GaussMarkovPolar:
    memory: float  # a in [0, 1]
    mean_speed: float  # [m/s]
    speed_std: float  # [m/s]
    heading_std: float  # [rad]
    tau_s: float  # seconds per step
    border: Border = field(default_factory=Unbounded)

    def start(self, rng: np.random.Generator, pos: Array) -> PolarState:
        """Users at ``pos`` moving at the mean speed in a uniformly random direction (draw:
        ``uniform(0, 2 pi, n)``), which is also each one's mean heading."""
        n = int(pos.shape[0])
        heading = rng.uniform(0.0, 2.0 * np.pi, n)
        return PolarState(pos, np.full(n, self.mean_speed), heading, heading.copy())

    def step(self, rng: np.random.Generator, s: PolarState) -> PolarState:
        moved = s.pos + self.tau_s * s.speed[:, None] * np.stack(
            [np.cos(s.heading), np.sin(s.heading)], axis=1)
        pos, _ = self.border.apply(s.pos, moved)
        a, sd = self.memory, np.sqrt(1.0 - self.memory**2)
        w = rng.standard_normal((2, s.pos.shape[0]))
        speed = np.maximum(0.0, a * s.speed + (1 - a) * self.mean_speed
                           + sd * self.speed_std * w[0])
        heading = a * s.heading + (1 - a) * s.mean_heading + sd * self.heading_std * w[1]
        return PolarState(pos, speed, heading, s.mean_heading)


@dataclass(frozen=True)
class GridRandomWalk:
    moves: Array  # (k, 2) unit moves, e.g. stay, up, down, left, right
    step: float  # distance per move
    border: Border = field(default_factory=lambda: Stay(np.inf))

    def move(self, rng: np.random.Generator, pos: Array, probs: Array) -> Array:
        """Positions after one slot; ``probs`` (n, k) each user's move probabilities (rows
        sum to 1)."""
        u = rng.random(int(pos.shape[0]))
        choice = (u[:, None] >= np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
        new = pos + self.step * self.moves[choice]
        x, _ = self.border.apply(pos, new)
        return x
