"""The network-twin scenario's learned artifacts, declared once
(:class:`twinbed.artifacts.ArtifactSpec`).

* :data:`GRU`: the cloud twin's predictor, per number of users (``models/network-twin-gru-U10.pt``,
  made by ``twinbed train network-twin-gru``), needed by every run whose ``predictor`` is
  ``gru``; one trained on another mobility model is named after it
  (``network-twin-gru-U10-mobilitygauss-markov.pt``);
* :data:`AGENTS`: the SAC and DQN sync agents, per number of users
  (``agents/network-twin-sac-U10.zip``, made by ``twinbed train network-twin``).

The user's own file in the data directory wins over the one shipped in ``artifacts/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twinbed.agents import load as load_sb3
from twinbed.artifacts import ArtifactSpec, PaperBudget
from twinbed.scenarios.network_twin.gru import GRUPredictor, load_gru
from twinbed.scenarios.network_twin.params import NetworkTwinParams

__all__ = ["AGENTS", "GRU", "LEARNED", "SHIPPED"]

SHIPPED = Path(__file__).parent / "artifacts"
LEARNED = ("sac", "dqn")


def _load_gru(path: Path, p: NetworkTwinParams) -> GRUPredictor:
    return load_gru(path, p)  # refuses a GRU trained for other U, M, N^h, area or step


def _check_gru(path: Path, p: NetworkTwinParams) -> None:
    load_gru(path, p)


GRU: ArtifactSpec[NetworkTwinParams, GRUPredictor] = ArtifactSpec(
    name="network-twin-gru", train="twinbed train network-twin-gru", load=_load_gru,
    depends_on=("U",), unless_default=("mobility", "gm_memory", "gru_input"), folder="models",
    suffix=".pt", shipped_dir=SHIPPED,
    description="the cloud twin's GRU mobility predictor (eqs. 6-12)",
    validate=_check_gru)  # a GRU for other M, N^h, area or step is refused before the run


def _agent_loader(algorithm: str) -> Callable[[Path, NetworkTwinParams], Any]:
    def load(path: Path, p: NetworkTwinParams) -> Any:
        return load_sb3(path, algorithm=algorithm)

    return load


PAPER_BUDGET = PaperBudget(None, "Fig. 3 plots the reward against training epochs; the text "
                                  "states neither their number nor their length")

AGENTS: dict[str, ArtifactSpec[NetworkTwinParams, Any]] = {
    alg: ArtifactSpec(name=f"network-twin-{alg}",
                      train=f"twinbed train network-twin --algorithm {alg}",
                      load=_agent_loader(alg), depends_on=("U",), shipped_dir=SHIPPED,
                      description=f"{alg.upper()} sync agent", paper_budget=PAPER_BUDGET)
    for alg in LEARNED
}

