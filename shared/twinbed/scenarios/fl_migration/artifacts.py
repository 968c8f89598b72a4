"""The learned association schemes' agents, declared once as :class:`ArtifactSpec`.

An agent is trained for one instance (U, S and the run's seed draw the edge servers, their
resources and the users' twins), so its file is ``fl-migration-<scheme>-U<U>-S<S>-seed<seed>
.zip``: trained over the paper's four EMDs (the EMD is in the observation), what
``twinbed train fl-migration --algorithm <scheme>`` makes and what a run uses
(:func:`agent_specs`). ``--emd <e>`` trains for one EMD only (``...-seed<seed>-emd<e>.zip``,
:data:`AGENTS_PER_EMD`): the paper's per-scenario agents, which ``reproduce --full`` plays.

The core resolves every file (the user's ``<data>/agents/<file>`` wins over the one shipped in
``artifacts/`` beside this module), checks its checksum and names the train command when none
is there (:mod:`twinbed.artifacts`). The defaults (U = 20, S = 9, seed 0) ship for ``ppo``,
``actor-critic`` and ``ddpg``, with their evaluation (:mod:`.evaluation`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.agents import load
from twinbed.artifacts import ArtifactSpec, PaperBudget
from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["AGENTS", "AGENTS_PER_EMD", "SHIPPED_DIR", "Policy", "agent_specs", "load_agent"]

Policy = Callable[[np.ndarray], np.ndarray]
SHIPPED_DIR = Path(__file__).parent / "artifacts"
TRAIN = "twinbed train fl-migration --algorithm {scheme}"
_LEARNED = ("ppo", "actor-critic", "ddpg")


def load_agent(path: Path, p: FlMigrationParams) -> Policy:
    """The SB3 agent at ``path`` as ``obs -> action`` (deterministic); its algorithm comes from
    the record beside it. An agent of another U or S is refused by its spaces."""

    sb3 = load(path)
    U, S = p.U, p.S
    want = (5 * U + 2 * S + 2 * U * S,)
    if tuple(sb3.observation_space.shape) != want:
        raise ValueError(f"trained for another U or S (observation {sb3.observation_space.shape},"
                         f" expected {want})")

    def act(obs: np.ndarray) -> np.ndarray:
        return np.asarray(sb3.predict(obs, deterministic=True)[0])

    act.model = sb3  # type: ignore[attr-defined]  # the SB3 model, for whoever needs it
    return act


def _spec(scheme: str, per_emd: bool) -> ArtifactSpec[FlMigrationParams, Policy]:
    deps = ("U", "S", "seed", "emd") if per_emd else ("U", "S", "seed")
    return ArtifactSpec(
        name=f"fl-migration-{scheme}", train=TRAIN.format(scheme=scheme), load=load_agent,
        depends_on=deps, folder="agents", suffix=".zip", shipped_dir=SHIPPED_DIR,
        description=f"{scheme} association agent for one instance"
                    + (", one EMD" if per_emd else ", trained over the four EMDs"),
        paper_budget=PaperBudget(None, "Algorithm 1 iterates M epochs (Table I names M, gives "
                                       "no value); Fig. 4's iteration axis is not in the text"))


AGENTS: dict[str, ArtifactSpec[FlMigrationParams, Policy]] = {
    s: _spec(s, per_emd=False) for s in _LEARNED}
AGENTS_PER_EMD: dict[str, ArtifactSpec[FlMigrationParams, Policy]] = {
    s: _spec(s, per_emd=True) for s in _LEARNED}


def agent_specs(p: FlMigrationParams, algorithm: str) -> list[ArtifactSpec[Any, Any]]:
    """The artifact a run of ``algorithm`` needs: the agent trained over all EMDs (none for
    the schemes that learn nothing)."""
    return [AGENTS[algorithm]] if algorithm in AGENTS else []
