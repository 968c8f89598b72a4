"""Training the scenario's agents (SAC as in Table III, PPO) with twinbed.agents.

What the learners see (README.md, "Training the agents", says why each choice and how it was
measured): the env of env.py with the reward (22) averaged over the slot's unobserved fading
(``reward="expected"``; ``"sampled"`` trains on the realized one) and mapped affinely,
r' = (r - b) / |b|, with b the reference reward of :func:`reward_reference`. A positive factor and
an offset change no optimal policy of a task that never terminates (SB3 bootstraps truncated
cycles); they put the Q-values near 0 with unit steps for every K. What is saved is the best
snapshot of the deterministic policy on validation cycles (:func:`validation_reward`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from twinbed.agents import TrainResult, train
from twinbed.scenarios.semantic.algorithms import INTERFACE
from twinbed.scenarios.semantic.env import SemanticSyncEnv
from twinbed.scenarios.semantic.learned import AGENTS
from twinbed.scenarios.semantic.params import SacHyper, SemanticParams

__all__ = ["REFERENCE_CYCLES", "VALIDATION_CYCLES", "VALIDATION_SEED", "hyperparams",
           "make_training_env", "reward_reference", "train_agent", "validation_reward"]

REFERENCE_CYCLES = 2  # run seeds 0.. of the reference reward
VALIDATION_SEED = 20_000  # run seeds of the validation cycles (figures evaluate on 10000..)
VALIDATION_CYCLES = 4


def reward_reference(p: SemanticParams) -> float:
    """b: the mean per-slot fading-averaged reward of the centre action (a = 0: phi, f, p midway
    in their ranges, equal edge shares) over ``REFERENCE_CYCLES`` cycles (run seeds 0, 1, ...).
    Deterministic; -78.5 at the defaults, -6.0 at K = 2, -231.6 at K = 10."""
    env = SemanticSyncEnv(p, reward="expected")
    a0 = np.zeros((4 * p.K,), np.float32)  # the centre of env.action_space
    total = 0.0
    for c in range(REFERENCE_CYCLES):
        env.reset(options={"run_seed": c})
        total += sum(float(env.step(a0)[1]) for _ in range(p.N))
    return total / (REFERENCE_CYCLES * p.N)


def validation_reward(p: SemanticParams, agent: Any, cycles: int = VALIDATION_CYCLES) -> float:
    """Mean per-slot fading-averaged reward (22) of the agent's deterministic policy on the
    validation cycles (run seeds ``VALIDATION_SEED + i``)."""
    env = SemanticSyncEnv(p, reward="expected")
    total = 0.0
    for c in range(cycles):
        obs, _ = env.reset(options={"run_seed": VALIDATION_SEED + c})
        for _ in range(p.N):
            a, _ = agent.predict(obs, deterministic=True)
            obs, r, *_ = env.step(a)
            total += r
    return total / (cycles * p.N)


def _selector(p: SemanticParams, every: int) -> Any:  # an SB3 BaseCallback (SB3 loads lazily)
    """Every ``every`` steps, validate the deterministic policy; when learning ends, put back
    the parameters of the best validated snapshot (README.md: SAC drifts after ~8k steps)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Select(BaseCallback):
        def _on_training_start(self) -> None:
            self.best: tuple[float, int, Any] | None = None
            self.history: list[tuple[int, float]] = []

        def _check(self) -> None:
            r = validation_reward(p, self.model)
            self.history.append((self.num_timesteps, r))
            if self.best is None or r > self.best[0]:
                self.best = (r, self.num_timesteps, copy.deepcopy(self.model.policy.state_dict()))

        def _on_step(self) -> bool:
            if self.num_timesteps % every == 0:
                self._check()
            return True

        def _on_training_end(self) -> None:
            if not self.history or self.history[-1][0] != self.num_timesteps:
                self._check()
            if self.best is None:
                raise RuntimeError("no validated snapshot to select")
            self.model.policy.load_state_dict(self.best[2])

    return Select()


def make_training_env(p: SemanticParams, reward: str = "expected",
                      b: float | None = None) -> gym.Env[Any, Any]:
    """The env the learners see: reward (22) (fading-averaged by default) as (r - b) / |b|."""
    b = reward_reference(p) if b is None else b
    scale = 1.0 / max(abs(b), 1e-9)
    return gym.wrappers.TransformReward(SemanticSyncEnv(p, reward),
                                        lambda r: (float(r) - b) * scale)


def hyperparams(algorithm: str, steps: int) -> dict[str, Any]:
    """SB3 arguments. SAC: Table III (lr 1e-4, batch 256, replay 1e6 (capped at the steps, which
    changes nothing), gamma 0.99, two hidden ReLU layers of 256, soft target updates (tau =
    0.005 every step: a hard copy every 320 steps, the other reading of "target network update
    frequency 320", collapsed the policy after ~3,200 steps, README.md); the temperature is tuned
    automatically (eq. 28) from 0.01, SB3's target entropy -dim(A)). PPO (no table in the
    paper): the same learning rate, network and gamma; rollouts of 20 cycles; initial action
    std e^-1; GAE lambda 0, i.e. one-step TD advantages (README.md)."""
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
                "batch_size": 100, "n_epochs": 10, "gae_lambda": PPO_GAE_LAMBDA,
                "policy_kwargs": {**net, "log_std_init": PPO_LOG_STD_INIT}}
    raise ValueError(f"expected sac or ppo, got {algorithm!r}")


PPO_LOG_STD_INIT = -1.0
PPO_GAE_LAMBDA = 0.0  # the action does not move the next state: one-step advantages (README.md)


def train_agent(p: SemanticParams, algorithm: str, steps: int, seed: int, data_dir: str | Path,
                *, path: Path | None = None, progress: bool = True,
                eval_episodes: int = 5, reward: str = "expected") -> TrainResult:
    """Train and save ``<data>/agents/<agent_name>.zip`` (where :data:`learned.AGENTS`
    finds it, ahead of the shipped one); returns twinbed.agents.TrainResult.
    The saved policy is the best of the snapshots validated every max(500, steps/40) steps
    (and at the end); the record holds the interface version, the reward mode, b (``meta``)
    and the selection (``selected``: its step, validation reward and the whole history)."""
    path = path or AGENTS[algorithm].user_path(data_dir, p, 0)
    b = reward_reference(p)
    select = _selector(p, max(500, steps // 40))
    res = train(lambda: make_training_env(p, reward, b), algorithm, steps=steps, seed=seed,
                path=path, hyperparams=hyperparams(algorithm, steps), progress=progress,
                eval_episodes=eval_episodes, checkpoint_every=max(1000, steps // 10),
                curve_every=p.N * 4, curve_window=20, callbacks=[select],
                meta={"scenario": "semantic", "params": p.model_dump(mode="json"),
                      "interface": INTERFACE, "reward": reward, "reward_reference": b,
                      "reward_map": "(r - b) / |b|"})
    rec = json.loads(path.with_suffix(".json").read_text())
    rec["selected"] = {"timesteps": select.best[1], "validation_reward": select.best[0],
                       "validation": select.history,
                       "rule": f"best mean fading-averaged reward of the deterministic policy on "
                               f"{VALIDATION_CYCLES} cycles (run seeds {VALIDATION_SEED}..)"}
    path.with_suffix(".json").write_text(json.dumps(rec, indent=1, default=str))
    return res
