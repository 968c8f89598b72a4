"""``dmo-shared``: a comparison for DMO, the N + 2 agents' actions as the independent heads of
ONE SB3 PPO policy (one actor torso, one critic, one team reward), trained on
:class:`FederatedEnv`. DMO itself (the paper's N + 2 separate agents) is :mod:`dmo`.

Training goes through :func:`twinbed.agents.train` (SB3 PPO, progress bar, checkpoints, a JSON
record), with the same Table III hyper-parameters as DMO (constant learning rate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twinbed.agents import train
from twinbed.scenarios.federated.algorithms import Decision, View, utility_estimate
from twinbed.scenarios.federated.artifacts import DMO_SHARED
from twinbed.scenarios.federated.dmo import HYPERPARAMS
from twinbed.scenarios.federated.env import (
    FederatedEnv,
    decode_action,
    obs_size,
    observation,
)
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["SharedDmoPolicy", "load_shared", "shared_path",
           "train_shared"]


def shared_path(data_dir: str | Path, p: FederatedParams | None = None) -> Path:
    """Where ``twinbed train federated-dmo-shared`` saves the policy for ``p`` (default
    parameters): ``<data>/agents/federated-dmo-shared[-<digest>].zip`` (:data:`.artifacts.
    DMO_SHARED`), record beside it."""
    return DMO_SHARED.user_path(data_dir, p or FederatedParams(), 0)


def train_shared(p: FederatedParams, steps: int, seed: int, path: Path, *,
                 frames: int | None = None, progress: bool = True,
                 checkpoint_every: int | None = None,
                 hyperparams: dict[str, Any] | None = None) -> Any:
    """Train the one multi-head policy for ``steps`` frames; episodes of ``frames`` frames."""

    hyper = {**HYPERPARAMS, **(hyperparams or {})}
    return train(lambda: FederatedEnv(p, frames=frames), "ppo", steps, seed, path,
                 hyperparams=hyper, progress=progress, eval_episodes=2,
                 checkpoint_every=checkpoint_every,
                 meta={"scenario": "federated", "params": p.model_dump(mode="json"),
                       "frames": frames or p.frames, "obs_size": obs_size(p)})


def load_shared(data_dir: str | Path, p: FederatedParams) -> Any:
    """The trained PPO for ``p``: the user's in ``data_dir``, else the shipped one
    (:data:`.artifacts.DMO_SHARED`); an :class:`~twinbed.artifacts.ArtifactError` (a
    ValueError) names the file or the train command otherwise."""
    return DMO_SHARED.load_for(p, 0, data_dir)


class SharedDmoPolicy:
    """The trained multi-head policy as a decision maker: observe, act deterministically, decode."""

    def __init__(self, p: FederatedParams, model: Any, deterministic: bool = True) -> None:
        self.model, self.deterministic = model, deterministic
        self.ell_max = p.ell_max

    def act(self, v: View) -> Decision:
        est = utility_estimate(v)
        action, _ = self.model.predict(observation(v, est), deterministic=self.deterministic)
        return decode_action(v.p, np.asarray(action), est)

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass
