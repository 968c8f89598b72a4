"""DMO as the paper's N + 2 PPO agents: the slices partition the joint action, the per-agent
rewards are eqs. (37)/(38), each agent's env passes the checkers, training updates every agent
from the same frames, saves them with a record, resumes an interrupted run of the same
configuration only, and the ``dmo`` scheme needs them (preflight) and decides like in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twinbed.scenarios.federated.dmo import (
    AgentEnv,
    DmoPolicy,
    agent_rewards,
    agent_slices,
    load_dmo,
    train_dmo,
)
from twinbed.scenarios.federated.env import FederatedEnv, action_nvec
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import run_episode

P = FederatedParams(M=10, N=4, K=3, frames=6)
TINY = {"n_steps": 32, "batch_size": 16, "n_epochs": 2}


def _params_vector(models) -> np.ndarray:
    return np.concatenate([np.concatenate([x.detach().numpy().ravel()
                                           for x in m.policy.parameters()]) for m in models])


def test_slices_partition_the_joint_action_as_the_paper_splits_the_agents() -> None:
    sl = agent_slices(P)
    assert len(sl) == P.N + 2
    assert sorted(np.concatenate(sl).tolist()) == list(range(len(action_nvec(P))))
    assert [s.tolist() for s in sl[:P.N]] == [[n, P.N + n] for n in range(P.N)]  # (l_n, z_n)
    assert len(sl[P.N]) == P.K and len(sl[P.N + 1]) == P.N  # A_K: per partial-DT, A_N: per ES


def test_rewards_are_es_utilities_and_the_system_utility() -> None:
    env = FederatedEnv(P, frames=3)
    env.reset(seed=1)
    env.action_space.seed(1)
    _, _, _, _, info = env.step(env.action_space.sample())
    r = agent_rewards(P, info)
    assert r[:P.N].tolist() == info["U_n"]
    want = P.lambda1 * info["Q"] - P.lambda2 * info["E_J"] - info["penalty"]
    assert r[P.N] == r[P.N + 1] == pytest.approx(want)
    # the ES rewards sum to the team reward up to the decision-free integration energy
    assert sum(info["U_n"]) == pytest.approx(info["perf"] + P.lambda2 * info["E_int_J"])


@pytest.mark.parametrize("agent", [0, P.N, P.N + 1])
def test_agent_env_passes_gymnasium_and_sb3_checkers(agent: int) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    check_env(AgentEnv(P, agent, frames=3), skip_render_check=True)
    sb3_check(AgentEnv(P, agent, frames=3))


def test_training_updates_every_agent_from_the_same_frames_and_saves_a_record(tmp_path) -> None:
    from twinbed.agents import read_record
    from twinbed.scenarios.federated.artifacts import read_team
    from twinbed.scenarios.federated.dmo import dmo_path

    path = dmo_path(tmp_path, P)  # one file holding the team
    res = train_dmo(P, 96, 0, path, frames=6, progress=False, hyperparams=TINY)
    assert len(res.models) == P.N + 2
    assert all(m.num_timesteps == 96 for m in res.models)  # every agent saw every frame
    assert all(m._n_updates == 3 * TINY["n_epochs"] for m in res.models)  # 3 PPO updates each
    assert len(read_team(path)) == P.N + 2
    rec = read_record(path)  # <stem>.json beside the team's file
    assert rec["agents"] == P.N + 2 and rec["steps"] == 96 and rec["curve"]
    assert rec["meta"]["params"]["N"] == P.N and np.isfinite(rec["evaluation"]["mean_utility"])
    assert not path.with_name(path.stem + ".partial").exists()
    # the saved agents are the trained ones, and they play deterministic frames
    assert np.array_equal(_params_vector(load_dmo(tmp_path, P)), _params_vector(res.models))
    recs = run_episode(P, "dmo", 3, 4, policy=DmoPolicy(P, res.models))
    assert len(recs) == 4 and all(np.isfinite(r["perf"]) for r in recs)
    assert recs == run_episode(P, "dmo", 3, 4, policy=DmoPolicy(P, load_dmo(tmp_path, P)))


def test_lockstep_learning_rate_decays_with_the_team_frames_not_sb3_progress(tmp_path) -> None:
    """The schedule SB3 calls reads the team's frame clock (LockstepPPO drives no private
    SB3 attribute): after the update at frame 32 of 64 the optimizers run at half the rate."""
    from twinbed.scenarios.federated.marl import ClockSchedule, FrameClock

    res = train_dmo(P, 64, 0, tmp_path / "a", frames=6, progress=False, eval_seeds=(),
                    hyperparams={**TINY, "learning_rate": 1e-3})
    for m in res.models:
        assert m._current_progress_remaining == 1.0  # SB3's own progress never moved
        assert isinstance(m.lr_schedule.value_schedule, ClockSchedule)
    clock = FrameClock(64, 32)
    half = ClockSchedule(res.models[0].lr_schedule.value_schedule.base, clock)
    assert half(0.123) == pytest.approx(5e-4)  # SB3's argument is ignored
    # the last update ran at frame 64: rate 0
    assert all(g["lr"] == 0.0 for m in res.models for g in m.policy.optimizer.param_groups)


def test_an_interrupted_training_resumes_from_its_checkpoint_only_with_the_same_config(
        tmp_path, monkeypatch) -> None:
    """A crash after the checkpoint at frame 64: the next run of the same configuration
    starts at frame 64 and completes the remaining updates; another configuration (seed)
    starts afresh."""
    from twinbed.scenarios.federated import dmo

    path = tmp_path / "agents" / "federated-dmo.zip"
    real_save = dmo._save_all
    calls = {"n": 0}

    def crash_after_first_checkpoint(models, d, files=None):
        real_save(models, d, files)
        calls["n"] += 1
        if d.name.startswith("ckpt_64"):
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(dmo, "_save_all", crash_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train_dmo(P, 128, 0, path, frames=6, progress=False, hyperparams=TINY,
                  checkpoint_every=64)
    partial = path.with_name(path.stem + ".partial")
    assert (partial / "ckpt_64_steps" / f"agent-{P.N + 1}.zip").exists()
    monkeypatch.setattr(dmo, "_save_all", real_save)
    res = train_dmo(P, 128, 0, path, frames=6, progress=False, hyperparams=TINY,
                    checkpoint_every=64)
    assert res.resumed_from == 64
    assert all(m.num_timesteps == 128 and m._n_updates == 4 * TINY["n_epochs"]
               for m in res.models)
    assert json.loads(path.with_suffix(".json").read_text())["resumed_from"] == 64
    # a leftover partial run of another configuration is not continued
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(dmo, "_save_all", crash_after_first_checkpoint)
        train_dmo(P, 128, 0, path, frames=6, progress=False, hyperparams=TINY,
                  checkpoint_every=64)
    monkeypatch.setattr(dmo, "_save_all", real_save)
    other = train_dmo(P, 128, 1, path, frames=6, progress=False, hyperparams=TINY,
                      checkpoint_every=64)
    assert other.resumed_from == 0


def _assert_decide_replays_the_episode(data_dir, models) -> None:
    """The controller's decide, fed its own carried state as JSON (as it is live), plays the
    same frames as the in-process episode with these agents (seed 2, 3 frames)."""
    from twinbed.config import get_settings
    from twinbed.runtime import offline_context
    from twinbed.scenarios.federated import model
    from twinbed.scenarios.federated.spec import SCENARIO

    sim = run_episode(P, "dmo", 2, 3, policy=DmoPolicy(P, models))
    settings = get_settings().model_copy(update={"data_dir": data_dir})
    st = model.initial_state(P)
    carried = {"D_bits": st.D_bits.tolist(), "assign": st.assign.tolist(), "Y": []}
    for t in range(3):
        d = SCENARIO.decide_json(offline_context("federated", P, "dmo", 2, settings=settings),
                                 {"t": t, **carried})
        assert {"round": t, **d["record"]} == sim[t]
        carried = json.loads(json.dumps(d["next"]))


def test_dmo_scheme_needs_the_trained_agents_then_decides_like_in_process(tmp_path) -> None:
    """Without agents preflight names the train command (a 422 live); agents of another size
    are refused; with them, the controller's decide plays the in-process frames."""
    import shutil

    from twinbed.artifacts import CorruptArtifactError, MissingArtifactError
    from twinbed.scenarios import get_scenario
    from twinbed.scenarios.federated.dmo import dmo_path

    spec = get_scenario("federated")
    with pytest.raises(MissingArtifactError, match="twinbed train federated-dmo --param K=3 "
                                                   "--param M=10 --param N=4 --param frames=6`"):
        spec.preflight(P, "dmo", 0, tmp_path)
    res = train_dmo(P, 32, 1, dmo_path(tmp_path, P), frames=6, progress=False,
                    hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1})
    used = spec.preflight(P, "dmo", 0, tmp_path)
    assert used["federated-dmo"].origin == "user" and used["federated-dmo"].path == res.path
    # other parameters name other files: missing, with their own command
    with pytest.raises(MissingArtifactError, match="--param M=12 --param N=4"):
        spec.preflight(FederatedParams(M=12, N=4, K=3, frames=6), "dmo", 0, tmp_path)
    # a team of another size under this name is refused on loading, naming the file
    for other in (FederatedParams(M=10, N=5, K=3, frames=6),
                  FederatedParams(M=10, N=4, K=2, frames=6)):
        wrong = dmo_path(tmp_path, other)
        shutil.copyfile(res.path, wrong)
        shutil.copyfile(res.path.with_suffix(".json"), wrong.with_suffix(".json"))
        with pytest.raises(CorruptArtifactError, match=f"{wrong.name}.*another N or K"):
            load_dmo(tmp_path, other)
    _assert_decide_replays_the_episode(tmp_path, res.models)


def test_stage1_with_one_iteration_is_the_single_socf_call_of_play_frame(tmp_path) -> None:
    """J = 1 in :func:`stage1` draws the same SOCF stream as ``play_frame``: same frames."""
    from twinbed.scenarios.federated.algorithms import utility_estimate
    from twinbed.scenarios.federated.dmo import stage1
    from twinbed.scenarios.federated.env import observation

    res = train_dmo(P, 32, 2, tmp_path / "dmo.zip", frames=6, progress=False,
                    hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1})

    class ViaStage1(DmoPolicy):
        def act(self, v):  # noqa: ANN001, ANN202
            est = utility_estimate(v)
            obs = observation(v, est)
            joint = np.empty(len(action_nvec(self.p)), dtype=np.int64)
            for sl, m in zip(self.slices, self.models):
                joint[sl] = np.asarray(m.predict(obs, deterministic=True)[0])
            return stage1(self.p, v, obs, joint, est, self._es_act, 1)[0]

    def strip(recs: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "socf_passes"} for r in recs]

    a = run_episode(P, "dmo", 4, 5, policy=DmoPolicy(P, res.models, iters=1))
    b = run_episode(P, "dmo", 4, 5, policy=ViaStage1(P, res.models, iters=1))
    assert strip(a) == strip(b)


def test_stage1_iterates_agents_and_socf_to_a_stable_partition_and_trains(tmp_path) -> None:
    """J = 3: the ES agents see the partition SOCF just formed (their observation's coalition
    sizes) and may re-allocate; the frame's coalitions are SOCF's stable partition for the final
    allocations; the agents are played with the J they were trained with (live decide equals
    the in-process frames)."""
    from twinbed.scenarios.federated import model
    from twinbed.scenarios.federated.algorithms import View
    from twinbed.scenarios.federated.dmo import dmo_path, with_partition
    from twinbed.scenarios.federated.games import stable_partition
    from twinbed.seeding import rng

    env = FederatedEnv(P, frames=3)
    o, _ = env.reset(seed=0)
    Y = np.zeros((P.M, P.N), bool)
    Y[:3, 1] = True
    o2 = with_partition(P, o, Y)
    i = 2 * P.K + P.K * P.N + P.N  # the coalition sizes in the observation
    assert o2[i + 1] == pytest.approx(3 / P.Z_max) and o2[i] == 0.0
    keep = np.r_[0:i, i + P.N:len(o)]
    assert np.array_equal(o2[keep], o[keep])

    res = train_dmo(P, 64, 0, dmo_path(tmp_path, P), frames=6, progress=False, stage1_iters=3,
                    hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1})
    agents = load_dmo(tmp_path, P)
    assert agents.stage1_iters == 3 and DmoPolicy(P, agents).iters == 3
    pol = DmoPolicy(P, agents)
    st, inst = model.initial_state(P), model.draw_instance(P, 7)
    for _ in range(3):
        frame = model.draw_frame(P, inst, 7, st.t)
        d = pol.act(View(P, inst, frame, st, rng(7, "federated", "socf", st.t)))
        fc = model.frame_ctx(P, inst, frame, st, d.assign, d.z, d.ell)
        assert d.Y is not None and stable_partition(P, fc, d.Y)
        _, st = model.evaluate(P, inst, frame, st, d.assign, d.Y, d.z, d.ell)
    _assert_decide_replays_the_episode(tmp_path, res.models)
