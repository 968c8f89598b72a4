"""The semantic gymnasium environment, the baselines, in-process runs, the spec and agents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twinbed.runtime import offline_context
from twinbed.scenarios import get_scenario
from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.algorithms import (
    ALGORITHMS,
    action_from_vector,
    edge_share_ratio,
    f_lower_hz,
    observation,
)
from twinbed.scenarios.semantic.contract import UDReport
from twinbed.scenarios.semantic.env import SemanticSyncEnv
from twinbed.scenarios.semantic.learned import AGENTS
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import SemanticWorld as World

P = SemanticParams()


def simulate(p: SemanticParams, algorithm: str, seed: int, rounds: int | None = None,
             data_dir: Path | None = None) -> list[dict]:
    """The in-process runner (the core's, over the scenario's world); N slots by default."""
    return get_scenario("semantic").simulate(p, algorithm, seed, p.N if rounds is None else rounds,
                                             data_dir)


def agent_name(p: SemanticParams, algorithm: str) -> str:
    return AGENTS[algorithm].stem(p, 0)


def train_command(p: SemanticParams, algorithm: str) -> str:
    return AGENTS[algorithm].train_command(p, 0)


def test_env_passes_gymnasium_and_sb3_checkers() -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(SemanticSyncEnv(), skip_render_check=True)
    sb3_check_env(SemanticSyncEnv(SemanticParams(K=3)), warn=True)


def test_env_same_seed_same_trajectory_step_for_step() -> None:
    a, b = SemanticSyncEnv(), SemanticSyncEnv()
    oa, _ = a.reset(seed=7)
    ob, _ = b.reset(seed=7)
    np.testing.assert_array_equal(oa, ob)
    rng = np.random.default_rng(0)
    for _ in range(P.N):
        act = rng.uniform(-1, 1, 4 * P.K).astype(np.float32)
        ra, rb = a.step(act), b.step(act)
        np.testing.assert_array_equal(ra[0], rb[0])
        assert ra[1:4] == rb[1:4]
    c = SemanticSyncEnv()
    oc, _ = c.reset(seed=8)
    assert not np.array_equal(oa, oc)


def test_episode_is_one_cycle_of_n_slots_and_reward_is_eq_22() -> None:
    env = SemanticSyncEnv()
    obs, info = env.reset(options={"run_seed": 3})
    world = World(P, 3)
    np.testing.assert_array_equal(obs, observation(P, world.slot(0)))
    act = np.zeros(4 * P.K, np.float32)
    for n in range(P.N):
        s = world.slot(n)
        _, r, term, trunc, info = env.step(act)
        want = model.slot(P, s.D_bits, s.d_m, s.h2, *action_from_vector(P, act))
        assert r == pytest.approx(float(want.reward))
        assert info["T_s"] == pytest.approx(float(want.T)) and info["P_f"] == 0.0
        assert not term and trunc == (n == P.N - 1)


def test_action_mapping_bounds() -> None:
    lo = action_from_vector(P, -np.ones(4 * P.K))
    hi = action_from_vector(P, np.ones(4 * P.K))
    assert np.allclose(lo.phi, P.phi_min) and np.allclose(hi.phi, 1.0)
    assert np.allclose(lo.p_w, P.p_min_w) and np.allclose(hi.p_w, P.p_max_w)
    assert np.allclose(hi.f_hz, P.f_u_max_hz) and np.allclose(lo.f_hz, f_lower_hz(P))
    assert f_lower_hz(P) == pytest.approx(0.3684e9, rel=1e-3)
    mid = action_from_vector(P, np.zeros(4 * P.K))
    assert np.allclose(mid.f_e_hz, P.f_e_max_hz / P.K)  # a = 0: equal edge shares
    split = action_from_vector(P, np.r_[np.zeros(3 * P.K), 1.0, -np.ones(P.K - 1)])
    assert split.f_e_hz[0] / split.f_e_hz[1] == pytest.approx(edge_share_ratio(P))
    for a in (lo, hi, action_from_vector(P, np.random.default_rng(1).uniform(-1, 1, 4 * P.K))):
        assert np.sum(a.f_e_hz) == pytest.approx(P.f_e_max_hz)  # (19h) by construction


def test_action_range_holds_every_optimum_and_cuts_only_dominated_actions() -> None:
    """The per-slot optimum (which knows the fading) is inside the agents' action range: f >=
    f_lower_hz and edge shares within edge_share_ratio, for several parameter sets; and below
    f_lower_hz the slot's reward only improves as f rises (so the cut loses nothing)."""
    from twinbed.scenarios.semantic.optimum import solve_slot

    for p in (P, SemanticParams(K=2), SemanticParams(K=10, phi_min=0.2),
              SemanticParams(f_u_max_hz=0.3e9), SemanticParams(W=100.0)):
        world = World(p, 5)
        for n in (0, 7, 19):
            s = world.slot(n)
            a = solve_slot(p, s.D_bits, s.d_m, s.h2)
            assert np.all(a.f_hz >= f_lower_hz(p) * (1 - 1e-9))
            assert a.f_e_hz.max() / a.f_e_hz.min() <= edge_share_ratio(p) * (1 + 1e-6)
    rng = np.random.default_rng(3)
    s = World(P, 2).slot(4)
    for _ in range(50):
        act = action_from_vector(P, rng.uniform(-1, 1, 4 * P.K))
        f = np.linspace(0.02e9, f_lower_hz(P), 40)[:, None] * np.ones(P.K)
        r = model.slot(P, s.D_bits, s.d_m, s.h2, act.phi, f, act.p_w, act.f_e_hz).reward
        assert np.all(np.diff(r) > 0)


def test_observation_is_centred_and_scaled() -> None:
    obs = np.array([observation(P, s) for s in map(World(P, 1).slot, range(P.N))])
    assert obs.shape == (P.N, 2 * P.K) and obs.dtype == np.float32
    assert np.all(np.abs(obs) <= 1.0)  # distances within the reach of a cycle, D in its window
    assert obs[:, :P.K].std() > 0.05 and obs[:, P.K:].std() > 0.3  # not squashed to a constant


def test_expected_reward_is_the_fading_average_and_ignores_the_realized_fading() -> None:
    """reward="expected": eq. (22) averaged over the Exp(1) quantile nodes; info keeps the
    realized one. Two runs with the same positions and D but other fading give the same
    expected reward."""
    from twinbed.scenarios.semantic.env import fading_nodes

    env = SemanticSyncEnv(P, reward="expected")
    env.reset(options={"run_seed": 3})
    s = env.state
    act = np.random.default_rng(0).uniform(-1, 1, 4 * P.K).astype(np.float32)
    _, r, _, _, info = env.step(act)
    a = action_from_vector(P, act)
    nodes = fading_nodes()
    assert nodes.shape == (32, 1) and np.mean(nodes) == pytest.approx(1.0, abs=0.02)
    want = np.mean([model.slot(P, s.D_bits, s.d_m, np.full(P.K, h), *a).reward for h in nodes[:, 0]])
    assert r == pytest.approx(want)
    assert info["reward_sampled"] == pytest.approx(float(model.slot(P, s.D_bits, s.d_m, s.h2, *a).reward))
    ref = SemanticSyncEnv(P, reward="expected", reference=True)  # the fast env equals it
    ref.reset(options={"run_seed": 3})
    ref._state = s._replace(h2=s.h2[::-1] * 3.0)  # other fading, same state S[n]
    assert ref.step(act)[1] == pytest.approx(r)
    with pytest.raises(ValueError, match="reward"):
        SemanticSyncEnv(P, reward="mean")


def test_baselines_ordering_and_definition() -> None:
    """no-semantic sends phi = 1, random draws phi in [phi_min, 1], and the per-slot optimum
    (which also knows the fading) has the best reward of all on the same slots."""
    recs = {a: simulate(P, a, seed=2, rounds=6) for a in ("per-slot-optimum", "no-semantic", "random")}
    assert all(np.allclose(r["phi"], 1.0) for r in recs["no-semantic"])
    phis = np.concatenate([r["phi"] for r in recs["random"]])
    assert phis.min() >= P.phi_min and phis.max() <= 1.0 and phis.std() > 0.1
    reward = {a: np.mean([r["reward"] for r in rs]) for a, rs in recs.items()}
    assert reward["per-slot-optimum"] >= max(reward["random"], reward["no-semantic"])
    T = {a: np.mean([r["T_s"] for r in rs]) for a, rs in recs.items()}
    assert T["no-semantic"] > T["random"] > T["per-slot-optimum"]


def test_simulate_deterministic_and_modeled_time_slotted() -> None:
    a, b = simulate(P, "random", 4, 3), simulate(P, "random", 4, 3)
    assert a == b
    assert [r["modeled_start_s"] for r in a] == pytest.approx([0.0, 1.2, 2.4])


def test_agents_missing_name_the_train_command(tmp_path: Path) -> None:
    """No agent ships for K = 3: the error names the command that trains it."""
    p = SemanticParams(K=3)
    with pytest.raises(ValueError, match="twinbed train semantic --algorithm sac --param K=3"):
        simulate(p, "sac", 0, 1, data_dir=tmp_path)
    assert agent_name(p, "ppo").startswith("semantic-ppo-") and agent_name(P, "ppo") == "semantic-ppo"
    assert train_command(p, "ppo") == "twinbed train semantic --algorithm ppo --param K=3"
    with pytest.raises(ValueError, match="unknown algorithm"):
        simulate(P, "nope", 0, 1)


def test_spec_decide_and_summarize_equal_simulation() -> None:
    """decide() on the BS's state and summarize() on per-UD reports give the in-process slot."""
    spec = get_scenario("semantic")
    assert set(spec.algorithms) == set(ALGORITHMS) == {"sac", "ppo", "no-semantic", "random",
                                                       "per-slot-optimum"}
    p = SemanticParams(K=3)
    ctx = offline_context("semantic", p, "random", seed=5)
    sim = simulate(p, "random", 5, 2)
    w = World(p, 5)
    for n in range(2):
        s = w.slot(n)
        dec = spec.decide_json(ctx, {"slot": n, "d_m": s.d_m.tolist(),
                                     "D_bits": s.D_bits.tolist(), "h2": s.h2.tolist()})
        assert dec["phi"] == sim[n]["phi"] and dec["f_e_hz"] == sim[n]["f_e_hz"]
        reports = {f"ud-{k}": UDReport(
            **{c: sim[n][c][k] for c in ("phi", "f_hz", "p_w", "f_e_hz", "D_bits", "d_m", "h2",
                                         "rate_bps", "t_s", "t_en", "t_up", "t_de", "t_dt", "t",
                                         "e")},
            ud=k, phi_achieved=0.5, encode_s=0.0, raw_bytes=2, n_samples=1, pos_m=(0.0, 0.0),
            modeled_start_s=0.0, forwarded_wall=1.0, decode_s=0.0,
            sampled_wall=1.0, twin_wall=2.0, fidelity_nrmse=0.0, fidelity_exact=False,
        ).model_dump() for k in range(3)}
        out = spec.summarize_json(p, n, reports, [])
        assert out["T_s"] == pytest.approx(sim[n]["T_s"], rel=1e-12)
        assert out["reward"] == pytest.approx(sim[n]["reward"], rel=1e-12)
    with pytest.raises(ValueError, match="expected 3 values of d_m"):
        spec.decide_json(ctx, {"slot": 0, "d_m": [1.0], "D_bits": [1, 2, 3], "h2": [1, 1, 1]})


def test_preflight_resolves_the_codec_and_names_missing_agents(tmp_path: Path) -> None:
    """An empty data directory runs on the shipped codec; the user's own codec wins; an agent
    for parameters nothing ships for is the one error naming its train command."""
    from twinbed.scenarios.semantic.codec import codec_path

    spec = get_scenario("semantic")
    used = spec.preflight(P, "random", 0, tmp_path)
    assert used["semantic-codec"].origin == "shipped"
    codec_path(tmp_path).parent.mkdir(parents=True)
    codec_path(tmp_path).write_bytes(b"x")
    assert spec.preflight(P, "random", 0, tmp_path)["semantic-codec"].origin == "user"
    with pytest.raises(ValueError, match="twinbed train semantic --algorithm ppo --param K=3"):
        spec.preflight(SemanticParams(K=3), "ppo", 0, tmp_path)


@pytest.mark.parametrize("algorithm", ["sac", "ppo"])
def test_tiny_training_saves_loads_and_plays(algorithm: str, tmp_path: Path) -> None:
    """A few hundred real SB3 steps: the checkpoint loads and drives simulate()."""
    from twinbed.agents import read_record
    from twinbed.scenarios.semantic.algorithms import INTERFACE
    from twinbed.scenarios.semantic.learned import load_agent
    from twinbed.scenarios.semantic.train import reward_reference, train_agent, validation_reward

    p = SemanticParams(K=2, N=5)
    res = train_agent(p, algorithm, 150 if algorithm == "sac" else 500, 0, tmp_path,
                      progress=False, eval_episodes=1)
    assert res.path.exists() and res.path.name == f"{agent_name(p, algorithm)}.zip"
    recs = simulate(p, algorithm, 1, data_dir=tmp_path)
    assert len(recs) == 5 and all(np.isfinite(r["reward"]) for r in recs)
    again = simulate(p, algorithm, 1, data_dir=tmp_path)
    assert recs == again
    rec = read_record(res.path)
    meta, sel = rec["meta"], rec["selected"]
    assert meta["interface"] == INTERFACE and meta["reward"] == "expected"
    assert meta["reward_reference"] == pytest.approx(reward_reference(p))
    # the saved policy is the best validated snapshot, not merely the last one
    history = dict((t, r) for t, r in sel["validation"])
    assert sel["validation_reward"] == max(history.values()) == history[sel["timesteps"]]
    assert validation_reward(p, load_agent(res.path, p, algorithm)) == pytest.approx(
        sel["validation_reward"], rel=1e-6)


def test_agent_of_an_older_mapping_is_refused_naming_the_train_command(tmp_path: Path) -> None:
    """A checkpoint trained on another observation/action mapping would act on the wrong
    numbers: simulate and preflight refuse it and name the command that retrains it."""
    import json

    from twinbed.agents import agent_path
    from twinbed.scenarios.semantic.codec import codec_path

    path = agent_path(tmp_path, agent_name(P, "sac"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"zip")
    path.with_suffix(".json").write_text(json.dumps({"algorithm": "sac", "meta": {}}))
    with pytest.raises(ValueError, match=r"mapping 1, this version uses 2.*retrain it with "
                                         "`twinbed train semantic --algorithm sac`"):
        simulate(P, "sac", 0, rounds=1, data_dir=tmp_path)
    codec_path(tmp_path).parent.mkdir(parents=True)
    codec_path(tmp_path).write_bytes(b"x")
    with pytest.raises(ValueError, match="retrain it with"):
        get_scenario("semantic").preflight(P, "sac", 0, tmp_path)


def test_train_command_bad_input_exit_2(tmp_path: Path) -> None:
    for extra in (["--param", "K=0"], ["--param", "nope=1"], ["--params", "missing.json"],
                  ["--steps", "0"]):
        out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", str(tmp_path),
                              "train", "semantic", "--algorithm", "sac", *extra],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_short_sac_training_beats_random_on_held_out_cycles(tmp_path: Path) -> None:
    """The training setup works: 500 real SAC steps at K = 2 (a few seconds) give a policy with
    lower latency than `random` on cycles it never saw (seeds 0-2 at 400 steps: T 2.48-2.52,
    at 600: 2.39-2.43, random 2.74), and no lower than the per-slot optimum."""
    from twinbed.scenarios.semantic.figures import evaluate_schemes
    from twinbed.scenarios.semantic.train import train_agent

    p = SemanticParams(K=2)
    res = train_agent(p, "sac", 500, 0, tmp_path, progress=False, eval_episodes=1)
    ev = evaluate_schemes(p, {"sac": res.path, "random": None, "per-slot-optimum": None},
                          episodes=2, seed=30_000)
    assert ev["per-slot-optimum"]["T_s"] <= ev["sac"]["T_s"] < 0.97 * ev["random"]["T_s"]


def test_the_saved_agent_is_the_best_validated_snapshot(tmp_path: Path, monkeypatch) -> None:
    """With validation scores scripted so that the middle snapshot wins, the checkpoint holds
    exactly that snapshot's parameters (not the last ones) and the record says so."""
    import copy

    import torch

    from twinbed.agents import read_record
    from twinbed.scenarios.semantic import train as train_mod
    from twinbed.scenarios.semantic.learned import load_agent

    scores, seen = iter([1.0, 5.0, 2.0]), []

    def scripted(p, agent, cycles=4):  # noqa: ANN001, ANN202
        seen.append((agent.num_timesteps, copy.deepcopy(agent.policy.state_dict())))
        return next(scores)

    monkeypatch.setattr(train_mod, "validation_reward", scripted)
    p = SemanticParams(K=2, N=5)
    res = train_mod.train_agent(p, "ppo", 1500, 0, tmp_path, progress=False, eval_episodes=1)
    assert [t for t, _ in seen] == [500, 1000, 1500]
    sel = read_record(res.path)["selected"]
    assert sel["timesteps"] == 1000 and sel["validation_reward"] == 5.0
    saved = load_agent(res.path, p, "ppo").policy.state_dict()
    for name, value in seen[1][1].items():
        assert torch.equal(saved[name], value), name
    assert any(not torch.equal(saved[n], v) for n, v in seen[2][1].items())
