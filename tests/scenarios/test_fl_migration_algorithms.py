"""fl-migration association schemes, the gymnasium environment, simulation and training."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from twinbed.scenarios.fl_migration import algorithms as G
from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.env import FlMigrationEnv, observe
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.world import simulate


def _slot(p: FlMigrationParams, seed: int):
    inst = model.draw_instance(p, seed)
    st = model.first_state(p, inst, seed)
    return inst, model.next_state(p, st, st.prev_assoc, seed)


def test_nearest_is_plain_nearest_when_capacity_is_ample_and_feasible_otherwise() -> None:
    p = FlMigrationParams(S=9)
    inst, st = _slot(p, 0)
    np.testing.assert_array_equal(G.nearest(p, inst, st), model.nearest_server(inst, st.user_xy))
    tight = FlMigrationParams(S=4, U=20, q_low=850.0, q_high=900.0)
    inst, st = _slot(tight, 1)
    a = G.nearest(tight, inst, st)
    zero = model.costs(tight, inst, st, a, np.zeros(20))
    assert np.all(zero.cmp <= inst.q) and np.all(zero.syn <= inst.p)
    assert np.any(a != model.nearest_server(inst, st.user_xy))  # someone had to go further


@pytest.mark.parametrize("score", ["objective", "reward"])
def test_exhaustive_greedy_optimum_is_the_best_association(score: str) -> None:
    """U=4, S=3: greedy-optimum enumerates; it equals the best of all 81 associations scored
    one by one with assoc_reward (objective 22 or reward 25, with the exact allocation)."""
    p = FlMigrationParams(U=4, S=3)
    inst, st = _slot(p, 2)
    tab = G.pair_tables(p, inst, st)
    best = max(itertools.product(range(3), repeat=4),
               key=lambda a: G.assoc_reward(p, inst, tab, np.asarray(a), score)[0])
    got = G.greedy_optimum(p, inst, st, score=score)
    assert G.assoc_reward(p, inst, tab, got, score)[0] == pytest.approx(
        G.assoc_reward(p, inst, tab, np.asarray(best), score)[0], abs=1e-12)
    if score == "objective":  # feasible here, so the penalized score is the objective (22)
        ev = model.evaluate(p, inst, st, got, G.assoc_reward(p, inst, tab, got, score)[1])
        assert ev["feasible"]
        assert ev["objective"] == pytest.approx(G.assoc_reward(p, inst, tab, got, score)[0])


@pytest.mark.parametrize("seed", [0, 3])
def test_local_search_beats_its_starting_points(seed: int) -> None:
    p = FlMigrationParams(S=9, emd=0.2)
    inst, st = _slot(p, seed)
    tab = G.pair_tables(p, inst, st)
    for score in ("objective", "reward"):
        got = G.assoc_reward(p, inst, tab, G.greedy_optimum(p, inst, st, score=score), score)[0]
        for start in (st.prev_assoc, G.nearest(p, inst, st)):
            assert got >= G.assoc_reward(p, inst, tab, start, score)[0] - 1e-12


@pytest.mark.parametrize("continuous", [False, True])
def test_env_passes_gymnasium_and_sb3_checkers(continuous: bool) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    p = FlMigrationParams(S=5, U=6)
    check_env(FlMigrationEnv(p, episode_slots=4, continuous=continuous), skip_render_check=True)
    sb3_check_env(FlMigrationEnv(p, episode_slots=4, continuous=continuous), warn=False)


def test_env_same_seed_same_episode_and_reward_is_eq_25() -> None:
    p = FlMigrationParams(S=5, U=6)
    a, b = FlMigrationEnv(p, episode_slots=6), FlMigrationEnv(p, episode_slots=6)
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    np.testing.assert_array_equal(oa, ob)
    acts = np.random.default_rng(0).integers(0, 5, (6, 6))
    for t, act in enumerate(acts):
        st = a.state
        oa, ra, _, ta, ia = a.step(act)
        ob, rb, _, tb, ib = b.step(act)
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb and ia == ib and ta == tb == (t == 5)
        assert ia["migrations"] == int(np.sum(act != st.prev_assoc))
    assert a.observation_space.contains(oa)


def test_simulate_schemes_and_random_allocation() -> None:
    p = FlMigrationParams(S=9, emd=0.2)
    near = simulate(p, "nearest", seed=4, rounds=6)
    rand = simulate(p, "nearest-random", seed=4, rounds=6)
    best = simulate(p, "greedy-optimum", seed=4, rounds=6)
    assert [r["assoc"] for r in near] == [r["assoc"] for r in rand]
    assert rand[0]["gamma"] == G.random_gamma(p, 4, 0).tolist()
    assert near == simulate(p, "nearest", seed=4, rounds=6)  # deterministic
    # exact allocation beats random allocation on the same association, every slot
    assert all(n["objective"] >= r["objective"] - 1e-12 for n, r in zip(near, rand))
    # from the same state (slot 0) greedy-optimum's reward is at least nearest's
    assert best[0]["reward"] >= near[0]["reward"] - 1e-12
    with pytest.raises(ValueError, match="unknown algorithm"):
        simulate(p, "oracle", 0, 1)


def test_tiny_ppo_trains_saves_and_drives_simulation(tmp_path: Path) -> None:
    from twinbed.agents import MissingArtifactError, read_record
    from twinbed.scenarios.fl_migration.artifacts import AGENTS
    from twinbed.scenarios.fl_migration.training import EpisodeLog, train_scheme

    p = FlMigrationParams(S=3, U=4)
    with pytest.raises(MissingArtifactError, match="twinbed train fl-migration --algorithm ppo"):
        simulate(p, "ppo", seed=0, rounds=1, data_dir=tmp_path)
    log = EpisodeLog()
    res = train_scheme(p, "ppo", 0, 256, tmp_path, episode_slots=8, progress=False, log=log,
                       eval_episodes=1)
    assert res.path == tmp_path / "agents" / "fl-migration-ppo-U4-S3-seed0.zip"
    assert res.path == AGENTS["ppo"].user_path(tmp_path, p, 0)
    assert read_record(res.path)["meta"]["scheme"] == "ppo"
    assert len(log.rows) >= 256 // 8 - 1 and {r["emd"] for r in log.rows} <= {0.0, .2, .4, .6}
    recs = simulate(p.model_copy(update={"emd": 0.4}), "ppo", seed=0, rounds=3, data_dir=tmp_path)
    assert len(recs) == 3 and all(len(r["assoc"]) == 4 for r in recs)
    obs = observe(p, model.draw_instance(p, 0), model.first_state(p, model.draw_instance(p, 0), 0))
    assert obs.shape == FlMigrationEnv(p).observation_space.shape


def test_spec_decide_equals_simulation_and_preflight_names_the_command(tmp_path: Path) -> None:
    from twinbed.config import Settings
    from twinbed.runtime import offline_context
    from twinbed.scenarios import get_scenario

    spec = get_scenario("fl-migration")
    p = FlMigrationParams(S=9, emd=0.2)
    sim = simulate(p, "nearest", seed=3, rounds=2)
    inst = model.draw_instance(p, 3)
    st = model.first_state(p, inst, 3)
    ctx = offline_context("fl-migration", p, "nearest", seed=3,
                          settings=Settings(data_dir=tmp_path))
    for rec in sim:
        state = {"t": st.t, "user_xy": st.user_xy.tolist(), "n_new": st.n_new.tolist(),
                 "n_prev": st.n_prev.tolist(), "prev_assoc": st.prev_assoc.tolist()}
        got = spec.decide_json(ctx, state)
        assert got == {"assoc": rec["assoc"], "gamma": rec["gamma"]}
        st = model.next_state(p, st, np.asarray(rec["assoc"]), 3)
    with pytest.raises(ValueError, match="user_xy"):  # the typed state names what is missing
        spec.decide_json(ctx, {"t": 0})
    with pytest.raises(ValueError, match="expected 20 users with servers in"):
        spec.decide_json(ctx, {**state, "n_new": state["n_new"][:3]})
    # seed 3 has no shipped agent: the error names the exact command for this instance
    with pytest.raises(ValueError, match="twinbed train fl-migration --algorithm ddpg "
                                         "--param U=20 --param S=9 --seed 3"):
        spec.preflight(p, "ddpg", 3, tmp_path)
    assert spec.preflight(p, "greedy-optimum", 3, tmp_path) == {}  # nothing to train


def test_training_killed_mid_run_resumes_from_its_checkpoint_with_its_curve(tmp_path: Path
                                                                            ) -> None:
    """``twinbed train fl-migration`` killed with SIGKILL after a checkpoint: the same command
    continues from that checkpoint (not from 0), and the record's learning curve keeps the
    points from before the kill."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from twinbed.agents import read_record
    from twinbed.scenarios.fl_migration.artifacts import AGENTS

    argv = [sys.executable, "-m", "twinbed", "train", "--data-dir", str(tmp_path),
            "fl-migration", "--algorithm", "actor-critic", "--param", "U=4", "--param", "S=3",
            "--steps", "800", "--slots", "8", "--checkpoint-every", "200"]
    partial = tmp_path / "agents" / "fl-migration-actor-critic-U4-S3-seed0.partial"
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not list(partial.glob("ckpt_*_steps.zip")) and time.monotonic() < deadline:
            assert proc.poll() is None, "training ended before its first checkpoint"
            time.sleep(0.2)
        time.sleep(0.3)  # let the checkpoint file be complete before the kill
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = max(int(f.stem.split("_")[1]) for f in partial.glob("ckpt_*_steps.zip"))
    assert 200 <= done < 800
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    path = AGENTS["actor-critic"].user_path(tmp_path, FlMigrationParams(U=4, S=3), 0)
    rec = read_record(path)
    assert rec["resumed_from"] >= done and rec["steps"] == 800
    steps = [c["timesteps"] for c in rec["curve"]]
    assert steps == sorted(steps) and steps[0] < rec["resumed_from"] < steps[-1]
    assert not partial.exists()


def test_the_core_runner_plays_the_world_slot_by_slot_in_modeled_time() -> None:
    """``twinbed simulate`` (the contract's runner through the typed decision hop) gives the
    slots of :func:`world.simulate`; slot t starts at t tau."""
    from twinbed.scenarios.fl_migration.spec import SCENARIO

    p = FlMigrationParams(S=9, emd=0.2)
    recs = SCENARIO.simulate(p, "nearest", 3, 3)
    assert [r["modeled_start_s"] for r in recs] == [0.0, p.slot_s, 2 * p.slot_s]
    assert [{k: v for k, v in r.items() if k != "modeled_start_s"} for r in recs] == \
        simulate(p, "nearest", seed=3, rounds=3)


def test_a_live_slot_is_the_cloud_report_or_the_slot_length() -> None:
    from twinbed.scenarios.fl_migration.contract import CloudReport, FlMigrationRound
    from twinbed.scenarios.fl_migration.spec import SCENARIO

    assert set(FlMigrationRound.model_fields) - {"missing"} == set(CloudReport.model_fields)
    p = FlMigrationParams()
    assert SCENARIO.summarize_json(p, 0, {}, ["cloud"]) == {"slot_s": p.slot_s,
                                                            "missing": ["cloud"]}
