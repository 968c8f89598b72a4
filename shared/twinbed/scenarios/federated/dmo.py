"""DMO: the PPO agents of Algorithm 2 trained on :class:`FederatedEnv`, and their policy.

Training goes through :func:`twinbed.agents.train` (SB3 PPO, progress bar, checkpoints, a JSON
record). Network and hyper-parameters follow Table III as reconstructed (3-layer MLPs with two
hidden layers of 64 and tanh, Adam 3e-4, gamma 0.99, GAE 0.95, clip 0.2, entropy 0.01).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twinbed.scenarios.federated.algorithms import Decision, View, utility_estimate
from twinbed.scenarios.federated.env import (FederatedEnv, action_nvec, decode_action, obs_size,
                                             observation)
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["AGENT_NAME", "DmoPolicy", "HYPERPARAMS", "TRAIN_COMMAND", "dmo_path", "load_dmo",
           "train_dmo"]

AGENT_NAME = "federated-dmo"
TRAIN_COMMAND = "twinbed train federated-dmo"
HYPERPARAMS: dict[str, Any] = {"learning_rate": 3e-4, "n_steps": 400, "batch_size": 100,
                               "n_epochs": 10, "gamma": 0.99, "gae_lambda": 0.95,
                               "clip_range": 0.2, "ent_coef": 0.01}


def dmo_path(data_dir: str | Path, name: str = AGENT_NAME) -> Path:
    from twinbed.agents import agent_path

    return agent_path(data_dir, name)


def train_dmo(p: FederatedParams, steps: int, seed: int, path: Path, *, frames: int | None = None,
              progress: bool = True, checkpoint_every: int | None = None,
              hyperparams: dict[str, Any] | None = None) -> Any:
    """Train the DMO agents for ``steps`` frames; episodes of ``frames`` frames."""
    from twinbed.agents import train

    hyper = {**HYPERPARAMS, **(hyperparams or {})}
    return train(lambda: FederatedEnv(p, frames=frames), "ppo", steps, seed, path,
                 hyperparams=hyper, progress=progress, eval_episodes=2,
                 checkpoint_every=checkpoint_every,
                 meta={"scenario": "federated", "params": p.model_dump(mode="json"),
                       "frames": frames or p.frames, "obs_size": obs_size(p)})


def load_dmo(data_dir: str | Path, p: FederatedParams, name: str = AGENT_NAME) -> Any:
    """The trained PPO; a missing or mismatched checkpoint says how to train one."""
    from twinbed.agents import load, read_record

    path = dmo_path(data_dir, name)
    model = load(path, command=TRAIN_COMMAND)
    meta = read_record(path).get("meta", {})
    want = (obs_size(p), action_nvec(p))
    have = (model.observation_space.shape[0], list(model.action_space.nvec))
    if have != want:
        old = {k: meta.get("params", {}).get(k) for k in ("N", "K")}
        raise ValueError(f"the checkpoint {path} is for N={old['N']}, K={old['K']}; train one "
                         f"for N={p.N}, K={p.K} with `{TRAIN_COMMAND} --N {p.N} --K {p.K}`")
    return model


class DmoPolicy:
    """The trained agents as a decision maker: observe, act deterministically, decode."""

    def __init__(self, p: FederatedParams, model: Any, deterministic: bool = True) -> None:
        self.model, self.deterministic = model, deterministic
        self.ell_max = p.ell_max

    def act(self, v: View) -> Decision:
        est = utility_estimate(v)
        action, _ = self.model.predict(observation(v, est), deterministic=self.deterministic)
        return decode_action(v.p, np.asarray(action), est)

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass


def _check_env() -> None:  # used by tests
    from gymnasium.utils.env_checker import check_env

    check_env(FederatedEnv(FederatedParams(M=8), frames=3))
