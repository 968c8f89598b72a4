"""The scenario contract: one typed description of a paper for services, CLI and runner.

Read in this order: :mod:`.models` (the typed decision hop and records), :mod:`.policy` (the
algorithm registry and its artifacts), :mod:`.roles` (typed live handlers), :mod:`.scenario`
(the :class:`Scenario` itself, its :class:`World` and the in-process runner),
:mod:`.cliparams` (``--param NAME=VALUE`` / ``--params FILE.json`` from the params model),
:mod:`.naming` (names of twins, messages, entities and figure files). The worked example is
``twinbed/scenarios/compression``; docs/ARCHITECTURE.md describes the whole.
"""

from twinbed.artifacts import ALL_PARAMS, ArtifactSpec
from twinbed.contract.models import Action, DecisionState, PartyReport, RoundMetrics, RoundOutcome
from twinbed.contract.policy import Policy, UnknownAlgorithmError, registry
from twinbed.contract.roles import Roles, ask, report
from twinbed.contract.scenario import Scenario, World
from twinbed.runtime import RunContext

__all__ = [
    "ALL_PARAMS",
    "Action",
    "ArtifactSpec",
    "DecisionState",
    "PartyReport",
    "Policy",
    "Roles",
    "RoundMetrics",
    "RoundOutcome",
    "RunContext",
    "Scenario",
    "UnknownAlgorithmError",
    "World",
    "ask",
    "registry",
    "report",
]
