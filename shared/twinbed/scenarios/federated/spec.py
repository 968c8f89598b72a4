"""The ``federated`` scenario as the services see it (see twinbed.scenarios.ScenarioSpec)."""

from __future__ import annotations

import itertools
from pathlib import Path

from twinbed.scenarios import ScenarioSpec
from twinbed.scenarios.federated.algorithms import ALGORITHMS, Exhaustive
from twinbed.scenarios.federated.artifacts import artifact_specs
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.roles import HANDLERS, decide, parties, summarize
from twinbed.scenarios.federated.simulate import simulate

__all__ = ["SPEC", "preflight"]


def preflight(p: FederatedParams, algorithm: str, data_dir: Path) -> None:
    """``exhaustive`` needs a small instance (the learned schemes' artifacts are declared in
    :mod:`.artifacts` and checked by the core)."""
    if algorithm == "exhaustive":
        patterns = sum(1 for r in range(p.Y_max + 1) for _ in itertools.combinations(range(p.N), r))
        if patterns ** p.M > Exhaustive.LIMIT:
            raise ValueError(f"exhaustive search needs a small instance ({patterns}^{p.M} "
                             f"association patterns > {Exhaustive.LIMIT}); use M <= 6 and N <= 3")


SPEC = ScenarioSpec(
    name="federated",
    params_model=FederatedParams,
    algorithms=ALGORITHMS,
    decide=decide,
    handlers=HANDLERS,
    parties=parties,
    summarize=summarize,
    first_role="cloud",
    duration_key="T_s",
    simulate=simulate,
    preflight=preflight,
    artifacts=artifact_specs,
    headline=("U", "reward", "Q", "changes"),
)
