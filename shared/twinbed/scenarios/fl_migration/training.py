"""Training the learned association schemes (``ppo``, ``actor-critic``, ``ddpg``) with SB3.

Hyper-parameters from Table II where SB3 has them: discount 0.98, GAE lambda 0.9, clip 0.2,
two hidden layers of 128 for actor and critic. SB3 trains actor and critic with one optimizer,
so the actor's rate 2.5e-4 is used for both (the paper's critic rate is 1.5e-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.agents import train
from twinbed.scenarios.fl_migration.algorithms import LEARNED
from twinbed.scenarios.fl_migration.artifacts import AGENTS, AGENTS_PER_EMD
from twinbed.scenarios.fl_migration.env import FlMigrationEnv
from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["EpisodeLog", "PAPER_EMDS", "hyperparams", "train_scheme"]

PAPER_EMDS = (0.0, 0.2, 0.4, 0.6)


def hyperparams(p: FlMigrationParams, scheme: str, episode_slots: int) -> dict[str, Any]:
    net = [p.hidden, p.hidden]
    if scheme == "ppo":
        # Algorithm 1: one episode of T transitions per policy update, then M epochs
        return {"learning_rate": p.lr_actor, "gamma": p.sigma, "gae_lambda": p.gae_lambda,
                "clip_range": p.clip_eps, "n_steps": max(8, episode_slots),
                "batch_size": max(8, episode_slots), "n_epochs": 10,
                "policy_kwargs": {"net_arch": net}}
    if scheme == "actor-critic":
        return {"learning_rate": p.lr_actor, "gamma": p.sigma, "gae_lambda": p.gae_lambda,
                "n_steps": 5, "policy_kwargs": {"net_arch": net}}
    if scheme == "ddpg":
        return {"learning_rate": 1e-3, "gamma": p.sigma, "learning_starts": 100,
                "buffer_size": 100_000, "policy_kwargs": {"net_arch": net}}
    raise ValueError(f"expected a learned scheme in {sorted(LEARNED)}, got {scheme!r}")


@dataclass
class EpisodeLog:
    """What every finished training episode achieved (for Figs. 4 and 10)."""

    rows: list[dict[str, float]] = field(default_factory=list)


class _LoggedEnv(FlMigrationEnv):
    def __init__(self, log: EpisodeLog, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._log = log
        self._acc: dict[str, float] = {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        out = super().reset(seed=seed, options=options)
        self._acc = {"reward": 0.0, "objective": 0.0, "utility": 0.0, "cost_total": 0.0, "n": 0}
        return out

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, r, term, trunc, info = super().step(action)
        a = self._acc
        a["reward"] += r
        for k in ("objective", "utility", "cost_total"):
            a[k] += info[k]
        a["n"] += 1
        if term or trunc:
            n = a["n"]
            self._log.rows.append({"episode": len(self._log.rows), "emd": float(self.inst.emd[0]),
                                   "return": a["reward"], "reward_mean": a["reward"] / n,
                                   "objective_mean": a["objective"] / n,
                                   "utility_mean": a["utility"] / n,
                                   "cost_mean": a["cost_total"] / n})
        return obs, r, term, trunc, info


def train_scheme(p: FlMigrationParams, scheme: str, seed: int, steps: int, data_dir: str | Path,
                 episode_slots: int = 50, emd: float | None = None, progress: bool = True,
                 log: EpisodeLog | None = None, eval_episodes: int = 2,
                 checkpoint_every: int | None = None) -> Any:
    """Train ``scheme`` on the instance of ``seed``; ``emd=None`` trains over the paper's four
    EMDs (one drawn per episode). A killed training, started again with the same arguments,
    resumes from its newest checkpoint (every ``checkpoint_every`` steps, default
    max(1000, steps / 20)). Returns twinbed.agents.TrainResult."""

    if scheme not in LEARNED:
        raise ValueError(f"expected a learned scheme in {sorted(LEARNED)}, got {scheme!r}")
    emds = PAPER_EMDS if emd is None else None
    if emd is not None:
        p = p.model_copy(update={"emd": emd, "emd_per_user": None})
    log = log if log is not None else EpisodeLog()
    path = (AGENTS if emd is None else AGENTS_PER_EMD)[scheme].user_path(data_dir, p, seed)

    def make_env() -> FlMigrationEnv:
        return _LoggedEnv(log, p, instance_seed=seed, episode_slots=episode_slots,
                          continuous=scheme == "ddpg", emds=emds)

    return train(make_env, LEARNED[scheme], steps=steps, seed=seed,
                 path=path, hyperparams=hyperparams(p, scheme, episode_slots),
                 progress=progress, eval_episodes=eval_episodes,
                 checkpoint_every=checkpoint_every or max(1000, steps // 20),
                 curve_every=max(1, min(steps // 50, 1000)),  # a point every 1000 steps at most
                 meta={"scenario": "fl-migration", "scheme": scheme, "params": p.model_dump(),
                       "episode_slots": episode_slots, "emd": "all" if emd is None else emd})
