"""REST: start, list, inspect and stop runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twinbed.artifacts import describe
from twinbed.runs import RunConfig, RunStatus, new_run_id
from twinbed.scenarios import UnknownScenarioError, get_scenario, scenario_names
from twinbed_services.common import MUTATING, State, errors, require_token
from twinbed_services.controller import retention

router = APIRouter(prefix="/runs", tags=["runs"])


class RunCreate(BaseModel):
    """Body of ``POST /runs``."""

    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(examples=["compression"])
    algorithm: str = Field(examples=["fixed-bf"])
    seed: int = Field(0, ge=0, le=2**63 - 1, strict=True)
    rounds: int = Field(10, ge=1, le=100_000, strict=True)
    params: dict[str, Any] = Field(default_factory=dict, description="parameter overrides")
    deadline_s: float | None = Field(None, ge=0.05, le=3600,
                                     description="round deadline; default TWINBED_ROUND_DEADLINE_S")


class RunView(BaseModel):
    config: RunConfig
    status: RunStatus
    rounds: list[dict[str, Any]] | None = None


def _unprocessable(detail: str, errors: list[dict[str, Any]]) -> JSONResponse:
    """422 in the shape of the app's validation errors: ``detail`` (one line) plus
    ``errors`` (``loc`` names the field), so a form can show each next to its field."""
    return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})


def _error(field: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *field.split(".")], "msg": msg, "type": kind}


@router.post("", status_code=201, dependencies=[Depends(require_token)], response_model=RunView,
             responses=errors(*MUTATING))
async def create_run(body: RunCreate, state: State) -> RunView | JSONResponse:
    try:
        spec = get_scenario(body.scenario)
    except UnknownScenarioError as exc:
        return _unprocessable(str(exc), [_error("scenario", str(exc), "unknown_scenario")])
    if body.algorithm not in spec.algorithms:
        msg = (f"unknown algorithm {body.algorithm!r} for scenario {body.scenario!r}; "
               f"known: {', '.join(spec.algorithms)}")
        return _unprocessable(msg, [_error("algorithm", msg, "unknown_algorithm")])
    try:
        params = spec.params.model_validate(body.params)
    except ValidationError as exc:
        known = ", ".join(spec.params.model_fields)
        problems, errors = [], []
        for e in exc.errors():
            name = ".".join(map(str, e["loc"])) or "params"
            if e["type"] == "extra_forbidden":
                msg = f"unknown parameter {name!r}"
            else:
                msg = f"parameter {name!r}: {e['msg']}"
            problems.append(msg)
            errors.append(_error(f"params.{name}", msg, e["type"]))
        return _unprocessable(f"{'; '.join(problems)} (scenario {body.scenario!r} "
                              f"parameters: {known})", errors)
    try:  # every artifact the run needs resolves and is intact (else 422 naming the fix)
        used = spec.preflight(params, body.algorithm, body.seed, Path(state.settings.data_dir))
    except ValueError as exc:
        return _unprocessable(str(exc), [_error("algorithm", str(exc), "preflight")])
    cfg = RunConfig(
        id=new_run_id(), scenario=body.scenario, algorithm=body.algorithm, seed=body.seed,
        rounds=body.rounds, params=params.model_dump(mode="json"), overrides=body.params,
        deadline_s=body.deadline_s or state.settings.round_deadline_s, created_wall=time.time(),
        artifacts=describe(used),
    )
    await state.runs.create(cfg)
    status = await state.runs.status(cfg.id)
    if status is None:  # created in the same call: only a concurrent DELETE gets here
        raise HTTPException(status_code=409, detail=f"run {cfg.id!r} vanished on creation")
    return RunView(config=cfg, status=status)


@router.get("")
async def list_runs(state: State,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[RunView]:
    out = []
    for run_id in await state.runs.list_ids(limit):
        cfg, st = await state.runs.config(run_id), await state.runs.status(run_id)
        if cfg and st:
            out.append(RunView(config=cfg, status=st))
    return out


@router.get("/scenarios", tags=["runs"])
async def scenarios() -> dict[str, Any]:
    """Every scenario with its algorithms, parameter defaults and the parameters' JSON schema
    (types, ranges, units, descriptions: the dashboard's start form), the headline metrics and
    the modeled round duration's field (its charts)."""
    out = {}
    for name in scenario_names():
        spec = get_scenario(name)
        out[name] = {"algorithms": list(spec.algorithms),
                     "params": spec.params().model_dump(mode="json"),
                     "schema": spec.params.model_json_schema(),
                     "headline": list(spec.headline), "duration_key": spec.duration_key}
    return out


@router.get("/{run_id}", responses=errors(404))
async def get_run(run_id: str, state: State) -> RunView:
    cfg, st = await state.runs.config(run_id), await state.runs.status(run_id)
    if cfg is None or st is None:
        raise HTTPException(status_code=404, detail=f"no run {run_id!r}")
    return RunView(config=cfg, status=st, rounds=await state.runs.rounds(run_id))


class Deleted(BaseModel):
    id: str
    deleted_keys: int


@router.delete("/{run_id}", dependencies=[Depends(require_token)],
               responses=errors(*MUTATING, 404, 409))
async def delete_run(run_id: str, state: State) -> Deleted:
    """Remove a finished run: its records (in Redis and on disk), streams, scenario state and
    twins. Finished runs are also deleted by the retention policy (TWINBED_KEEP_RUNS,
    TWINBED_RUN_TTL_S); a running one must be stopped first (409)."""
    st = await state.runs.status(run_id)
    if st is None:
        raise HTTPException(status_code=404, detail=f"no run {run_id!r}")
    if st.status == "running":
        raise HTTPException(status_code=409,
                            detail=f"run {run_id!r} is running; POST /runs/{run_id}/stop first")
    n = await retention.delete_run(state.runs, state.settings.data_dir, run_id)
    return Deleted(id=run_id, deleted_keys=n)


@router.post("/{run_id}/stop", dependencies=[Depends(require_token)],
             responses=errors(*MUTATING, 404, 409))
async def stop_run(run_id: str, state: State) -> RunStatus:
    st = await state.runs.status(run_id)
    if st is None:
        raise HTTPException(status_code=404, detail=f"no run {run_id!r}")
    if st.status != "running":
        raise HTTPException(status_code=409, detail=f"run {run_id!r} is already {st.status}")
    await state.runs.request_stop(run_id)
    after = await state.runs.status(run_id)
    if after is None:
        raise HTTPException(status_code=404, detail=f"no run {run_id!r}")
    return after
