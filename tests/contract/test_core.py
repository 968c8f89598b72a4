"""The contract's core parts, each on its own: artifact declarations, the parameter syntax,
the observation path against a real Redis, the dispatcher's context lifetime."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field

from twinbed import keys
from twinbed.artifacts import (
    ALL_PARAMS,
    ArtifactSpec,
    CorruptArtifactError,
    MissingArtifactError,
)
from twinbed.bus import Bus, commit
from twinbed.config import Settings
from twinbed.contract.cliparams import (
    ParamError,
    param_rows,
    param_table,
    parse_overrides,
    validate_params,
)
from twinbed.contract.models import PartyReport
from twinbed.contract.naming import entity, figure_files, message_type, twin_kind
from twinbed.messages import OracleSample, RoundReport
from twinbed.observation import (
    Fidelity,
    MeasuredTwinWrite,
    TwinWrite,
    fidelity,
    read_oracle,
    record,
    record_measured,
)
from twinbed.runs import RunConfig
from twinbed.runtime import RunContext
from twinbed.signing import throwaway_keys
from twinbed.twins import TwinStore, twin_id


class Toy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    U: int = Field(10, ge=1, le=100, description="users")
    emd: float = Field(0.5, gt=0, description="earth mover's distance")
    predictor: str = Field("gru", description="the twin's predictor")
    bandwidth_hz: float = Field(1e6, gt=0, description="bandwidth")
    p_dbm: float = Field(20.0, description="power")
    xi: float = Field(1e-6, gt=0, json_schema_extra={"unit": "s"}, description="tolerance")


def _load_json(path: Path, p: Toy) -> dict[str, Any]:
    return json.loads(path.read_text())


SPEC: ArtifactSpec[Toy, dict[str, Any]] = ArtifactSpec(
    name="toy-agent", train="twinbed train toy --algorithm agent", load=_load_json,
    depends_on=("U", "emd", "seed"), folder="agents", suffix=".bin")


# -- artifacts ---------------------------------------------------------------------------------
def test_artifact_file_name_and_train_command_come_from_the_declaration() -> None:
    p = Toy(U=4)
    assert SPEC.file_name(p, 7) == "toy-agent-U4-emd0.5-seed7.bin"
    assert SPEC.train_command(p, 7) == ("twinbed train toy --algorithm agent --param U=4 "
                                        "--param emd=0.5 --seed 7")
    every = ArtifactSpec("toy-all", "twinbed train toy", _load_json, ALL_PARAMS, suffix=".bin")
    assert every.file_name(Toy(), 0) == "toy-all.bin"  # defaults: no suffix
    changed = every.file_name(Toy(U=3, predictor="hold"), 0)
    assert changed.startswith("toy-all-") and len(changed) == len("toy-all-") + 10 + 4
    assert every.file_name(Toy(U=3, predictor="hold"), 99) == changed  # seed is not a param
    assert every.train_command(Toy(U=3), 0) == "twinbed train toy --param U=3"
    with pytest.raises(KeyError, match="nope"):
        ArtifactSpec("x", "t", _load_json, ("nope",), suffix=".bin").file_name(Toy(), 0)
    with pytest.raises(ValueError, match="json"):
        ArtifactSpec("x", "t", _load_json, suffix=".json")


def test_user_artifact_wins_over_shipped_and_missing_names_the_command(tmp_path: Path) -> None:
    p = Toy()
    shipped = tmp_path / "pkg" / "artifacts"
    shipped.mkdir(parents=True)
    spec = SPEC.with_shipped_dir(shipped)
    data = tmp_path / "data"
    with pytest.raises(MissingArtifactError) as exc:
        spec.resolve(data, p, 0)
    assert str(exc.value) == (f"no trained artifact at {data / 'agents' / spec.file_name(p, 0)}; "
                              f"train it with `{spec.train_command(p, 0)}`")
    assert isinstance(exc.value, ValueError)  # POST /runs answers 422 for any ValueError
    (shipped / spec.file_name(p, 0)).write_text(json.dumps({"from": "shipped"}))
    assert spec.resolve(data, p, 0).origin == "shipped"
    assert spec.load_for(p, 0, data) == {"from": "shipped"}
    user = spec.user_path(data, p, 0)
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"from": "user"}))
    assert spec.resolve(data, p, 0).origin == "user"
    assert spec.load_for(p, 0, data) == {"from": "user"}
    user.unlink()  # deleting the user's file falls back to the shipped one
    assert spec.load_for(p, 0, data) == {"from": "shipped"}


def test_a_file_that_does_not_load_is_a_corrupt_artifact_error_naming_it(tmp_path: Path) -> None:
    p = Toy()

    def load_zip(path: Path, p: Toy) -> list[str]:
        with zipfile.ZipFile(path) as z:
            return z.namelist()

    spec = ArtifactSpec("toy-zip", "twinbed train toy", load_zip, suffix=".zip")
    path = spec.user_path(tmp_path, p, 0)
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("policy.pth", b"x" * 1000)
    assert spec.load_for(p, 0, tmp_path) == ["policy.pth"]
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(CorruptArtifactError) as exc:
        spec.load_for(p, 0, tmp_path)
    assert str(path) in str(exc.value) and "twinbed train toy" in str(exc.value)


# -- parameters --------------------------------------------------------------------------------
def test_param_rows_have_unit_default_and_range() -> None:
    rows = {r.name: r for r in param_rows(Toy)}
    assert (rows["U"].unit, rows["U"].default, rows["U"].range) == ("-", "10", "[1, 100]")
    assert (rows["emd"].range, rows["bandwidth_hz"].unit) == ("(0, inf)", "Hz")
    assert rows["p_dbm"].unit == "dBm" and rows["p_dbm"].range == "any"
    assert rows["xi"].unit == "s" and rows["predictor"].default == "gru"
    table = param_table(Toy)
    assert "--param NAME=VALUE" in table and "bandwidth_hz" in table and "1e+06" in table


def test_overrides_from_file_then_params_and_their_errors(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"U": 3, "emd": 2.0}))
    got = parse_overrides(["U=5", "predictor=hold", "emd=0.25"], f)
    assert got == {"U": 5, "emd": 0.25, "predictor": "hold"}
    assert validate_params(Toy, got) == Toy(U=5, emd=0.25, predictor="hold")
    with pytest.raises(ParamError, match="NAME=VALUE"):
        parse_overrides(["U"], None)
    with pytest.raises(ParamError, match="not JSON"):
        f.write_text("{nope")
        parse_overrides([], f)
    with pytest.raises(ParamError, match="JSON object"):
        f.write_text("[1]")
        parse_overrides([], f)
    with pytest.raises(ParamError, match="cannot read"):
        parse_overrides([], tmp_path / "missing.json")
    with pytest.raises(ParamError, match="unknown parameter 'V'; known: U, emd"):
        validate_params(Toy, {"V": 1})
    with pytest.raises(ParamError, match="parameter U: .*less than or equal to 100"):
        validate_params(Toy, {"U": 101})


def test_naming_scheme_helpers() -> None:
    assert message_type("fl-migration", "upload-request") == "fl-migration.upload-request"
    assert twin_kind("federated", "partial-dt") == "federated.partial-dt"
    assert entity("sensor", 3) == "sensor-3" and entity("network") == "network"
    files = figure_files("/x", 3)
    assert (files.csv.name, files.png.name, files.claims.name) == (
        "fig3.csv", "fig3.png", "fig3-claims.json")
    for bad in ("network_twin", "Upload", "a--b", ""):
        with pytest.raises(ValueError, match="kebab"):
            message_type(bad, "x")


# -- the observation path ----------------------------------------------------------------------
def test_fidelity_against_the_oracle_bytes() -> None:
    x = np.array([1, -2, 3, 4], dtype=np.int16)
    exact = fidelity("1-0", x, x.tobytes())
    assert exact == Fidelity(oracle_id="1-0", available=True, exact=True, rmse=0.0, nrmse=0.0,
                             max_abs_err=0)
    off = fidelity("1-0", x + np.int16(2), x.tobytes())
    assert off.exact is False and off.rmse == 2.0 and off.max_abs_err == 2
    assert off.nrmse == pytest.approx(2.0 / np.sqrt(np.mean(x.astype(float) ** 2)))
    pos = np.array([[0.0, 1.0], [3.0, 4.0]])
    moved = fidelity("2-0", pos + [[0.0, 0.5], [0.0, 0.0]], pos.tobytes())
    assert moved.rmse == pytest.approx(0.25) and moved.max_abs_err == 0.5
    assert fidelity("3-0", x, None) == Fidelity(oracle_id="3-0", available=False)
    assert fidelity("4-0", x, b"\x00" * 3).exact is False  # not even the same length


class _Report(PartyReport):
    exact: bool | None
    twin_wall: float


def _cloud_ctx(aredis: aioredis.Redis, run_id: str) -> tuple[Bus, RunContext[Toy]]:
    """The cloud's bus and a run context of the toy scenario, as a handler gets them."""
    bus = Bus(aredis, "cloud-test", throwaway_keys("cloud"))
    cfg = RunConfig(id=run_id, scenario="toy", algorithm="a", seed=0, rounds=1, params={},
                    deadline_s=5, created_wall=0.0)
    return bus, RunContext(run=cfg, params=Toy(), bus=bus, settings=Settings(), role="cloud")


async def test_record_reads_the_oracle_updates_twins_and_reports(
        aredis: aioredis.Redis, uid: str) -> None:
    """One batch: a twin with its oracle entry, one whose entry is gone. Both are updated
    and reported; the second's fidelity says unavailable (never an exception)."""
    run_id = f"t{uid}"
    bus, ctx = _cloud_ctx(aredis, run_id)
    truth = np.arange(8, dtype=np.int16)
    oid = await bus.publish(ctx.stream("oracle"), OracleSample(
        run_id=run_id, round=0, entity="sensor-0", sampled_at_wall=1.0), truth.tobytes())
    assert await read_oracle(ctx, [oid, "0-1", None]) == [truth.tobytes(), None, None]
    writes = [TwinWrite(round=0, entity=entity("sensor", k), kind="toy.sensor",
                        state={"k": k}, value=truth, oracle_id=i, modeled_s=1.0,
                        aoi_modeled_s=0.5, sampled_wall=1.0,
                        report=lambda f, now: _Report(exact=f.exact, twin_wall=now))
              for k, i in ((0, oid), (1, "0-1"))]
    fx = bus.effects()
    fids = await record(ctx, fx, writes)
    await commit(aredis, fx)
    assert fids[0].exact is True and fids[1] == Fidelity(oracle_id="0-1", available=False)
    store = TwinStore(aredis)
    t0 = await store.get(twin_id(run_id, "sensor-0"))
    t1 = await store.get(twin_id(run_id, "sensor-1"))
    assert t0 is not None and t0.fidelity["exact"] is True and t0.kind == "toy.sensor"
    assert t1 is not None and t1.fidelity == {"oracle_id": "0-1", "available": False}
    reports = await aredis.xrange(keys.stream(run_id, "controller"))
    assert len(reports) == 2
    from twinbed.bus import decode_entry

    got = [decode_entry(keys.stream(run_id, "controller"), e.decode(), f, bus.keys.ring).msg
           for e, f in reports]
    assert all(isinstance(m, RoundReport) for m in got)
    assert [(m.party, m.metrics["exact"]) for m in got] == [("sensor-0", True),
                                                          ("sensor-1", None)]


async def test_record_measured_writes_oracle_less_twins_with_their_own_fidelity(
        aredis: aioredis.Redis, uid: str) -> None:
    """Twins without an oracle (learned models): the scenario's own fidelity is stored as
    given, the wall AoI counts from the round's start, the twins join the run's index."""
    run_id = f"t{uid}"
    bus, ctx = _cloud_ctx(aredis, run_id)
    started = time.time() - 2.0
    fx = bus.effects()
    record_measured(ctx, fx, [
        MeasuredTwinWrite(3, entity("model", k), "toy.model", {"k": k}, {"val_r2": r2},
                          modeled_s=4.0, aoi_modeled_s=1.0, started_wall=started)
        for k, r2 in ((0, 0.9), (1, None))])
    await commit(aredis, fx)
    store = TwinStore(aredis)
    twins = [await store.get(twin_id(run_id, f"model-{k}")) for k in (0, 1)]
    assert [t.fidelity for t in twins if t] == [{"val_r2": 0.9}, {"val_r2": None}]
    assert all(t is not None and t.round == 3 and t.kind == "toy.model" and t.aoi_wall_s >= 2.0
               for t in twins)
    assert await store.ids(run_id) == [twin_id(run_id, "model-0"), twin_id(run_id, "model-1")]
