"""The ``compression`` scenario: Krantzik, Klein, Xiang, PIMRC 2025 (seed 000).

Sensors choose lossless compression ratios (followers); the BS allocates bandwidth and DT
computing (leader). See README.md for what is exact to the paper and what is reconstructed,
and spec.py for the scenario's contract (the worked example of docs/ARCHITECTURE.md).
"""

from twinbed.scenarios.compression.algorithms import ALGORITHMS, Allocation
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.scenarios.compression.world import (
    CompressionWorld,
    channel_for_round,
    round_outcome,
)

__all__ = [
    "ALGORITHMS",
    "Allocation",
    "CompressionParams",
    "CompressionWorld",
    "channel_for_round",
    "round_outcome",
]
