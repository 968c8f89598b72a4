"""Training the learned sync agents (SAC, DQN) on :class:`env.NetworkTwinEnv`.

Hyper-parameters from Table I where the paper gives them: discount beta = 0.8, SAC entropy
temperature alpha = 0.05 (fixed), critic learning rate lambda_Q = 1e-3. stable-baselines3 uses
one learning rate for SAC's actor and critics, so lambda_pi = 1e-4 cannot be set apart: both use
lambda_Q (README.md). DQN (the paper's GRU + DQN baseline) gets the same discount, learning rate
and network size ("the baseline model parameters are similar to that of the designed scheme").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from twinbed.agents import TrainResult, train
from twinbed.scenarios.network_twin.env import NetworkTwinEnv
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.world import Predictor

__all__ = ["hyperparams", "make_env_factory", "train_agent"]


def hyperparams(p: NetworkTwinParams, algorithm: str) -> dict[str, Any]:
    common = {"gamma": p.discount, "learning_rate": p.lr_q, "buffer_size": 100_000,
              "learning_starts": 500, "policy_kwargs": {"net_arch": [128, 128]}}
    if algorithm == "sac":
        return {**common, "ent_coef": p.sac_alpha, "batch_size": 128}
    if algorithm == "dqn":
        return {**common, "batch_size": 128, "exploration_fraction": 0.2,
                "exploration_final_eps": 0.02, "target_update_interval": 500, "train_freq": 4}
    raise ValueError(f"expected algorithm 'sac' or 'dqn', got {algorithm!r}")


def make_env_factory(p: NetworkTwinParams, predictor: Predictor, algorithm: str
                     ) -> Callable[[], NetworkTwinEnv]:
    kind: Literal["discrete", "continuous"] = "continuous" if algorithm == "sac" else "discrete"
    return lambda: NetworkTwinEnv(p, predictor, kind)


def train_agent(p: NetworkTwinParams, predictor: Predictor, algorithm: str, steps: int,
                seed: int, path: Path, *, progress: bool = True, eval_episodes: int = 3
                ) -> TrainResult:
    """Train ``algorithm`` for ``steps`` slots and save it (twinbed.agents.train)."""
    return train(make_env_factory(p, predictor, algorithm), algorithm, steps, seed, path,
                 hyperparams=hyperparams(p, algorithm), eval_episodes=eval_episodes,
                 progress=progress, checkpoint_every=max(1000, steps // 5),
                 curve_every=max(p.episode_slots, steps // 40), curve_window=5,
                 meta={"scenario": "network-twin", "params": p.model_dump(mode="json")})
