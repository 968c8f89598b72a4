"""``twinbed reproduce network-twin --figure {2,3}``: CSV + PNG + the paper's claims beside ours.

Files by the naming scheme (:func:`twinbed.contract.naming.figure_files`): ``figN.csv``,
``figN.png``, ``figN-claims.json``, plus ``fig2_mse.csv`` (every user's MSE) and
``fig3_eval.csv`` (every agent on the same episodes); :func:`reproduce` returns a
:class:`~twinbed.contract.naming.FigureResult`.

Fig. 2: true versus GRU-predicted trajectories of users 4, 7 and 9 (1-based, as the paper
numbers them) and the one-step MSE of every user (paper: 0.007, 0.07, 0.24).
Fig. 3: reward per slot versus training for SAC and GRU + DQN, and every sync agent evaluated
on the same episodes (paper: SAC up to 10.31 % above GRU + DQN).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.contract.naming import FigureResult, figure_files
from twinbed.report import Claim, pyplot, save_png, write_claims, write_csv
from twinbed.scenarios.network_twin.algorithms import RULES, rule
from twinbed.scenarios.network_twin.gru import (
    HoldPredictor,
    gru_path,
    load_gru,
    per_user_mse,
    train_gru,
    trajectories,
)
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.policies import action_to_sync, observation
from twinbed.scenarios.network_twin.training import hyperparams, make_env_factory
from twinbed.scenarios.network_twin.world import NetworkWorld, Predictor
from twinbed.seeding import rng

__all__ = ["FIGURES", "evaluate_agents", "figure2", "figure3", "reproduce"]

PAPER_MSE = {4: 0.007, 7: 0.07, 9: 0.24}


def _ensure_gru(p: NetworkTwinParams, data_dir: Path, full: bool, seed: int) -> Any:
    """The saved GRU for ``p`` if there is one (and not ``full``), else train and save it."""
    path = gru_path(data_dir, p.U)
    if path.exists() and not full:
        try:
            return load_gru(path, p)
        except ValueError:
            pass  # trained for other parameters: retrain below
    print(f"training the GRU ({'--full: ' if full else ''}2000 trajectories of 30 slots) "
          f"-> {path}")
    train_gru(p, path, n_trajectories=2000, length=30, epochs=20 if full else 8, seed=seed)
    return load_gru(path, p)


def _shown_users(U: int) -> list[int]:
    """1-based users shown: the paper's 4, 7, 9 when they exist, else three spread ones."""
    if U >= 9:
        return [4, 7, 9]
    return sorted({max(1, round(U * f)) for f in (0.4, 0.7, 0.9)})


def figure2(p: NetworkTwinParams, data_dir: Path, out: Path, *, full: bool = False,
            seed: int = 0, steps: int | None = None, episodes: int | None = None
            ) -> list[Claim]:
    pred = _ensure_gru(p, data_dir, full, seed)
    test = trajectories(p, 2000 if full else 500, 30, seed, "fig2-test")
    mse = per_user_mse(pred, test, p.M)
    hold = per_user_mse(HoldPredictor(), test, p.M)
    moving = 1.0 - p.move_probs()[:, 0]
    best = moving * p.step_blocks**2 / 2  # MSE of the ideal predictor away from the border
    shown = _shown_users(p.U)
    ex = test[0]  # one test trajectory, one-step predictions along it
    windows = np.stack([ex[t - p.M:t] for t in range(p.M, len(ex))])
    yhat = pred.predict_batch(windows)
    # plain floats: report.write_csv writes repr(), which for numpy scalars is "np.float64(..)"
    rows = [{"slot": t, "user": u, "true_x": float(ex[t, u - 1, 0]),
             "true_y": float(ex[t, u - 1, 1]), "pred_x": float(yhat[t - p.M, u - 1, 0]),
             "pred_y": float(yhat[t - p.M, u - 1, 1])}
            for u in shown for t in range(p.M, len(ex))]
    files = figure_files(out, 2)
    write_csv(files.csv, rows)
    write_csv(out / "fig2_mse.csv", [
        {"user": u + 1, "move_prob": float(moving[u]), "mse_gru": float(mse[u]),
         "mse_hold_last": float(hold[u]), "mse_ideal": float(best[u])} for u in range(p.U)])

    plt = pyplot()
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(4 * (len(shown) + 1), 3.8))
    for ax, u in zip(axes, shown, strict=False):  # the last axes: the MSE per user
        ax.plot(ex[p.M:, u - 1, 0], ex[p.M:, u - 1, 1], "o-", label="true", ms=4)
        ax.plot(yhat[:, u - 1, 0], yhat[:, u - 1, 1], "x--", label="GRU", ms=5)
        ax.set_title(f"user {u}: MSE {mse[u - 1]:.3g}")
        ax.set_xlabel("x (blocks)")
        ax.set_ylabel("y (blocks)")
        ax.legend()
    ax = axes[-1]
    users = np.arange(1, p.U + 1)
    ax.semilogy(users, mse, "o-", label="GRU")
    ax.semilogy(users, np.maximum(best, 1e-6), "k:", label="ideal (p_move dl^2 / 2)")
    ax.semilogy(list(PAPER_MSE), list(PAPER_MSE.values()), "r*", ms=10, label="paper")
    ax.set_xlabel("user")
    ax.set_ylabel("one-step MSE (blocks^2)")
    ax.legend()
    save_png(fig, files.png)

    claims = []
    for u, paper in PAPER_MSE.items():
        if u <= p.U:
            got = float(mse[u - 1])
            verdict = "holds (within x1.5)" if paper / 1.5 <= got <= paper * 1.5 else \
                "differs: see README"
            claims.append(Claim(f"Fig. 2 MSE user {u}", f"{paper:g}", f"{got:.3g}", verdict))
    rising = bool(np.all(np.diff(mse) > -0.002))
    claims.append(Claim("MSE rises with dynamics", "users 4 < 7 < 9",
                        " < ".join(f"{mse[u - 1]:.3g}" for u in shown),
                        "holds" if rising else "differs"))
    claims.append(Claim("GRU vs holding the last state", "(not in paper)",
                        f"mean MSE {mse.mean():.4f} vs {hold.mean():.4f}",
                        "i.i.d. symmetric moves: holding is optimal, the GRU learns it"))
    write_claims(files.claims, claims)
    print(f"wrote {files.csv}, {out / 'fig2_mse.csv'}, {files.png}")
    return claims


def evaluate_agents(p: NetworkTwinParams, predictor: Predictor, agents: dict[str, Any],
                    episodes: int, seed: int) -> dict[str, dict[str, float]]:
    """Every agent on the same ``episodes`` episodes (named seeds): per-slot means.

    ``agents`` maps a name to None (a rule of :mod:`algorithms`) or a trained SB3 model.
    """
    out: dict[str, dict[str, float]] = {}
    for name, agent in agents.items():
        per_ep, recs = [], []
        for i in range(episodes):
            ep_seed = int(rng(seed, "eval-episode", i).integers(0, 2**62))
            sim = NetworkWorld(p, ep_seed, predictor)
            ep = []
            for _ in range(p.episode_slots):
                s = sim.state()
                if agent is None:
                    sync = rule(p, name, s)
                else:
                    a, _ = agent.predict(observation(p, s), deterministic=True)
                    sync = action_to_sync(a)
                ep.append(sim.step(sync))
            per_ep.append(np.mean([r.reward for r in ep]))
            recs += ep
        out[name] = {"reward_per_slot": float(np.mean(per_ep)),
                     "reward_std_episodes": float(np.std(per_ep)),
                     "sync_rate": float(np.mean([r.synced for r in recs])),
                     "err_sq": float(np.mean([r.err_sq for r in recs])),
                     "sum_rate": float(np.mean([r.sum_rate for r in recs]))}
    return out


def _train_with_curve(p: NetworkTwinParams, pred: Any, alg: str, steps: int, seed: int,
                      episodes: int, out: Path, points: int = 24
                      ) -> tuple[Any, list[dict[str, float]]]:
    """Train ``alg`` with stable-baselines3 and, every ``steps / points`` slots, evaluate the
    current policy on the same ``episodes`` episodes (so points differ only by training, not
    by which users and channels an episode drew). Saves ``<out>/network-twin-<alg>-U<U>.zip``.
    """
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from tqdm import tqdm

    torch.set_num_threads(1)
    cls = {"sac": sb3.SAC, "dqn": sb3.DQN}[alg]
    venv = make_vec_env(make_env_factory(p, pred, alg), n_envs=1, seed=seed)
    model = cls("MlpPolicy", venv, seed=seed, verbose=0, device="cpu",
                **hyperparams(p, alg))
    every = max(1, steps // points)
    curve: list[dict[str, float]] = []

    def point() -> None:
        r = evaluate_agents(p, pred, {alg: model}, episodes, seed + 1)[alg]
        curve.append({"timesteps": model.num_timesteps,
                      "episodes": model.num_timesteps / p.episode_slots, **r})

    class Curve(BaseCallback):
        def _on_training_start(self) -> None:
            self.bar = tqdm(total=steps, desc=f"{alg} (fig. 3)", unit="step", mininterval=1.0)

        def _on_step(self) -> bool:
            self.bar.update(1)
            if self.num_timesteps % every == 0:
                point()
                self.bar.set_postfix(reward=f"{curve[-1]['reward_per_slot']:.3f}")
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    point()
    model.learn(total_timesteps=steps, callback=Curve())
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / f"network-twin-{alg}-U{p.U}.zip"))
    venv.close()
    return model, curve


def figure3(p: NetworkTwinParams, data_dir: Path, out: Path, *, full: bool = False,
            seed: int = 0, steps: int | None = None, episodes: int | None = None
            ) -> list[Claim]:
    pred = HoldPredictor() if p.predictor == "hold" else _ensure_gru(p, data_dir, False, seed)
    steps = steps or (100_000 if full else 12_000)
    episodes = episodes or (100 if full else 30)
    curves: dict[str, list[dict[str, float]]] = {}
    models: dict[str, Any] = {}
    for alg in ("sac", "dqn"):
        models[alg], curves[alg] = _train_with_curve(p, pred, alg, steps, seed, episodes,
                                                     out / "agents")
    agents: dict[str, Any] = {**dict.fromkeys(RULES), "sac": models["sac"],
                              "dqn": models["dqn"]}
    ev = evaluate_agents(p, pred, agents, episodes, seed + 1)
    files = figure_files(out, 3)
    write_csv(files.csv, [{"algorithm": a, **c} for a, cs in curves.items() for c in cs])
    write_csv(out / "fig3_eval.csv", [{"algorithm": a, **v} for a, v in ev.items()])

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for alg, label in (("sac", "GRU + SAC (proposed)"), ("dqn", "GRU + DQN (baseline)")):
        ax.plot([c["episodes"] for c in curves[alg]],
                [c["reward_per_slot"] for c in curves[alg]], label=label)
    for i, name in enumerate(RULES):
        ax.axhline(ev[name]["reward_per_slot"], ls=":", color=f"C{i + 2}",
                   label=f"{name} (evaluated)")
    ax.set_xlabel(f"training episodes (epochs) of {p.episode_slots} slots")
    ax.set_ylabel(f"reward per slot, same {episodes} evaluation episodes")
    ax.legend(fontsize=8)
    save_png(fig, files.png)

    sac, dqn = curves["sac"], curves["dqn"]
    n = min(len(sac), len(dqn))
    gains = [100 * (s["reward_per_slot"] - d["reward_per_slot"]) / abs(d["reward_per_slot"])
             for s, d in zip(sac[:n], dqn[:n], strict=True)]
    final = 100 * (ev["sac"]["reward_per_slot"] - ev["dqn"]["reward_per_slot"]) / abs(
        ev["dqn"]["reward_per_slot"])
    up_to = max(gains) if gains else float("nan")
    claims = [
        Claim("SAC vs GRU+DQN, best gap along training", "up to +10.31 %", f"{up_to:+.2f} %",
              "holds" if up_to >= 10.31 * 0.5 else "differs: see README"),
        Claim("SAC vs GRU+DQN, trained policies", "(SAC above)", f"{final:+.2f} %",
              "holds" if final > 0 else "differs: see README"),
    ]
    for alg in ("sac", "dqn"):
        c = curves[alg]
        if len(c) >= 2:
            claims.append(Claim(f"{alg} reward rises with training", "rises",
                                f"{c[0]['reward_per_slot']:.3f} -> {c[-1]['reward_per_slot']:.3f}",
                                "holds" if c[-1]["reward_per_slot"] >= c[0]["reward_per_slot"]
                                else "differs"))
    best_rule = max(RULES, key=lambda a: ev[a]["reward_per_slot"])
    claims.append(Claim("best non-learned agent", "(not in paper)",
                        f"{best_rule} {ev[best_rule]['reward_per_slot']:.3f}/slot", ""))
    write_claims(files.claims, claims)
    print("evaluated per slot over the same episodes:")
    for a, v in ev.items():
        print(f"  {a:<12} reward {v['reward_per_slot']:8.3f}  sync rate {v['sync_rate']:.3f}  "
              f"twin err^2 {v['err_sq']:8.2f}  sum rate {v['sum_rate']:.3f}")
    (out / "fig3_meta.json").write_text(json.dumps(
        {"steps_per_agent": steps, "eval_episodes": episodes,
         "params": p.model_dump(mode="json"), "seed": seed}))
    print(f"wrote {files.csv}, {out / 'fig3_eval.csv'}, {files.png}")
    return claims


Figure = Callable[..., list[Claim]]
FIGURES: dict[int, Figure] = {2: figure2, 3: figure3}


def reproduce(figure: int, p: NetworkTwinParams, data_dir: Path, out: Path, *,
              full: bool = False, seed: int = 0, steps: int | None = None,
              episodes: int | None = None) -> FigureResult:
    """Run one figure (2 or 3), write its CSVs, PNG and claims to ``out``."""
    if figure not in FIGURES:
        raise ValueError(f"expected figure 2 or 3, got {figure}")
    claims = FIGURES[figure](p, data_dir, out, full=full, seed=seed, steps=steps,
                             episodes=episodes)
    budget = "paper budget" if full else "CI budget"
    return FigureResult("network-twin", figure, figure_files(out, figure), claims,
                        f"seed 003, {budget}, seed {seed}")
