"""Crash safety of the live ``federated`` frame without a stack: the controller's ``decide`` keeps
nothing between frames (the learning schemes' state travels, as JSON, in the cloud's carried
state), so a controller restarted before every frame, or a frame decided twice after a replay,
plays exactly the in-process episode."""

from __future__ import annotations

import json

import pytest

from twinbed.runtime import offline_context
from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.algorithms import (
    Bandit,
    QLearning,
    make_policy,
    policy_state,
    restore_policy,
)
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.spec import SCENARIO
from twinbed.scenarios.federated.world import run_episode

SMALL = dict(M=12, N=4, K=3, frames=20)


def decide(ctx, state: dict) -> dict:  # noqa: ANN001
    """What the controller service does with a DecisionRequest's state (JSON in and out)."""
    return SCENARIO.decide_json(ctx, state)


def _record(t: int, d: dict) -> dict:
    """The frame's record as the in-process episode has it."""
    return {"round": t, **d["record"]}


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
        assert _record(t, d) == sim[t]  # same draws, same state: bit-identical
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
        differ += _record(t, d) != sim[t]
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


# -- every live role in-process on a real Redis, killed again and again -------------------------
class _Proc:
    """One service process of the live frame: its run context (the per-process cache), its bus
    sender and its consumer-group worker. ``restart`` is what a kill -9 and restart leave."""

    def __init__(self, h: _Harness, name: str, role: str, replica: int, stream: str) -> None:
        self.h, self.name, self.role, self.replica, self.stream = h, name, role, replica, stream
        self.restart()

    def restart(self, keep_cache: bool = False) -> None:
        from twinbed.bus import Bus, Worker
        from twinbed.runtime import RunContext
        from twinbed.signing import throwaway_keys

        old = getattr(self, "ctx", None)
        self.bus = Bus(self.h.redis, self.name, throwaway_keys(self.role))
        self.ctx = RunContext(run=self.h.cfg, params=self.h.p, bus=self.bus,
                              settings=self.h.settings, role=self.role, replica=self.replica,
                              replicas=2 if self.role == "edge" else 1)
        if keep_cache and old is not None:
            self.ctx.cache = old.cache
        self.worker = Worker(self.bus, self.role, self.name, self._streams, self._handle,
                             count=4, reclaim_idle_s=3600)

    async def has_work(self) -> bool:
        """Entries pending or not yet delivered to the group (so no step ever blocks idle)."""
        from redis.exceptions import ResponseError

        try:
            last = (await self.h.redis.xinfo_stream(self.stream))["last-generated-id"]
            groups = await self.h.redis.xinfo_groups(self.stream)
        except ResponseError:  # no stream yet
            return False
        for g in groups:
            if g["name"].decode() == self.role:
                return bool(g["pending"]) or g["last-delivered-id"] != last
        return True  # the group is created by the first step

    async def _streams(self) -> list[str]:
        return [self.stream]

    async def _handle(self, env, fx) -> None:  # noqa: ANN001
        import asyncio

        from twinbed.messages import Decision, DecisionRequest, RoundReport
        msg = env.msg
        if isinstance(msg, DecisionRequest):  # what the controller service does
            d = decide(self.ctx, msg.state)
            fx.publish(self.ctx.stream(msg.reply_to), Decision(
                run_id=msg.run_id, round=msg.round, algorithm=self.ctx.run.algorithm,
                decision=d, solve_s=0.0))
        elif isinstance(msg, RoundReport):
            fx.hset(f"{self.h.prefix}:reports", str(msg.round), json.dumps(msg.metrics))
        else:
            handler = SCENARIO.handler(self.role, type(msg))
            assert handler is not None, (self.role, type(msg))
            await handler(self.ctx, env, fx)
        self.h.calls += 1
        if self.h.calls % self.h.crash_every == 0:  # die after the handler, before EXEC
            raise asyncio.CancelledError


class _Harness:
    def __init__(self, redis, run_id: str, algorithm: str, seed: int, frames: int,  # noqa: ANN001
                 crash_every: int) -> None:
        import time

        from twinbed import keys
        from twinbed.config import get_settings
        from twinbed.runs import RunConfig

        self.redis, self.p = redis, FederatedParams(**LIVE)
        self.cfg = RunConfig(id=run_id, scenario="federated", algorithm=algorithm, seed=seed,
                             rounds=frames, params=self.p.model_dump(mode="json"),
                             deadline_s=60.0, created_wall=time.time())
        self.settings = get_settings().model_copy(update={"edge_replicas": 2})
        self.prefix, self.calls, self.crash_every, self.crashes = f"test:{run_id}", 0, crash_every, 0
        self.procs = [
            _Proc(self, "cloud", "cloud", 0, keys.stream(run_id, "cloud")),
            _Proc(self, "controller", "controller", 0, keys.stream(run_id, "controller")),
            _Proc(self, "sensor", "sensor", 0, keys.stream(run_id, "sensor")),
            _Proc(self, "edge-0", "edge", 0, keys.replica_stream(run_id, "edge", 0)),
            _Proc(self, "edge-1", "edge", 1, keys.replica_stream(run_id, "edge", 1)),
        ]

    async def play(self, keep_cache: bool) -> dict[int, dict]:
        import asyncio

        from twinbed.bus import Bus
        from twinbed.messages import RoundStart
        from twinbed.signing import throwaway_keys

        driver = Bus(self.redis, "controller-driver", throwaway_keys("controller"))
        for t in range(self.cfg.rounds):
            await driver.publish(self.procs[0].stream, RoundStart(run_id=self.cfg.id, round=t,
                                                                  modeled_start_s=0.0))
            for _ in range(2000):
                if await self.redis.hexists(f"{self.prefix}:reports", str(t)):
                    break
                for proc in self.procs:
                    if not await proc.has_work():
                        continue
                    try:
                        took = await proc.worker.step(block_ms=1)
                    except asyncio.CancelledError:  # killed mid-batch: nothing committed
                        self.crashes += 1
                        proc.restart(keep_cache=keep_cache)
                        continue
                    if took and not keep_cache:  # and a restart after every batch besides
                        proc.restart()
            else:
                raise AssertionError(f"frame {t} never completed")
        raw = await self.redis.hgetall(f"{self.prefix}:reports")
        return {int(k): json.loads(v) for k, v in raw.items()}


LIVE = dict(M=16, N=5, K=4, frames=20)


@pytest.mark.parametrize(("algorithm", "keep_cache"), [
    ("greedy", False),  # every process restarted after every batch, and killed before EXEC
    ("qlearning", False),
    ("greedy", True),  # batches lost before EXEC under a live process (Redis restarting)
])
async def test_every_process_killed_again_and_again_still_plays_the_simulation(
        aredis, uid: str, algorithm: str, keep_cache: bool) -> None:
    from twinbed.twins import TwinStore, twin_id

    seed, frames = 5, 6
    h = _Harness(aredis, f"fedrec{uid}", algorithm, seed, frames, crash_every=7)
    reports = await h.play(keep_cache)
    assert h.crashes >= 10  # the kills really happened, many times
    sim = run_episode(FederatedParams(**LIVE), algorithm, seed, frames)
    assert sorted(reports) == list(range(frames))
    moved = 0
    for t in range(frames):
        got, want = reports[t], sim[t]
        for key in ("assign", "associations", "ell", "z", "D_bits"):
            assert got[key] == want[key], (t, key)
        assert got["perf"] == pytest.approx(want["perf"], rel=1e-12)
        assert got["val_r2"] is not None and got["val_r2"] > 0.5  # every partial-DT uploaded
        moved += got["history_rows_moved"]
    assert moved > 0  # histories really migrated between the edge processes
    store = TwinStore(aredis)
    g = await store.get(twin_id(h.cfg.id, "global-dt"))
    assert g is not None and g.version == frames  # integrated exactly once per frame
    for k in range(h.p.K):
        hist = await store.history(twin_id(h.cfg.id, f"partial-dt-{k}"))
        assert [x.round for x in hist] == list(range(frames))
        rows = [x.state["rows_total"] for x in hist]
        assert all(b >= a for a, b in zip(rows, rows[1:])), (k, rows)  # no history lost
