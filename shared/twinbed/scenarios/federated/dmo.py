"""DMO (Algorithm 2): the paper's N + 2 PPO agents, trained frame by frame around GS and SOCF.

Agent i owns a slice of :class:`FederatedEnv`'s MultiDiscrete action (:func:`agent_slices`):
ES agent A_n the pair (rounds level, subcarrier level) of ES n, A_K the partial-DTs' first
choices, A_N the ESs' first choices. Each agent is its own SB3 PPO (own actor, own critic, own
rollout buffer). In every frame all N + 2 agents act on the frame's observation (their actions
together are the frame's decision), GS and SOCF run inside the environment's step, and each
agent stores the frame in its own buffer with its own reward: eq. (37) ``r_n = U_n`` (eq. 27,
frame-time penalty included) for ES agent n, eq. (38) ``lambda1 Q - lambda2 E`` minus ``zeta
max(0, T - tau)`` for A_K and A_N (:func:`agent_rewards`). When the buffers hold ``n_steps``
frames every agent does its PPO update (SB3's ``PPO.train``: clipped actor loss, critic MSE,
Adam) - Algorithm 2, lines 4-14. SB3 has no multi-agent PPO: :class:`~.marl.LockstepPPO` steps
the agents together through SB3's public API (the rollout collection of
``OnPolicyAlgorithm.collect_rollouts``, for every agent on the shared frame).

Training shows a progress bar, writes all agents every ``checkpoint_every`` frames to
``<name>.partial/ckpt_<frames>_steps/`` and resumes from there when started again with the
same configuration (:func:`twinbed.agents.resume_point`), and leaves the team as one file
``<name>.zip`` (:func:`.artifacts.write_team`) with the JSON record ``<name>.json`` beside it
(:func:`twinbed.agents.write_record`).

Network and hyper-parameters follow Table III as reconstructed (see :data:`HYPERPARAMS`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from twinbed.agents import CurvePoint, resume_point, write_record
from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.algorithms import Decision, View, utility_estimate
from twinbed.scenarios.federated.artifacts import DMO, DmoAgents, agent_slices, write_team
from twinbed.scenarios.federated.env import (
    OBS_HIGH,
    FederatedEnv,
    action_nvec,
    decode_action,
    obs_size,
    observation,
)
from twinbed.scenarios.federated.games import socf, socf_init
from twinbed.scenarios.federated.marl import ClockSchedule, FrameClock, LockstepPPO, Sampled
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import run_episode

__all__ = ["AgentEnv", "DmoAgents", "DmoPolicy", "DmoTrainResult", "HYPERPARAMS",
           "agent_rewards", "agent_slices", "dmo_path", "load_dmo", "stage1",
           "train_dmo", "with_partition"]

# Table III as reconstructed (the sister code's argsettings): 64-64 tanh actor and critic, Adam,
# gamma 0.99, GAE 0.95, clip 0.2, 10 epochs, entropy 0.01, Adam eps 1e-5, gradient clip 0.5 and
# orthogonal initialization (SB3's defaults), minibatch 64, linear learning-rate decay (set in
# :func:`train_dmo`). The buffer holds 512 frames instead of 2048: every agent stores every
# frame, so 512 frames are already 8 minibatches per epoch, and 4x more updates per frame.
HYPERPARAMS: dict[str, Any] = {"learning_rate": 3e-4, "n_steps": 512, "batch_size": 64,
                               "n_epochs": 10, "gamma": 0.99, "gae_lambda": 0.95,
                               "clip_range": 0.2, "ent_coef": 0.01,
                               "policy_kwargs": {"optimizer_kwargs": {"eps": 1e-5}}}
REWARD_SCALE = 0.1


def dmo_path(data_dir: str | Path, p: FederatedParams | None = None) -> Path:
    """Where ``twinbed train federated-dmo`` saves the team for ``p`` (default parameters):
    ``<data>/agents/federated-dmo[-<digest>].zip`` (:data:`.artifacts.DMO`), record beside it."""
    return DMO.user_path(data_dir, p or FederatedParams(), 0)


def agent_rewards(p: FederatedParams, info: dict[str, Any]) -> np.ndarray:
    """Each agent's reward for one frame (shape N + 2) from :class:`FederatedEnv`'s info."""
    r_c = p.lambda1 * info["Q"] - p.lambda2 * info["E_J"] - info["penalty"]
    return np.concatenate([np.asarray(info["U_n"], dtype=float), [r_c, r_c]])


def with_partition(p: FederatedParams, obs: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``obs`` with its coalition-size entries (see :mod:`env`) taken from the partition ``Y``."""
    i = 2 * p.K + p.K * p.N + p.N
    out = obs.copy()
    out[i:i + p.N] = np.clip(Y.sum(axis=0) / p.Z_max, 0.0, OBS_HIGH)
    return out


def stage1(p: FederatedParams, v: View, obs: np.ndarray, joint: np.ndarray, est: np.ndarray,
           es_act: Any, iters: int) -> tuple[Decision, np.ndarray, list[Any] | None]:
    """Algorithm 2's Stage 1 for the matching that ``joint``'s A_K / A_N slices give: SOCF on the
    ES agents' allocations, the partition fed back to the ES agents (their observation's
    coalition sizes), again, until the allocations stop changing or ``iters`` SOCF calls. SOCF
    draws from ``v.g`` (the frame's SOCF stream) and starts from the last partition.

    ``es_act(obs) -> (actions (N, 2), extra)`` gives the ES agents' slices of the joint action.
    Returns the decision (with its coalitions), the observation the final allocations were
    chosen on, and their ``extra``."""

    d = decode_action(p, joint, est)
    z, ell, extra, seen = d.z, d.ell, None, obs
    Y = v.state.Y
    for j in range(iters):
        fc = model.frame_ctx(p, v.inst, v.frame, v.state, d.assign, z, ell)
        start = fc if j == 0 else fc._replace(Y_prev=Y)
        Y = socf(p, fc, socf_init(p, start, v.g), v.g).Y
        if j == iters - 1:
            break
        o = with_partition(p, obs, Y)
        a, ex = es_act(o)
        j2 = joint.copy()
        for n in range(p.N):
            j2[[n, p.N + n]] = a[n]
        d2 = decode_action(p, j2, est)
        if np.array_equal(d2.z, z) and np.array_equal(d2.ell, ell):
            break
        z, ell, extra, seen = d2.z, d2.ell, ex, o
    return Decision(d.assign, z, ell, Y), seen, extra


class AgentEnv(gym.Env[np.ndarray, np.ndarray]):
    """One agent's view of the frames: its action slice and its reward, the other agents acting
    uniformly at random. It gives each PPO its spaces and passes the env checkers; training
    itself steps one shared :class:`FederatedEnv` with all agents' actions (:func:`train_dmo`)."""

    metadata = {"render_modes": []}

    def __init__(self, p: FederatedParams, agent: int, frames: int | None = None) -> None:
        super().__init__()
        self.p, self.agent = p, agent
        self.env = FederatedEnv(p, frames=frames, reward_scale=REWARD_SCALE)
        self.slices = agent_slices(p)
        self.nvec = np.asarray(action_nvec(p))
        self.action_space = spaces.MultiDiscrete(self.nvec[self.slices[agent]])
        self.observation_space = self.env.observation_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return self.env.reset(seed=seed, options=options)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        joint = self.np_random.integers(self.nvec)
        joint[self.slices[self.agent]] = np.asarray(action)
        obs, _, terminated, truncated, info = self.env.step(joint)
        reward = float(agent_rewards(self.p, info)[self.agent]) * REWARD_SCALE
        return obs, reward, terminated, truncated, info


@dataclass
class DmoTrainResult:
    path: Path
    steps: int
    seed: int
    wall_s: float
    evaluation: dict[str, float]
    curve: list[Any] = field(default_factory=list)  # twinbed.agents.CurvePoint
    resumed_from: int = 0
    models: list[Any] = field(default_factory=list, repr=False)


def _save_all(models: list[Any], d: Path, files: dict[str, str] | None = None) -> None:
    """Write every agent (and ``files``: name -> text) into ``d`` atomically: a temporary
    directory renamed at the end, so a crash never leaves a half-written checkpoint."""
    tmp = d.with_name(d.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i, m in enumerate(models):
        m.save(tmp / f"agent-{i}.zip")
    for name, text in (files or {}).items():
        (tmp / name).write_text(text)
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)


def train_dmo(p: FederatedParams, steps: int, seed: int, path: str | Path, *,
              frames: int | None = None, hyperparams: dict[str, Any] | None = None,
              lr_decay: bool = True, scale_rewards: bool = False, progress: bool = True,
              checkpoint_every: int | None = None, stage1_iters: int = 1,
              resume: bool = True, eval_seeds: tuple[int, ...] = (1000,),
              curve_window: int = 5) -> DmoTrainResult:
    """Train the N + 2 agents together for ``steps`` frames (episodes of ``frames`` frames);
    save them as the one file ``path`` (see module doc). The learning curve is the mean
    cumulative utility (sum of perf) of the last ``curve_window`` training episodes (stochastic
    policies); the evaluation plays the agents greedily on the ``eval_seeds`` instances.

    ``lr_decay``: the learning rate falls linearly to 0 over ``steps``; ``scale_rewards``: each
    agent's reward is divided by the running standard deviation of its discounted return
    (Table III's "reward scaling", as in SB3's VecNormalize; off by default: it scored lower,
    see README). ``stage1_iters``: J, the SOCF calls per frame of Stage 1 (:func:`stage1`; the
    ES agents' stored transition is their last allocation and the observation it was chosen on).
    All three are part of the configuration a checkpoint is resumed with.

    The agents step together through :class:`~.marl.LockstepPPO` (SB3's public API)."""
    import torch
    from stable_baselines3.common.running_mean_std import RunningMeanStd
    from stable_baselines3.common.utils import LinearSchedule
    from tqdm import tqdm


    if steps < 1:
        raise ValueError(f"expected steps >= 1, got {steps}")
    torch.set_num_threads(1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hyper = {**HYPERPARAMS, **(hyperparams or {})}
    if lr_decay:
        hyper["learning_rate"] = LinearSchedule(float(hyper["learning_rate"]), 0.0, 1.0)
    frames = frames or p.frames
    n = p.N + 2
    meta: dict[str, Any] = {"scenario": "federated", "structure": "N + 2 PPO agents, simultaneous",
            "params": p.model_dump(mode="json"), "frames": frames, "obs_size": obs_size(p),
            "reward_scale": REWARD_SCALE, "scale_rewards": scale_rewards,
            "stage1_iters": stage1_iters}
    config = {"algorithm": "ppo", "seed": seed, "hyperparams": hyper, "meta": meta}
    partial, latest = resume_point(path, config, resume=resume, checkpoints=bool(checkpoint_every))
    clock = FrameClock(steps, latest[1] if latest else 0)
    models = _agents(p, hyper, clock, seed, frames, latest[0] if latest else None)
    team = LockstepPPO(models, clock)
    curve: list[CurvePoint] = []
    ret_rms = RunningMeanStd(shape=(n,))  # of each agent's discounted return (reward scaling)
    if latest is not None:
        curve = [CurvePoint(**c) for c in json.loads((latest[0] / "curve.json").read_text())]
        rms = json.loads((latest[0] / "reward_rms.json").read_text())
        ret_rms.mean, ret_rms.var = np.array(rms["mean"]), np.array(rms["var"])
        ret_rms.count = rms["count"]
    gamma = float(hyper["gamma"])
    slices = agent_slices(p)
    env = FederatedEnv(p, frames=frames, reward_scale=REWARD_SCALE)
    obs, _ = env.reset(seed=seed + clock.done)
    start = True
    ret = np.zeros(n)  # discounted return so far, per agent (reward scaling)
    ep_utility, ep_utils = 0.0, []  # this episode's utility so far, finished episodes'
    episodes = curve[-1].episodes if curve else 0
    every = max(1, min(steps // 50, 1024))  # a curve point every 1024 frames at most
    next_point = (clock.done // every + 1) * every
    next_ckpt = ((clock.done // checkpoint_every + 1) * checkpoint_every if checkpoint_every
                 else None)
    joint = np.empty(len(action_nvec(p)), dtype=np.int64)
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=clock.done, unit="frame", desc=f"DMO {n} agents",
               disable=not progress, mininterval=1.0)

    def es_act(o: np.ndarray) -> tuple[np.ndarray, list[Sampled]]:
        drawn = team.act([o] * p.N, range(p.N))
        return np.array([s.action[0] for s in drawn]), drawn

    while clock.done < steps:
        sampled = team.act([obs] * n)  # Algorithm 2: every agent acts on the same frame
        for i, s in enumerate(sampled):
            joint[slices[i]] = s.action[0]
        seen = [obs] * n
        if stage1_iters > 1:
            d, es_obs, extra = stage1(p, env.frame_view(), obs, joint, env.estimate, es_act,
                                      stage1_iters)
            sampled[:len(extra or [])] = extra or []
            seen[:p.N] = [es_obs] * p.N
            new_obs, _, terminated, truncated, info = env.step_decision(d)
        else:
            new_obs, _, terminated, truncated, info = env.step(joint)
        r = agent_rewards(p, info) * REWARD_SCALE
        if scale_rewards:
            ret = ret * gamma + r
            ret_rms.update(ret[None])
            r = r / np.sqrt(ret_rms.var + 1e-8)
        ep_utility += info["perf"]
        if truncated and not terminated:  # bootstrap the time limit (SB3 issue #633)
            r = team.bootstrap(r, new_obs)
        team.record(seen, sampled, r, start)
        start = bool(terminated or truncated)
        if start:
            ret[:] = 0.0
            ep_utils.append(ep_utility)
            episodes += 1
            ep_utility = 0.0
            new_obs, _ = env.reset()
        obs = new_obs
        if team.full:
            team.update(obs, start)
            if next_ckpt is not None and clock.done >= next_ckpt:
                _save_all(models, partial / f"ckpt_{clock.done}_steps",
                          {"curve.json": json.dumps([asdict(c) for c in curve]),
                           "reward_rms.json": json.dumps({"mean": ret_rms.mean.tolist(),
                                                          "var": ret_rms.var.tolist(),
                                                          "count": float(ret_rms.count)})})
                next_ckpt += checkpoint_every  # type: ignore[operator]
        if clock.done >= next_point and ep_utils:
            next_point = (clock.done // every + 1) * every
            mean = float(np.mean(ep_utils[-curve_window:]))
            curve.append(CurvePoint(clock.done, episodes, mean, time.perf_counter() - t0))
            bar.set_postfix(utility=f"{mean:.0f}")
        bar.update(1)
    bar.close()
    wall = time.perf_counter() - t0
    write_team(models, path)
    agents = DmoAgents(models, stage1_iters)
    policy = DmoPolicy(p, agents)
    utils = [sum(r["perf"] for r in run_episode(p, "dmo", s, frames, policy)) for s in eval_seeds]
    evaluation = {"episodes": float(len(eval_seeds)),
                  "mean_utility": float(np.mean(utils)) if utils else float("nan"),
                  "std_utility": float(np.std(utils)) if utils else float("nan")}
    write_record(path, {"algorithm": "ppo", "agents": n, "steps": steps, "seed": seed,
                        "hyperparams": hyper, "wall_s": wall, "resumed_from": latest[1] if latest
                        else 0, "evaluation": evaluation, "eval_seeds": list(eval_seeds),
                        "curve": [asdict(c) for c in curve], "meta": meta})
    shutil.rmtree(partial, ignore_errors=True)
    return DmoTrainResult(path, steps, seed, wall, evaluation, curve,
                          latest[1] if latest else 0, agents)


def _agents(p: FederatedParams, hyper: dict[str, Any], clock: Any, seed: int, frames: int,
            checkpoint: Path | None) -> list[Any]:
    """The N + 2 PPO agents (agent i seeded ``seed + i``), fresh or from ``checkpoint``; their
    learning rate follows ``clock`` (:class:`~.marl.ClockSchedule`)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.utils import FloatSchedule


    lr = ClockSchedule(FloatSchedule(hyper["learning_rate"]), clock)
    envs = [AgentEnv(p, i, frames) for i in range(p.N + 2)]
    if checkpoint is not None:
        models = [PPO.load(checkpoint / f"agent-{i}.zip", env=envs[i], device="cpu",
                           custom_objects={"learning_rate": lr, "lr_schedule": lr})
                  for i in range(p.N + 2)]
    else:
        models = [PPO("MlpPolicy", envs[i], seed=seed + i, device="cpu", verbose=0,
                      **{**hyper, "learning_rate": lr}) for i in range(p.N + 2)]
    for m in models:
        m.set_logger(Logger(folder=None, output_formats=[]))
    return models


def load_dmo(data_dir: str | Path, p: FederatedParams, path: str | Path | None = None
             ) -> DmoAgents:
    """The N + 2 trained agents for ``p``: from ``path``, else the user's in ``data_dir``, else
    the shipped ones (:data:`.artifacts.DMO`); an :class:`~twinbed.artifacts.ArtifactError`
    (a ValueError) names the file or the train command otherwise."""
    if path is not None:
        return DMO.load_path(Path(path), p, 0)
    return DMO.load_for(p, 0, data_dir)


class DmoPolicy:
    """The N + 2 trained agents as one decision maker: each acts greedily on its slice; with
    ``iters`` > 1 (default: what the agents were trained with) Stage 1 iterates the ES agents
    and SOCF within the frame (:func:`stage1`)."""

    def __init__(self, p: FederatedParams, models: list[Any], deterministic: bool = True,
                 iters: int | None = None) -> None:
        self.p, self.models, self.slices = p, models, agent_slices(p)
        self.deterministic = deterministic
        self.iters = iters if iters is not None else getattr(models, "stage1_iters", 1)

    def _es_act(self, obs: np.ndarray) -> tuple[np.ndarray, None]:
        return np.array([np.asarray(m.predict(obs, deterministic=self.deterministic)[0])
                         for m in self.models[:self.p.N]]), None

    def act(self, v: View) -> Decision:
        est = utility_estimate(v)
        obs = observation(v, est)
        joint = np.empty(len(action_nvec(self.p)), dtype=np.int64)
        for sl, m in zip(self.slices, self.models, strict=False):
            joint[sl] = np.asarray(m.predict(obs, deterministic=self.deterministic)[0])
        if self.iters <= 1:
            return decode_action(self.p, joint, est)  # SOCF runs once, in play_frame
        return stage1(self.p, v, obs, joint, est, self._es_act, self.iters)[0]

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass
