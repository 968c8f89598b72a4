"""Several SB3 PPO agents acting on one environment in lockstep, through SB3's public API.

SB3 trains one agent against its own environment (``learn()``); it has no multi-agent PPO.
Algorithm 2 needs N + 2 agents that act on the same frame, each store that frame with its own
reward in its own buffer, and update together. :class:`LockstepPPO` does, per step and for
every agent, what ``OnPolicyAlgorithm.collect_rollouts`` does for one, using only SB3's
public API:

- ``policy(obs)``: the sampled action, the critic's value and the action's log-probability;
- ``policy.predict_values(obs)``: the time-limit bootstrap (SB3 issue #633);
- the agent's ``RolloutBuffer``: ``add``, ``full``, ``compute_returns_and_advantage``, ``reset``;
- ``PPO.train()``: the clipped-loss update over the filled buffer (Adam, minibatches, epochs).

The learning-rate schedule follows the team's own frame counter (:class:`FrameClock`) through
the callable SB3 accepts as ``learning_rate``, instead of SB3's progress attribute, which only
``learn()`` maintains. A maintained multi-agent library was considered: RLlib and TorchRL/
BenchMARL bring their own stack (and torch pins) for what is here ~100 lines around SB3, which
the rest of the project already uses for its agents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ClockSchedule", "FrameClock", "LockstepPPO", "Sampled"]


class FrameClock:
    """Frames done out of ``total``: the progress every agent's schedules follow."""

    def __init__(self, total: int, done: int = 0) -> None:
        self.total, self.done = int(total), int(done)

    def remaining(self) -> float:
        """SB3's ``progress_remaining``: 1 at the start, 0 at the end."""
        return 1.0 - self.done / self.total


class ClockSchedule:
    """An SB3 schedule (``progress_remaining -> value``) read at the clock's progress; SB3's
    own argument (progress of a ``learn()`` call that never runs) is ignored."""

    def __init__(self, base: Callable[[float], float], clock: FrameClock) -> None:
        self.base, self.clock = base, clock

    def __call__(self, _progress_remaining: float) -> float:
        return float(self.base(self.clock.remaining()))


@dataclass
class Sampled:
    """One agent's draw for one step: action (1, ...), value (1, 1), log-probability (1,)."""

    action: np.ndarray
    value: Any  # torch.Tensor
    log_prob: Any  # torch.Tensor


class LockstepPPO:
    """``models`` (SB3 PPO agents with the same ``n_steps``, one environment each for their
    spaces only) stepping one shared environment together; see the module doc.

    Per step: :meth:`act` (every agent samples on its observation), the caller steps the
    environment, :meth:`bootstrap` on a time limit, :meth:`record` (each agent stores the step
    with its own reward); when :attr:`full`, :meth:`update` (every agent's returns, then every
    agent's PPO update, in agent order)."""

    def __init__(self, models: list[Any], clock: FrameClock) -> None:
        import torch  # heavy: the scenario imports this module only to train or play DMO

        self._torch = torch
        self.models, self.clock = models, clock
        self.gamma = [float(m.gamma) for m in models]
        for m in models:
            m.policy.set_training_mode(False)

    def _tensor(self, obs: np.ndarray) -> Any:
        return self._torch.as_tensor(obs[None])

    def act(self, obs: list[np.ndarray], agents: range | None = None) -> list[Sampled]:
        """Each agent in ``agents`` (default: all) samples on its observation ``obs[i]``."""
        out = []
        with self._torch.no_grad():
            for i in agents if agents is not None else range(len(self.models)):
                a, v, lp = self.models[i].policy(self._tensor(obs[i]))
                out.append(Sampled(a.numpy(), v, lp))
        return out

    def values(self, obs: np.ndarray) -> np.ndarray:
        """Every agent's critic value of one observation, shape (agents,)."""
        with self._torch.no_grad():
            o = self._tensor(obs)
            return np.array([float(m.policy.predict_values(o)[0, 0]) for m in self.models])

    def bootstrap(self, rewards: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """Rewards of a step cut by the time limit: r + gamma V(next observation)."""
        return rewards + np.asarray(self.gamma) * self.values(next_obs)

    def record(self, obs: list[np.ndarray], sampled: list[Sampled], rewards: np.ndarray,
               episode_start: bool) -> None:
        """Agent i stores (its observation, its draw, its reward) for this step."""
        for i, (m, s) in enumerate(zip(self.models, sampled, strict=False)):
            m.rollout_buffer.add(obs[i][None], s.action, np.array([rewards[i]]),
                                 np.array([episode_start]), s.value, s.log_prob)
        self.clock.done += 1
        for m in self.models:
            m.num_timesteps = self.clock.done

    @property
    def full(self) -> bool:
        return bool(self.models[0].rollout_buffer.full)

    def update(self, next_obs: np.ndarray, done: bool) -> None:
        """Returns and advantages of every agent (GAE, bootstrapped on ``next_obs`` unless the
        episode ended), then each agent's PPO update; the buffers start empty again."""
        with self._torch.no_grad():
            o = self._tensor(next_obs)
            for m in self.models:
                m.rollout_buffer.compute_returns_and_advantage(
                    last_values=m.policy.predict_values(o), dones=np.array([done]))
        for m in self.models:
            m.train()
            m.policy.set_training_mode(False)
            m.rollout_buffer.reset()
