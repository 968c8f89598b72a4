"""Crash safety of the live ``federated`` frame without a stack: the controller's ``decide`` keeps
nothing between frames (the learning schemes' state travels, as JSON, in the cloud's carried
state), so a controller restarted before every frame, or a frame decided twice after a replay,
plays exactly the in-process episode."""

from __future__ import annotations

import json

import pytest

from twinbed.runtime import offline_context
from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.algorithms import (Bandit, QLearning, make_policy, policy_state,
                                                    restore_policy)
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.roles import decide
from twinbed.scenarios.federated.simulate import run_episode

SMALL = dict(M=12, N=4, K=3, frames=20)


def _initial(p: FederatedParams) -> dict:
    st = model.initial_state(p)
    return {"D_bits": st.D_bits.tolist(), "assign": st.assign.tolist(), "Y": [], "policy": None}


@pytest.mark.parametrize("algorithm", ["qlearning", "bandit", "lyapunov-bcd", "greedy"])
def test_a_controller_restarted_every_frame_plays_the_in_process_episode(algorithm: str) -> None:
    p = FederatedParams(**SMALL)
    seed, frames = 5, 10
    sim = run_episode(p, algorithm, seed, frames)
    carried = _initial(p)
    for t in range(frames):
        ctx = offline_context("federated", p, algorithm, seed)  # a fresh process: empty cache
        state = {"t": t, **carried}
        d = decide(ctx, state)
        again = decide(offline_context("federated", p, algorithm, seed), state)  # a replay
        assert json.dumps(again) == json.dumps(d)
        assert d["record"] == sim[t]  # same draws, same state: bit-identical
        assert d["assign"] == sim[t]["assign"] and d["ell"] == sim[t]["ell"]
        carried = json.loads(json.dumps(d["next"]))  # through Redis: JSON
    if algorithm in ("qlearning", "bandit", "lyapunov-bcd"):
        assert carried["policy"] is not None
    else:
        assert carried["policy"] is None


def test_without_the_carried_state_qlearning_would_diverge() -> None:
    """The check above has teeth: a controller that forgot its Q-table plays other frames."""
    p = FederatedParams(**SMALL)
    sim = run_episode(p, "qlearning", 5, 10)
    carried, differ = _initial(p), 0
    for t in range(10):
        d = decide(offline_context("federated", p, "qlearning", 5), {"t": t, **carried})
        differ += d["record"] != sim[t]
        carried = {**d["next"], "policy": None}  # the state lost, as a kill -9 used to
    assert differ > 0


def test_learning_state_round_trips_exactly_through_json() -> None:
    p = FederatedParams(**SMALL)
    for cls in (QLearning, Bandit):
        pol = make_policy("qlearning" if cls is QLearning else "bandit", p)
        run_episode(p, "qlearning" if cls is QLearning else "bandit", 2, 6, policy=pol)
        st = policy_state(pol)
        assert st is not None
        back = restore_policy(make_policy("qlearning" if cls is QLearning else "bandit", p),
                              json.loads(json.dumps(st)))
        assert json.dumps(policy_state(back)) == json.dumps(st)
        # the learned state is not the initial one (the test would pass vacuously otherwise)
        assert json.dumps(st) != json.dumps(policy_state(make_policy(
            "qlearning" if cls is QLearning else "bandit", p)))


def test_a_stateless_scheme_refuses_foreign_state() -> None:
    with pytest.raises(ValueError, match="carries no state"):
        restore_policy(make_policy("greedy", FederatedParams(**SMALL)), {"Q": []})
