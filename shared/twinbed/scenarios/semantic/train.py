"""Training the scenario's agents (SAC as in Table III, PPO) with twinbed.agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twinbed.scenarios.semantic.params import SacHyper, SemanticParams
from twinbed.scenarios.semantic.simulate import agent_name

__all__ = ["REWARD_SCALE", "hyperparams", "make_training_env", "train_agent"]

REWARD_SCALE = 0.01  # = 1 - gamma: Q-values of the order of one slot's reward (README.md)


def make_training_env(p: SemanticParams):  # noqa: ANN201 - gymnasium.Env
    """The env the learners see: eq. (22) times REWARD_SCALE (a positive factor: same optimum)."""
    import gymnasium as gym

    from twinbed.scenarios.semantic.env import SemanticSyncEnv

    return gym.wrappers.TransformReward(SemanticSyncEnv(p), lambda r: REWARD_SCALE * r)


def hyperparams(algorithm: str, steps: int) -> dict[str, Any]:
    """SB3 arguments. SAC: Table III (lr 1e-4, batch 256, replay 1e6 (capped at the steps, which
    changes nothing), gamma 0.99, two hidden ReLU layers of 256, soft target updates (tau =
    0.005 every step: a hard copy every 320 steps, the other reading of "target network update
    frequency 320", collapsed the policy after ~3,200 steps, README.md); the temperature is tuned
    automatically (eq. 28) from 0.01, SB3's target entropy -dim(A)). PPO (no table in the paper): the same
    learning rate, network and gamma; rollouts of 20 cycles."""
    import torch

    h = SacHyper()
    net = {"net_arch": list(h.hidden), "activation_fn": torch.nn.ReLU}
    if algorithm == "sac":
        return {"learning_rate": h.learning_rate, "batch_size": h.batch_size,
                "buffer_size": min(h.buffer_size, max(steps, h.batch_size)), "gamma": h.gamma,
                "tau": 0.005, "target_update_interval": 1,
                "ent_coef": "auto_0.01",
                "learning_starts": min(1000, steps // 10), "policy_kwargs": net}
    if algorithm == "ppo":
        return {"learning_rate": h.learning_rate, "gamma": h.gamma, "n_steps": 500,
                "batch_size": 100, "n_epochs": 10, "policy_kwargs": net}
    raise ValueError(f"expected sac or ppo, got {algorithm!r}")


def train_agent(p: SemanticParams, algorithm: str, steps: int, seed: int, data_dir: str | Path,
                *, path: Path | None = None, progress: bool = True,
                eval_episodes: int = 5) -> Any:
    """Train and save ``<data>/agents/<agent_name>.zip``; returns twinbed.agents.TrainResult."""
    from twinbed.agents import agent_path, train

    path = path or agent_path(data_dir, agent_name(p, algorithm))
    return train(lambda: make_training_env(p), algorithm, steps=steps, seed=seed, path=path,
                 hyperparams=hyperparams(algorithm, steps), progress=progress,
                 eval_episodes=eval_episodes, checkpoint_every=max(1000, steps // 10),
                 curve_every=p.N * 4, curve_window=20,
                 meta={"scenario": "semantic", "params": p.model_dump(mode="json"),
                       "reward_scale": REWARD_SCALE})
