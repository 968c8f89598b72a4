"""The semantic scenario's learned artifacts, declared once
(:class:`twinbed.artifacts.ArtifactSpec`).

* :data:`CODEC`: the real semantic codec every run needs (``codecs/semantic-codec.npz``, made by
  ``twinbed train semantic-codec``);
* :data:`AGENTS`: the SAC and PPO agents, one per parameter set (``agents/semantic-sac.zip``
  for the defaults, ``semantic-sac-<digest of the changed parameters>.zip`` otherwise).

The user's own file in the data directory wins over the one shipped in ``artifacts/``; a
missing one is the one :class:`~twinbed.artifacts.MissingArtifactError` naming the train
command; an agent trained on another observation/action mapping (its record's
``meta.interface``) or for another K is refused when loaded, naming the same command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twinbed.agents import load as load_sb3
from twinbed.artifact_store import read_record
from twinbed.artifacts import ALL_PARAMS, ArtifactSpec, PaperBudget
from twinbed.codecs.semantic import SemanticCodec
from twinbed.scenarios.semantic.algorithms import AGENTS as AGENT_NAMES
from twinbed.scenarios.semantic.algorithms import INTERFACE
from twinbed.scenarios.semantic.params import SemanticParams

__all__ = ["AGENTS", "CODEC", "SHIPPED", "check_agent", "load_agent"]

SHIPPED = Path(__file__).parent / "artifacts"


def _load_codec(path: Path, p: SemanticParams) -> SemanticCodec:
    return SemanticCodec.load(path)


CODEC: ArtifactSpec[SemanticParams, SemanticCodec] = ArtifactSpec(
    name="semantic-codec", train="twinbed train semantic-codec", load=_load_codec,
    folder="codecs", suffix=".npz", shipped_dir=SHIPPED,
    description="PCA semantic codec fitted on the physical process (phi_min from it)")


def check_agent(path: Path, p: SemanticParams, algorithm: str) -> None:
    """Raise ValueError unless ``path`` was trained on this version's observation/action
    mapping (its record's ``meta.interface``)."""
    version = read_record(path).get("meta", {}).get("interface", 1)
    if version != INTERFACE:
        raise ValueError(f"the {algorithm} agent was trained on observation/action mapping "
                         f"{version}, this version uses {INTERFACE}")


def _agent_loader(algorithm: str) -> Callable[[Path, SemanticParams], Any]:
    def load(path: Path, p: SemanticParams) -> Any:
        check_agent(path, p, algorithm)
        agent = load_sb3(path, algorithm=algorithm)
        if agent.observation_space.shape != (2 * p.K,):
            raise ValueError(f"the {algorithm} agent observes {agent.observation_space.shape}, "
                             f"the run has K={p.K}")
        return agent

    return load


def _validator(algorithm: str) -> Callable[[Path, SemanticParams], None]:
    return lambda path, p: check_agent(path, p, algorithm)


# the paper trains SAC (and PPO, its comparison) for these many environment steps
PAPER_BUDGET = PaperBudget(100_000, "Table III: n_epoch = 20 epochs of n_step = 5000 steps")

AGENTS: dict[str, ArtifactSpec[SemanticParams, Any]] = {
    alg: ArtifactSpec(name=f"semantic-{alg}", train=f"twinbed train semantic --algorithm {alg}",
                      load=_agent_loader(alg), depends_on=ALL_PARAMS, shipped_dir=SHIPPED,
                      description=f"{alg.upper()} agent for these parameters",
                      validate=_validator(alg), paper_budget=PAPER_BUDGET)
    for alg in AGENT_NAMES
}


def load_agent(path: str | Path, p: SemanticParams, algorithm: str) -> Any:
    """The agent at ``path`` (checksum, interface and K checked; errors name the file)."""
    return AGENTS[algorithm].load_path(Path(path), p, 0)
