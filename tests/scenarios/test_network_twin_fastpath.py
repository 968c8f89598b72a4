"""The network-twin world and environment's fast path (an episode's physical slots drawn at
reset, vectorized; observations from arrays) equals the slot-by-slot reference bit for bit:
figures, claims and shipped agents depend on the draws from named seeds (issue 15)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from twinbed.scenarios.network_twin.env import NetworkTwinEnv
from twinbed.scenarios.network_twin.gru import HoldPredictor
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.world import NetworkWorld, NetworkWorldReference

PARAMS = {
    "walk": NetworkTwinParams(),
    "gauss-markov": NetworkTwinParams(mobility="gauss-markov"),
    # a small area: many steps across the border are refused (Stay), for both mobilities
    "walk-small": NetworkTwinParams(U=3, N=4, area_blocks=6.0, move_prob_min=0.5),
    "gm-small": NetworkTwinParams(mobility="gauss-markov", area_blocks=4.0, U=5),
    # a tight delay bound: some slots have no RB for the cloud (no sync possible)
    "tight": NetworkTwinParams(gamma=0.03, episode_slots=12),
}


class Drift:
    """A predictor that is not HoldPredictor (the world stacks the history for it): the newest
    state plus half the last displacement."""

    def predict(self, history: Any) -> Any:
        h = np.asarray(history)
        return h[-1] + 0.5 * (h[-1] - h[-2])


@pytest.mark.parametrize("name", list(PARAMS))
@pytest.mark.parametrize("predictor", [HoldPredictor, Drift])
def test_world_records_equal_the_slot_by_slot_reference(name: str, predictor: type) -> None:
    """Every slot's record (positions, twin, RBs, rates, reward...) and decision state, with
    a mixed sync pattern, several seeds, beyond the first drawn block."""
    p = PARAMS[name]
    rng = np.random.default_rng(0)
    for seed in (0, 3, 2**40 + 1):
        fast, ref = NetworkWorld(p, seed, predictor()), NetworkWorldReference(p, seed, predictor())
        for t in range(2 * p.episode_slots + 40):
            assert fast.state() == ref.state(), (seed, t)
            sync = bool(rng.random() < 0.3)
            a, b = fast.step(sync), ref.step(sync)
            assert a == b, (seed, t)
            assert np.array_equal(fast.pos, ref.pos) and np.array_equal(fast.prediction, ref.prediction)


def test_tight_bound_has_infeasible_slots() -> None:
    """The 'tight' parameters do exercise slots without a cloud RB."""
    w = NetworkWorldReference(PARAMS["tight"], 0, HoldPredictor())
    feasible = []
    for _ in range(40):
        feasible.append(w.outcome_now.feasible)
        w.step(True)
    assert any(feasible) and not all(feasible)


@pytest.mark.parametrize("name", list(PARAMS))
@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_env_equals_reference_step_for_step(name: str, action: str) -> None:
    """Observations, rewards, flags and info of the fast env equal the reference env's
    (np.array_equal and ==) over several episodes, actions as int, numpy int and float
    arrays, and steps past the truncation."""
    p = PARAMS[name]
    fast = NetworkTwinEnv(p, HoldPredictor(), action)  # type: ignore[arg-type]
    ref = NetworkTwinEnv(p, HoldPredictor(), action, reference=True)  # type: ignore[arg-type]
    g = np.random.default_rng(1)
    for episode in range(4):
        of, inf = fast.reset(seed=episode)
        orf, inr = ref.reset(seed=episode)
        assert np.array_equal(of, orf) and of.dtype == orf.dtype and inf == inr
        for n in range(p.episode_slots + 3):
            act: Any
            if action == "discrete":
                act = int(g.integers(0, 2))
                act = np.int64(act) if n % 3 == 1 else act
            else:
                act = g.uniform(-1, 1, 1).astype(np.float32)
            a, b = fast.step(act), ref.step(act)
            assert np.array_equal(a[0], b[0]) and a[0].dtype == b[0].dtype, (episode, n)
            assert a[1:4] == b[1:4] and a[4] == b[4], (episode, n)


def test_env_rejects_invalid_actions_like_the_reference() -> None:
    for reference in (False, True):
        env = NetworkTwinEnv(NetworkTwinParams(), HoldPredictor(), reference=reference)
        env.reset(seed=0)
        for bad in (2, -1, 0.5):
            with pytest.raises(ValueError):
                env.step(bad)


@pytest.mark.parametrize("block", [1, 2, 7])
@pytest.mark.parametrize("name", ["walk-small", "gm-small"])
def test_small_blocks_equal_the_reference(name: str, block: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The world keeps one block of slots (bounded memory for large U x N): blocks of 1, 2 and
    7 slots continue the mobility from the slots before them exactly."""
    from twinbed.scenarios.network_twin import world as W

    p = PARAMS[name]
    monkeypatch.setattr(W._Trajectory, "BLOCK_FLOATS", block * p.U * p.N)
    fast, ref = NetworkWorld(p, 4, HoldPredictor()), NetworkWorldReference(p, 4, HoldPredictor())
    for t in range(40):
        assert fast.step(t % 3 == 0) == ref.step(t % 3 == 0), t
