"""User movement shared by the scenarios: models (:mod:`.models`) and border rules
(:mod:`.border`), vectorized and pluggable, each tested once against closed forms."""

from twinbed.mobility.border import Border, Reflect, Stay, Unbounded
from twinbed.mobility.models import (
    GaussMarkovPolar,
    GaussMarkovVelocity,
    GridRandomWalk,
    PolarState,
    uniform_box,
    uniform_disc,
)

__all__ = [
    "Border",
    "GaussMarkovPolar",
    "GaussMarkovVelocity",
    "GridRandomWalk",
    "PolarState",
    "Reflect",
    "Stay",
    "Unbounded",
    "uniform_box",
    "uniform_disc",
]
