"""What the network-twin scenario ships (``artifacts/``) and how each is evaluated.

``twinbed ship network-twin --from DIR`` copies the GRU and the SAC/DQN agents trained in the
data directory ``DIR`` for the default parameters (U = 10) into ``artifacts/`` and writes their
records (:func:`twinbed.artifact_store.ship`). Each evaluation is a function of the file and
named held-out seeds, so the test of every shipped artifact re-computes it:

* GRU: the one-step MSE per user (blocks^2, mean over users) on 200 trajectories of 30 slots
  drawn from seed 90000 (training draws from its own seed's "train" stream), beside holding the
  last state; the bound is the ideal mean of m_u Delta l^2 / 2 (README.md: moves are i.i.d.);
* agents: the mean per-slot reward (15)/(17) over episodes with seeds 90000-90019 (the shipped
  GRU as the twin), beside the rules ``never``, ``always``, ``periodic-k``, ``error-aware`` on
  the same slots; the bound is eps times the users' sum rate without any sync and with a
  perfect twin, which no policy reaches.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.artifact_store import Evaluation, curve_end, read_record, ship, training_command
from twinbed.scenarios.network_twin.algorithms import RULES, rule
from twinbed.scenarios.network_twin.contract import NetworkOutcome, SyncState
from twinbed.scenarios.network_twin.gru import HoldPredictor, load_gru, per_user_mse, trajectories
from twinbed.scenarios.network_twin.learned import AGENTS, GRU, SHIPPED
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.policies import action_to_sync, observation
from twinbed.scenarios.network_twin.world import NetworkWorld, Predictor

__all__ = ["AGENT_SEEDS", "GRU_SEEDS", "agent_score", "gru_score", "ship_all"]

GRU_SEEDS = [90_000]
AGENT_SEEDS = list(range(90_000, 90_020))
FULL_STEPS = 100_000  # the paper gives no count for Fig. 3; our `--full` figure budget
REL_TOL = 1e-4  # re-evaluation on another CPU may differ in the last float bits, not more


def _gru_mse(pred: Any, p: NetworkTwinParams, seeds: list[int]) -> float:
    return float(np.mean([per_user_mse(pred, trajectories(p, 200, 30, s, "held-out"), p.M)
                          for s in seeds]))


def gru_score(path: Path, seeds: list[int]) -> float:
    """Mean one-step MSE (blocks^2) of the GRU at ``path`` on trajectories of these seeds."""
    p = NetworkTwinParams(**read_record(path)["params"])
    return _gru_mse(load_gru(path, p), p, seeds)


def _episodes(p: NetworkTwinParams, predictor: Predictor, decide: Callable[[SyncState], bool],
              seeds: list[int]) -> list[NetworkOutcome]:
    recs = []
    for seed in seeds:
        sim = NetworkWorld(p, seed, predictor)
        for _ in range(p.episode_slots):
            recs.append(sim.step(decide(sim.state())))
    return recs


def _agent_episodes(path: Path, seeds: list[int], gru_dir: Path | None = None
                    ) -> list[NetworkOutcome]:
    """The agent at ``path`` on the episodes of these seeds, with the GRU shipped beside it
    (or in ``gru_dir``)."""
    rec = read_record(path)
    p = NetworkTwinParams(**rec["meta"]["params"])
    pred = load_gru((gru_dir or path.parent) / GRU.file_name(p, 0), p)
    agent = AGENTS[rec["algorithm"]].load_path(path, p, 0)

    def decide(state: SyncState) -> bool:
        a, _ = agent.predict(observation(p, state), deterministic=True)
        return action_to_sync(a)

    return _episodes(p, pred, decide, seeds)


def agent_score(path: Path, seeds: list[int], gru_dir: Path | None = None) -> float:
    """Mean per-slot reward of the agent at ``path`` over the episodes of these seeds."""
    return float(np.mean([r.reward for r in _agent_episodes(path, seeds, gru_dir)]))


def ship_all(src: Path, version: int, git: str | None, dest: Path = SHIPPED) -> list[Path]:
    """Ship every artifact of the default parameters found in the data directory ``src``
    (the GRU first: the agents' evaluation uses the shipped GRU)."""
    p, shipped = NetworkTwinParams(), []
    gru = GRU.user_path(src, p, 0)
    if gru.exists():
        rec = read_record(gru)
        ideal = float(np.mean((1.0 - p.move_probs()[:, 0]) * p.step_blocks**2 / 2))
        ev = Evaluation(
            metric="one-step MSE per user (blocks^2), held-out trajectories",
            higher_is_better=False, seeds=GRU_SEEDS, score=gru_score(gru, GRU_SEEDS),
            baselines={"hold the last state": _gru_mse(HoldPredictor(), p, GRU_SEEDS)},
            bound={"expected MSE of the optimal predictor, m_u dl^2 / 2": ideal}, tolerance=1e-6,
            evaluator=f"{__name__}:gru_score",
            note="moves are i.i.d.: holding is optimal and the GRU learns it (README.md)")
        shipped.append(ship(gru, dest, scenario="network-twin", name=GRU.name, folder=GRU.folder,
                            version=version, command=training_command(rec), seed=int(rec["seed"]),
                            budget={"trajectories": rec["n_trajectories"], "length": rec["length"],
                                    "epochs": rec["epochs"]},
                            paper_budget={"trajectories": 2000, "length": 30},
                            budget_note="the paper gives no epoch count", evaluation=ev, git=git))
    trained = {alg: spec.user_path(src, p, 0) for alg, spec in AGENTS.items()}
    trained = {alg: path for alg, path in trained.items() if path.exists()}
    if not trained:
        return shipped
    pred = load_gru(dest / GRU.file_name(p, 0), p)
    baselines = {r: float(np.mean([x.reward for x in _episodes(
        p, pred, partial(rule, p, r), AGENT_SEEDS)])) for r in RULES}
    never = _episodes(p, pred, lambda s: False, AGENT_SEEDS)
    bound = {"eps x sum rate, no sync, perfect twin":
             float(p.epsilon * np.mean([x.sum_rate for x in never]))}
    for alg, path in trained.items():
        spec = AGENTS[alg]
        rec = read_record(path)
        score = agent_score(path, AGENT_SEEDS, gru_dir=dest)  # with the GRU it ships beside
        ev = Evaluation(
            metric="mean reward (15)/(17) per slot", higher_is_better=True, seeds=AGENT_SEEDS,
            score=score, baselines=baselines, bound=bound,
            tolerance=REL_TOL * max(1.0, abs(score)), evaluator=f"{__name__}:agent_score",
            note=f"episodes of {p.episode_slots} slots, the shipped GRU as the twin")
        shipped.append(ship(
            path, dest, scenario="network-twin", name=spec.name, folder=spec.folder,
            version=version, command=training_command(rec), seed=int(rec["seed"]),
            budget={"steps": rec["steps"]}, paper_budget=None,
            budget_note=f"the paper gives no step count for Fig. 3; {rec['steps']} steps here, "
                        f"our --full figure budget is {FULL_STEPS}",
            curve_end=curve_end(rec.get("curve", [])), evaluation=ev, git=git))
    return shipped
