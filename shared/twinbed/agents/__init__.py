"""Train, save, load and evaluate RL agents over stable-baselines3.

Every scenario's learned decision makers go through here, so they all get the same things: a
progress bar, periodic checkpoints that a crashed training resumes from, a final checkpoint plus
a JSON record of how it was made (algorithm, steps, seed, hyper-parameters, command, versions,
evaluation), a learning curve, and a clear error naming the command to run when a checkpoint is
missing.

    result = train(make_env, "sac", steps=20_000, seed=0, path=data/"agents"/"semantic-sac.zip")
    model = load(result.path)                       # any SB3 algorithm, from its record
    evaluate(model, make_env, episodes=10, seed=1)  # also takes a plain policy: obs -> action
"""

from __future__ import annotations

import collections
import json
import math
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.artifact_store import file_digest, git_commit, stamp
from twinbed.artifacts import MissingArtifactError
from twinbed.stats import slope_ci

__all__ = [
    "ALGORITHMS",
    "CurvePoint",
    "MissingArtifactError",
    "TrainResult",
    "agent_path",
    "curve_end",
    "drop_optimizer_state",
    "copy_record",
    "save_play_only",
    "evaluate",
    "load",
    "read_record",
    "resume_point",
    "train",
    "write_record",
]

ALGORITHMS = ("a2c", "ddpg", "dqn", "ppo", "sac", "td3")


@dataclass(frozen=True)
class CurvePoint:
    timesteps: int
    episodes: int
    mean_reward: float  # mean episode return over the last ``window`` finished episodes
    wall_s: float


@dataclass
class TrainResult:
    path: Path
    algorithm: str
    steps: int
    seed: int
    wall_s: float
    evaluation: dict[str, float]
    curve: list[CurvePoint] = field(default_factory=list)
    resumed_from: int = 0


def _sb3_class(algorithm: str) -> Any:
    import stable_baselines3 as sb3

    classes = {"a2c": sb3.A2C, "ddpg": sb3.DDPG, "dqn": sb3.DQN, "ppo": sb3.PPO,
               "sac": sb3.SAC, "td3": sb3.TD3}
    try:
        return classes[algorithm]
    except KeyError:
        raise ValueError(f"expected an algorithm in {sorted(classes)}, got {algorithm!r}") from None


def agent_path(data_dir: str | Path, name: str) -> Path:
    """Where the agent ``name`` (e.g. ``semantic-sac``) is kept: ``<data>/agents/<name>.zip``."""
    return Path(data_dir) / "agents" / f"{name}.zip"


def _record_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _partial_dir(path: Path) -> Path:
    return path.with_name(path.stem + ".partial")


def read_record(path: str | Path) -> dict[str, Any]:
    """The JSON record written beside a checkpoint by :func:`train`."""
    return json.loads(_record_path(Path(path)).read_text())


def _callbacks(total: int, progress: bool, curve: list[CurvePoint], every: int, window: int,
               partial: Path, checkpoint_every: int | None, n_envs: int, desc: str) -> list[Any]:
    from stable_baselines3.common.callbacks import BaseCallback

    class Progress(BaseCallback):
        """tqdm bar over timesteps and the learning curve (mean return of recent episodes)."""

        def _on_training_start(self) -> None:
            from tqdm import tqdm

            self.t0 = time.perf_counter()
            self.bar = tqdm(total=total, initial=self.num_timesteps, unit="step", desc=desc,
                            disable=not progress, mininterval=1.0, file=sys.stderr)
            self.next_point = (self.num_timesteps // every + 1) * every

        def _on_step(self) -> bool:
            self.bar.update(self.num_timesteps - self.bar.n)
            if self.num_timesteps >= self.next_point:
                self.next_point += every
                episodes = list(self.model.ep_info_buffer or [])
                buf = [ep["r"] for ep in episodes[-window:]]
                if buf:
                    mean = float(np.mean(buf))
                    curve.append(CurvePoint(self.num_timesteps, len(episodes),
                                            mean, time.perf_counter() - self.t0))
                    self.bar.set_postfix(reward=f"{mean:.4g}")
                    if checkpoint_every:  # a resumed training continues this curve
                        _write_curve(partial, curve)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    class Checkpoint(BaseCallback):
        """``ckpt_<steps>_steps.zip`` every ``checkpoint_every`` steps, written to a temporary
        name and renamed, so a training killed mid-write (SIGKILL) leaves the previous
        checkpoint, never a truncated newest one."""

        def _on_step(self) -> bool:
            if self.n_calls % max(1, (checkpoint_every or 1) // n_envs) == 0:
                tmp = partial / f".tmp-{self.num_timesteps}.zip"
                self.model.save(str(tmp))
                tmp.replace(partial / f"ckpt_{self.num_timesteps}_steps.zip")
            return True

    cbs: list[Any] = [Progress()]
    if checkpoint_every:
        cbs.append(Checkpoint())
    return cbs


def _write_curve(partial: Path, curve: list[CurvePoint]) -> None:
    tmp = partial / "curve.json.tmp"
    tmp.write_text(json.dumps([asdict(c) for c in curve]))
    tmp.replace(partial / "curve.json")


def _read_curve(partial: Path, upto: int) -> list[CurvePoint]:
    """The learning curve a resumed training continues: the points up to its checkpoint."""
    try:
        rows = json.loads((partial / "curve.json").read_text())
    except (OSError, ValueError):
        return []
    return [CurvePoint(**r) for r in rows if r["timesteps"] <= upto]


def _latest_partial(partial: Path) -> tuple[Path, int] | None:
    best: tuple[Path, int] | None = None
    for f in partial.glob("ckpt_*_steps*"):
        if f.name.endswith(".tmp"):  # a checkpoint a crash interrupted while it was written
            continue
        try:
            n = int(f.stem.split("_")[1])
        except (IndexError, ValueError):
            continue
        if best is None or n > best[1]:
            best = (f, n)
    return best


def resume_point(path: str | Path, config: dict[str, Any], *, resume: bool = True,
                 checkpoints: bool = True) -> tuple[Path, tuple[Path, int] | None]:
    """The partial directory of the artifact ``path`` and the checkpoint to resume from.

    Intermediate checkpoints live in ``<stem>.partial/`` as ``ckpt_<steps>_steps.zip`` (one
    model) or ``ckpt_<steps>_steps/`` (several models, written by the caller). The newest is
    returned only if ``resume`` and the directory was stamped with the same ``config`` (a
    leftover of another configuration would silently continue the old experiment); otherwise
    the directory is cleared. With ``checkpoints`` it is (re)created and stamped with ``config``.
    """
    partial = _partial_dir(Path(path))
    stamp = partial / "config.json"
    text = json.dumps(config, sort_keys=True, default=str)
    same = stamp.exists() and stamp.read_text() == text
    latest = _latest_partial(partial) if resume and same else None
    if latest is None:
        shutil.rmtree(partial, ignore_errors=True)
    if checkpoints:
        partial.mkdir(parents=True, exist_ok=True)
        stamp.write_text(text)
    return partial, latest


def write_record(path: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write ``record`` as the JSON beside the artifact ``path`` (read back by
    :func:`read_record`), adding the command line, library versions, the git commit, the
    file's checksum (:func:`twinbed.artifact_store.stamp`) and the wall clock."""
    import stable_baselines3
    import torch

    full = {**record,
            "command": " ".join(["twinbed", *sys.argv[1:]]) if sys.argv else "",
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "stable_baselines3": stable_baselines3.__version__},
            "created_wall": time.time()}
    if Path(path).exists():
        full = stamp(full, Path(path))
    _record_path(Path(path)).write_text(json.dumps(full, indent=1, default=str))
    return full


def train(
    make_env: Callable[[], Any],
    algorithm: str,
    steps: int,
    seed: int,
    path: str | Path,
    *,
    n_envs: int = 1,
    hyperparams: dict[str, Any] | None = None,
    eval_episodes: int = 5,
    progress: bool = True,
    checkpoint_every: int | None = None,
    curve_every: int | None = None,
    curve_window: int = 20,
    threads: int = 1,
    resume: bool = True,
    meta: dict[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train ``algorithm`` on ``make_env()`` for ``steps`` timesteps; save to ``path``.

    With ``checkpoint_every`` the run writes intermediate checkpoints to ``<stem>.partial/``;
    a later call with ``resume=True`` (the default) and the same configuration (algorithm,
    seed, n_envs, hyperparams, meta) continues from the newest one instead of starting over,
    so a crash loses at most ``checkpoint_every`` steps; another configuration starts afresh.
    ``hyperparams`` go to the SB3 constructor. ``meta`` is stored in the record (scenario
    parameters, command...).
    ``callbacks`` (SB3 callbacks) run after the built-in ones; what the model holds when
    learning ends (a callback may restore a snapshot) is what is saved and evaluated.
    """
    import torch
    from stable_baselines3.common.env_util import make_vec_env

    commit = git_commit()  # the code this training runs, taken now (not when it ends)
    if steps < 1:
        raise ValueError(f"expected steps >= 1, got {steps}")
    cls = _sb3_class(algorithm)
    torch.set_num_threads(threads)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hyper = dict(hyperparams or {})
    venv = make_vec_env(make_env, n_envs=n_envs, seed=seed)
    resumed_from = 0
    config = {"algorithm": algorithm, "seed": seed, "n_envs": n_envs, "hyperparams": hyper,
              "meta": meta or {}}
    partial, latest = resume_point(path, config, resume=resume,
                                   checkpoints=bool(checkpoint_every))
    if latest is not None:
        model = cls.load(str(latest[0]), env=venv, device="cpu")
        resumed_from = latest[1]
    else:
        model = cls("MlpPolicy", venv, seed=seed, verbose=0, device="cpu", **hyper)
    curve: list[CurvePoint] = _read_curve(partial, resumed_from) if latest else []
    every = curve_every or max(1, steps // 50)
    cbs = _callbacks(steps, progress, curve, every, curve_window, partial, checkpoint_every,
                     n_envs, desc=f"{algorithm} {path.stem}") + list(callbacks)
    t0 = time.perf_counter()
    model.learn(total_timesteps=max(0, steps - resumed_from), callback=cbs,
                reset_num_timesteps=latest is None)
    wall = time.perf_counter() - t0
    tmp = path.with_name(path.stem + ".tmp.zip")
    model.save(str(tmp))
    tmp.replace(path)
    evaluation = evaluate(model, make_env, episodes=eval_episodes, seed=seed + 10_000)
    result = TrainResult(path=path, algorithm=algorithm, steps=steps, seed=seed, wall_s=wall,
                         evaluation=evaluation, curve=curve, resumed_from=resumed_from)
    write_record(path, {
        "algorithm": algorithm, "steps": steps, "seed": seed, "n_envs": n_envs,
        "hyperparams": hyper, "wall_s": wall, "resumed_from": resumed_from,
        "evaluation": evaluation, "curve": [asdict(c) for c in curve], "meta": meta or {},
        "git_commit": commit,
    })
    shutil.rmtree(partial, ignore_errors=True)
    venv.close()
    return result


def load(path: str | Path, *, command: str = "twinbed train ...", algorithm: str | None = None
         ) -> Any:
    """The SB3 model saved at ``path``; its algorithm comes from the record beside it.

    Raises :class:`MissingArtifactError` naming ``command`` when there is no checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise MissingArtifactError(path, command)
    if algorithm is None:
        try:
            algorithm = read_record(path)["algorithm"]
        except (OSError, ValueError, KeyError):
            raise MissingArtifactError(_record_path(path), command) from None
    return _sb3_class(algorithm).load(str(path), device="cpu")


def drop_optimizer_state(model: Any) -> Any:
    """``model`` with its optimizers' running state (Adam's moments, RMSprop's averages)
    emptied: what a shipped, play-only agent needs is the network, and the state is up to two
    thirds of the file. The weights, hence every decision, are untouched; training it further
    starts its optimizer afresh."""
    names, _ = model._get_torch_save_params()  # SB3's own list of what it saves
    for name in names:
        obj = model
        for part in name.split("."):
            obj = getattr(obj, part)
        if hasattr(obj, "state") and hasattr(obj, "param_groups"):  # a torch optimizer
            obj.state = collections.defaultdict(dict)
    return model


def save_play_only(src: str | Path, dest: str | Path) -> Path:
    """The agent at ``src`` saved to ``dest`` without its optimizers' state
    (:func:`drop_optimizer_state`), its record copied beside it: a shipped agent's file."""
    src, dest = Path(src), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    drop_optimizer_state(load(src)).save(str(dest))
    copy_record(src, dest)
    return dest


def copy_record(src: Path, dest: Path) -> None:
    """``src``'s record beside ``dest``, its checksum now ``dest``'s (a play-only copy)."""
    sha, size = file_digest(dest)
    rec = {**read_record(src), "sha256": sha, "size_bytes": size, "play_only": True}
    _record_path(dest).write_text(json.dumps(rec, indent=1, default=str))


def curve_end(curve: Sequence[dict[str, Any]], fraction: float = 1 / 3) -> dict[str, float]:
    """Where a learning curve (a record's ``curve``: timesteps, mean_reward) ends: the slope of
    its last ``fraction`` per 1,000 steps with its 95 % interval (:func:`twinbed.stats.
    slope_ci`), and the mean return there. An interval above 0 says more budget would still
    help; one around 0, that the curve has flattened."""
    pts = [(float(c["timesteps"]), float(c["mean_reward"])) for c in curve]
    last = pts[max(0, int(len(pts) * (1 - fraction))):]
    if len(last) < 3:
        raise ValueError(f"a curve of {len(pts)} points has no end to measure")
    xs = np.array([x for x, _ in last]) / 1000.0
    ys = np.array([y for _, y in last])
    est = slope_ci(xs, ys)
    return {"from_steps": float(last[0][0]), "to_steps": float(last[-1][0]),
            "points": float(len(last)), "slope_per_1k_steps": est.value,
            "slope_lo": est.lo, "slope_hi": est.hi, "mean_return_end": float(ys.mean())}


def _act(policy: Any, obs: Any) -> Any:
    if hasattr(policy, "predict"):
        action, _ = policy.predict(obs, deterministic=True)
        return action
    return policy(obs)


def evaluate(
    policy: Any,
    make_env: Callable[[], Any],
    episodes: int = 5,
    seed: int = 0,
    info_keys: Sequence[str] = (),
) -> dict[str, float]:
    """Mean and std of the episode return of ``policy`` (an SB3 model or ``obs -> action``).

    For every name in ``info_keys`` the mean over all steps of ``info[name]`` is reported too
    (latency, energy...). Episode ``i`` is reset with ``seed + i``.
    """
    env = make_env()
    returns: list[float] = []
    sums: dict[str, float] = {k: 0.0 for k in info_keys}
    n_steps = 0
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(_act(policy, obs))
                total += float(reward)
                n_steps += 1
                for k in info_keys:
                    sums[k] += float(info[k])
                done = bool(terminated or truncated)
            returns.append(total)
    finally:
        env.close()
    out = {"episodes": float(episodes), "mean_return": float(np.mean(returns)),
           "std_return": float(np.std(returns)), "steps": float(n_steps)}
    out.update({f"mean_{k}": sums[k] / max(1, n_steps) for k in info_keys})
    if any(not math.isfinite(v) for v in out.values()):
        raise FloatingPointError(f"evaluation produced a non-finite value: {out}")
    return out
