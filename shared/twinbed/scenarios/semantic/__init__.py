"""The ``semantic`` scenario: Li, Cai, Liu, Fei, delay-aware DT synchronization in mobile edge
networks with semantic communications (seed 002).

K mobile UDs sense, extract a semantic representation (factor phi) with a real codec, upload
over Rayleigh channels; the edge recovers it. Decisions per slot: phi, UD CPU, power, edge CPU.
See README.md for what is exact to the paper and what is reconstructed.
"""

from twinbed.scenarios.semantic.optimum import Action, solve_slot
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import SemanticWorld, SlotState

__all__ = ["Action", "SemanticParams", "SemanticWorld", "SlotState", "solve_slot"]
