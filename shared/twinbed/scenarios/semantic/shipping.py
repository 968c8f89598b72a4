"""What the semantic scenario ships (``artifacts/``) and how each is evaluated.

``twinbed ship semantic --from DIR`` copies the codec and the SAC/PPO agents trained in the data
directory ``DIR`` for the default parameters into ``artifacts/`` and writes their records
(:func:`twinbed.artifact_store.ship`). The evaluation of each is a function of the file and a
list of named held-out seeds, so the test of every shipped artifact re-computes it:

* agents: the mean per-slot reward (22), realized fading, on run seeds 10000-10009 (the
  figures' evaluation cycles; training validates on 20000.., draws its own from the env), beside
  ``no-semantic`` and ``random`` on the same slots and the bound ``per-slot-optimum`` (it also
  knows the slot's fading: no causal policy beats it);
* codec: the recovery NRMSE at phi_min on a process it never saw (seed 2000, 16 channels of
  0.7 Mbit), beside a random orthonormal basis of the same size; lossless (phi = 1) is 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twinbed.artifact_store import Evaluation, curve_end, read_record, ship, training_command
from twinbed.codecs.semantic import SemanticCodec
from twinbed.physical import BandLimitedSignal
from twinbed.scenarios.semantic.codec import HELD_OUT_CHANNELS, HELD_OUT_SAMPLES, HELD_OUT_SEED
from twinbed.scenarios.semantic.learned import AGENTS, CODEC, SHIPPED, load_agent
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.policies import decider
from twinbed.scenarios.semantic.world import SemanticWorld, outcome_of

__all__ = ["AGENT_SEEDS", "CODEC_SEEDS", "agent_score", "codec_score", "ship_all"]

AGENT_SEEDS = list(range(10_000, 10_010))
CODEC_SEEDS = [HELD_OUT_SEED]
PAPER_STEPS = 100_000  # Table III: 20 epochs x 5000 steps
REL_TOL = 1e-4  # re-evaluation on another CPU may differ in the last float bits, not more


def _mean_reward(p: SemanticParams, scheme: str, seeds: list[int], agent: Any = None) -> float:
    rewards = []
    for seed in seeds:
        pol = decider(p, scheme, seed, agent)
        world = SemanticWorld(p, seed)
        rewards += [outcome_of(p, s, pol(s)).reward for s in map(world.slot, range(p.N))]
    return float(np.mean(rewards))


def _params(path: Path) -> SemanticParams:
    return SemanticParams(**read_record(path).get("meta", {}).get("params", {}))


def agent_score(path: Path, seeds: list[int]) -> float:
    """Mean per-slot reward (22) of the agent at ``path`` on the cycles with these run seeds."""
    p = _params(path)
    algorithm = read_record(path)["algorithm"]
    return _mean_reward(p, algorithm, seeds, load_agent(path, p, algorithm))


def _nrmse(codec: SemanticCodec, seeds: list[int], phi: float) -> float:
    out = []
    for seed in seeds:
        sig = BandLimitedSignal(seed, HELD_OUT_CHANNELS)
        for c in range(HELD_OUT_CHANNELS):
            x = sig.samples(c, 0, HELD_OUT_SAMPLES)
            ref = x.astype(np.float64)
            rec = codec.decode(codec.encode(x, phi)).astype(np.float64)
            out.append(np.sqrt(np.mean((rec - ref) ** 2)) / np.sqrt(np.mean(ref**2)))
    return float(np.mean(out))


def codec_score(path: Path, seeds: list[int]) -> float:
    """Mean recovery NRMSE at the default phi_min on the processes with these seeds."""
    return _nrmse(SemanticCodec.load(path), seeds, SemanticParams().phi_min)


def _random_basis_nrmse(codec: SemanticCodec, seeds: list[int]) -> float:
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal(codec.basis.shape))
    return _nrmse(SemanticCodec(q, codec.mean), seeds, SemanticParams().phi_min)


def ship_all(src: Path, version: int, git: str | None, dest: Path = SHIPPED) -> list[Path]:
    """Ship every artifact of the default parameters found in the data directory ``src``."""
    p, shipped = SemanticParams(), []
    codec = CODEC.user_path(src, p, 0)
    if codec.exists():
        rec = read_record(codec)
        ev = Evaluation(
            metric="recovery NRMSE at phi_min (held-out process)", higher_is_better=False,
            seeds=CODEC_SEEDS, score=codec_score(codec, CODEC_SEEDS),
            baselines={"random orthonormal basis": _random_basis_nrmse(
                SemanticCodec.load(codec), CODEC_SEEDS)},
            bound={"lossless (phi = 1)": 0.0}, tolerance=1e-9,
            evaluator=f"{__name__}:codec_score",
            note=f"phi_min = {p.phi_min} derived from this codec (target NRMSE "
                 f"{rec.get('nrmse_target')})")
        shipped.append(ship(codec, dest, scenario="semantic", name=CODEC.name,
                            folder=CODEC.folder, version=version,
                            command=training_command(rec), seed=int(rec["seed"]),
                            budget={"training_frames": 16_384}, evaluation=ev,
                            budget_note="the paper has no codec (a reconstruction, README.md)",
                            git=git))
    trained = {alg: spec.user_path(src, p, 0) for alg, spec in AGENTS.items()}
    trained = {alg: path for alg, path in trained.items() if path.exists()}
    if trained:
        baselines = {s: _mean_reward(p, s, AGENT_SEEDS) for s in ("no-semantic", "random")}
        bound = {"per-slot-optimum": _mean_reward(p, "per-slot-optimum", AGENT_SEEDS)}
    for alg, path in trained.items():
        spec = AGENTS[alg]
        rec = read_record(path)
        score = agent_score(path, AGENT_SEEDS)
        ev = Evaluation(
            metric="mean reward (22) per slot, realized fading", higher_is_better=True,
            seeds=AGENT_SEEDS, score=score, baselines=baselines, bound=bound,
            tolerance=REL_TOL * max(1.0, abs(score)), evaluator=f"{__name__}:agent_score",
            note=f"policy of step {rec.get('selected', {}).get('timesteps')} (best validated "
                 f"snapshot, README.md)")
        note = ("the paper's budget" if rec["steps"] >= PAPER_STEPS else
                f"{rec['steps']} of the paper's {PAPER_STEPS} steps (2-core machine, niced)")
        if alg == "ppo":
            note += "; the paper trains only SAC: its SAC budget is the reference"
        shipped.append(ship(path, dest, scenario="semantic", name=spec.name, folder=spec.folder,
                            version=version, command=training_command(rec),
                            seed=int(rec["seed"]), budget={"steps": rec["steps"]},
                            paper_budget={"steps": PAPER_STEPS}, budget_note=note,
                            curve_end=curve_end(rec.get("curve", [])), evaluation=ev, git=git))
    return shipped
