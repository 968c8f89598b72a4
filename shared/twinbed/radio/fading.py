"""Small-scale fading: power gains |h|^2 drawn per link, vectorized over any shape.

Each draw function consumes the generator in a fixed, documented order, so a scenario that
switches to it keeps its random streams (and its numbers) unchanged.

* :func:`rayleigh_power`: E|h|^2 = mean, Var |h|^2 = mean^2; draws ``exponential(mean,
  shape)`` (``method="exponential"``) or real then imaginary ``standard_normal(shape)``
  (``method="complex"``);
* :func:`rician_power`: E|h|^2 = sigma^2, Var |h|^2 = sigma^4 (1 + 2K)/(1 + K)^2; draws the LoS
  phase ``uniform(0, 2 pi, shape)``, then the NLoS real, then imaginary ``standard_normal``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from twinbed.radio.units import Array

__all__ = ["Fading", "Rayleigh", "Rician", "rayleigh_power", "rician_power"]

Shape = int | tuple[int, ...]


def rayleigh_power(rng: np.random.Generator, shape: Shape, mean: float = 1.0,
                   method: Literal["exponential", "complex"] = "exponential") -> Array:
    """|h|^2 of Rayleigh fading (h ~ CN(0, mean)): exponential with mean ``mean``.

    ``method`` picks how it is drawn (same distribution, different random streams):
    ``exponential`` one exponential draw, ``complex`` |(x + j y)/sqrt(2)|^2 with x, y standard
    normal (then scaled by ``mean``).
    """
    if method == "exponential":
        return rng.exponential(mean, size=shape)
    g = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    power = np.abs(g) ** 2
    return power if mean == 1.0 else mean * power


def rician_power(rng: np.random.Generator, shape: Shape, k_factor: float,
                 sigma: float = 1.0) -> Array:
    """|h|^2 of Rician fading with K-factor ``k_factor`` (LoS/NLoS energy) and E|h|^2 =
    ``sigma``^2: h = sigma (sqrt(K/(K+1)) e^{j theta} + sqrt(1/(K+1)) CN(0, 1)), theta ~ U[0, 2 pi).
    """
    k = k_factor
    theta = rng.uniform(0.0, 2.0 * np.pi, shape)
    nlos = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    h = sigma * (np.sqrt(k / (k + 1.0)) * np.exp(1j * theta) + np.sqrt(1.0 / (k + 1.0)) * nlos)
    return np.abs(h) ** 2


class Fading:
    """A pluggable fading model: ``model.power(rng, shape)`` draws |h|^2."""

    def power(self, rng: np.random.Generator, shape: Shape) -> Array:
        raise NotImplementedError


class Rayleigh(Fading):
    def __init__(self, mean: float = 1.0,
                 method: Literal["exponential", "complex"] = "exponential") -> None:
        self.mean, self.method = mean, method

    def power(self, rng: np.random.Generator, shape: Shape) -> Array:
        return rayleigh_power(rng, shape, self.mean, self.method)


class Rician(Fading):
    def __init__(self, k_factor: float, sigma: float = 1.0) -> None:
        self.k_factor, self.sigma = k_factor, sigma

    def power(self, rng: np.random.Generator, shape: Shape) -> Array:
        return rician_power(rng, shape, self.k_factor, self.sigma)
