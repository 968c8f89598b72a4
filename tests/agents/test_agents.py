"""twinbed.agents: real stable-baselines3 training, checkpoints, resume, load and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from twinbed.agents import MissingArtifactError, agent_path, evaluate, load, read_record, train

HYPER = {"n_steps": 64, "batch_size": 32, "n_epochs": 1}


def make_env() -> gym.Env:
    return gym.make("CartPole-v1", max_episode_steps=50)


def test_train_saves_checkpoint_record_and_curve(tmp_path: Path) -> None:
    """A tiny PPO run writes the model, a record (algorithm, seed, evaluation) and a curve."""
    path = agent_path(tmp_path, "cartpole-ppo")
    res = train(make_env, "ppo", steps=256, seed=3, path=path, progress=False,
                hyperparams={"n_steps": 64, "batch_size": 32, "n_epochs": 1}, curve_every=64,
                eval_episodes=2, meta={"what": "test"})
    assert path.exists() and res.path == path
    rec = read_record(path)
    assert rec["algorithm"] == "ppo" and rec["seed"] == 3 and rec["steps"] == 256
    assert rec["meta"] == {"what": "test"}
    assert rec["evaluation"]["episodes"] == 2.0
    assert 1.0 <= rec["evaluation"]["mean_return"] <= 50.0  # CartPole: +1 per step, capped
    assert res.curve and all(p.timesteps % 64 == 0 for p in res.curve)
    assert not path.with_name("cartpole-ppo.partial").exists()


def test_load_and_evaluate_are_deterministic(tmp_path: Path) -> None:
    """The loaded model is the saved one: its deterministic evaluation repeats exactly."""
    path = tmp_path / "a.zip"
    res = train(make_env, "a2c", steps=200, seed=0, path=path, progress=False, eval_episodes=3)
    model = load(path)
    again = evaluate(model, make_env, episodes=3, seed=10_000)
    assert again == res.evaluation


def test_resume_continues_from_partial_checkpoint(tmp_path: Path) -> None:
    """A crashed training leaves checkpoints in <stem>.partial/; the next call resumes there."""
    path = tmp_path / "r.zip"
    train(make_env, "ppo", steps=256, seed=1, path=path, progress=False, checkpoint_every=128,
          hyperparams=HYPER, eval_episodes=1)
    # simulate a crash after 128 steps: put that checkpoint back where training keeps them
    partial = tmp_path / "r.partial"
    partial.mkdir()
    from stable_baselines3 import PPO

    PPO.load(str(path)).save(str(partial / "ckpt_128_steps.zip"))
    (partial / "config.json").write_text(json.dumps(
        {"algorithm": "ppo", "seed": 1, "n_envs": 1, "hyperparams": HYPER, "meta": {}},
        sort_keys=True))
    res = train(make_env, "ppo", steps=256, seed=1, path=path, progress=False,
                checkpoint_every=128, hyperparams=HYPER, eval_episodes=1)
    assert res.resumed_from == 128
    assert not partial.exists()
    assert read_record(path)["resumed_from"] == 128


def test_partial_from_another_configuration_is_not_resumed(tmp_path: Path) -> None:
    """A leftover partial run with other hyper-parameters is discarded, not continued."""
    path = tmp_path / "r.zip"
    train(make_env, "ppo", steps=128, seed=1, path=path, progress=False, hyperparams=HYPER,
          eval_episodes=1)
    partial = tmp_path / "r.partial"
    partial.mkdir()
    from stable_baselines3 import PPO

    PPO.load(str(path)).save(str(partial / "ckpt_64_steps.zip"))
    (partial / "config.json").write_text(json.dumps(
        {"algorithm": "ppo", "seed": 1, "n_envs": 1, "hyperparams": {"n_steps": 32},
         "meta": {}}, sort_keys=True))
    res = train(make_env, "ppo", steps=128, seed=1, path=path, progress=False,
                checkpoint_every=64, hyperparams=HYPER, eval_episodes=1)
    assert res.resumed_from == 0


def test_missing_checkpoint_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(MissingArtifactError, match=r"train it with `twinbed train x`"):
        load(tmp_path / "none.zip", command="twinbed train x")


def test_evaluate_plain_policy_and_info_keys() -> None:
    """A plain obs -> action policy works, and info values are averaged per step."""

    class Env(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(1, np.float32), {}

        def step(self, a):
            self.t += 1
            return np.zeros(1, np.float32), float(a), False, self.t >= 4, {"lat": 2.0 * a}

    out = evaluate(lambda obs: 1, Env, episodes=2, info_keys=("lat",))
    assert out["mean_return"] == 4.0 and out["std_return"] == 0.0
    assert out["mean_lat"] == 2.0 and out["steps"] == 8.0


def test_unknown_algorithm(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"expected an algorithm in"):
        train(make_env, "nope", steps=10, seed=0, path=tmp_path / "x.zip", progress=False)
