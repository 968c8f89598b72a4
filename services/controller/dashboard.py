"""The web dashboard: static files under ``/ui/``, the twin store's read routes, the figures.

The controller serves everything the browser needs from one origin. The twins' read-only
routes (the cloud's ``/twins`` router, same code) are mounted here too and read the same
Redis: the page needs no cross-origin grant, no second URL to configure (the cloud's port may
not even be published, as under ``docker compose``) and no proxy hop for the server-sent
events. The cloud stays the only writer of twins.

The front end is plain ES modules in ``twinbed/ui/static/`` (no build step) plus one vendored,
pinned chart library (uPlot, ``static/vendor/``, with its LICENSE); nothing is fetched at run
time.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

import twinbed
from twinbed import keys
from twinbed.claims import converted_scenarios, summarize
from twinbed.scenarios import get_scenario, scenario_names
from twinbed.twins import TwinStore
from twinbed_services.cloud.twins_api import router as twins_router
from twinbed_services.common import State, errors

STATIC = Path(twinbed.__file__).parent / "ui" / "static"

router = APIRouter(tags=["dashboard"])


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/")


def _figure_key(name: str) -> tuple[int, str]:
    digits = re.match(r"fig(\d+)", name)
    return (int(digits.group(1)) if digits else 10**6, name)


@router.get("/figures")
async def figures(state: State) -> list[dict[str, Any]]:
    """The reproduced figures under ``<data_dir>/figures/<scenario>/``: per scenario its state
    and counts (what ``twinbed claims`` prints) and per figure its PNG(s) with its claims."""
    root = Path(state.settings.data_dir) / "figures"
    out = []
    for s in summarize(root, scenario_names(), converted_scenarios()):
        folder = root / s.scenario
        pngs = sorted((p.name for p in folder.glob("*.png")), key=_figure_key) \
            if folder.is_dir() else []
        figs = []
        for f in sorted(s.files, key=lambda f: _figure_key(f"fig{f.figure}")):
            mine = [p for p in pngs if re.fullmatch(rf"fig{re.escape(f.figure)}(\D.*)?\.png", p)]
            figs.append({"figure": f.figure, "command": f.command, "seeds": f.seeds,
                         "pngs": mine, "claims": [asdict(c) | {"status": c.status}
                                                  for c in f.claims]})
            pngs = [p for p in pngs if p not in mine]
        figs += [{"figure": p.removesuffix(".png"), "command": "", "seeds": [], "pngs": [p],
                  "claims": []} for p in pngs]  # figures without a claims file
        out.append({"scenario": s.scenario, "state": s.state, "counts": s.counts,
                    "broken": s.broken, "figures": figs})
    return out


# The algorithm whose rounds bound the others' on the same seeded world, per scenario: what the
# run page draws as the bound (dashed). network-twin has none (its SAC/DQN are compared with
# heuristics only).
BOUNDS = {"compression": "centralized", "semantic": "per-slot-optimum",
          "fl-migration": "greedy-optimum", "federated": "exhaustive"}
MAX_BOUND_ROUNDS = 100  # computed in-process on the controller: keep it to seconds
_bounds: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()  # small LRU


@router.get("/runs/{run_id}/bound", responses=errors(404))
async def run_bound(run_id: str, state: State) -> dict[str, Any]:
    """The bound's per-round records for a run: its scenario's bound algorithm played
    in-process (``Scenario.simulate``) on the run's parameters and seed, the same seeded world
    the run sees, for its first rounds (at most MAX_BOUND_ROUNDS). ``reason`` says why there is
    none (no bound for the scenario, the run is the bound, a missing artifact, too large an
    instance for the exhaustive search)."""
    cfg = await state.runs.config(run_id)
    if cfg is None:
        raise HTTPException(status_code=404, detail=f"no run {run_id!r}")
    algorithm = BOUNDS.get(cfg.scenario)
    n = min(cfg.rounds, MAX_BOUND_ROUNDS)
    none = {"algorithm": algorithm, "rounds": [], "reason": ""}
    if algorithm is None:
        return none | {"reason": f"{cfg.scenario} declares no bound"}
    if cfg.algorithm == algorithm:
        return none | {"reason": "this run is the bound"}
    if (run_id, n) in _bounds:
        _bounds.move_to_end((run_id, n))
        return _bounds[(run_id, n)]
    spec = get_scenario(cfg.scenario)
    params = spec.params.model_validate(cfg.params)
    data_dir = Path(state.settings.data_dir)
    try:
        spec.preflight(params, algorithm, cfg.seed, data_dir)
        records = await asyncio.to_thread(spec.simulate, params, algorithm, cfg.seed, n,
                                          data_dir)
    except ValueError as exc:
        return none | {"reason": str(exc)}
    out = {"algorithm": algorithm, "rounds": records, "reason": ""}
    _bounds[(run_id, n)] = out
    while len(_bounds) > 16:
        _bounds.popitem(last=False)
    return out


@router.get("/twins/{twin_id}/oracle", responses=errors(404))
async def twin_oracle(state: State, twin_id: str) -> dict[str, Any]:
    """The oracle's truth for the twin's current version (the raw bytes the sensor sampled,
    base64), so the twin page can draw the twin's signal against it. ``available`` is false
    when the twin names no oracle entry or the entry was trimmed."""
    twin = await TwinStore(state.redis, state.settings.history_len).get(twin_id)
    if twin is None:
        raise HTTPException(status_code=404, detail=f"no twin {twin_id!r}")
    oracle_id = twin.fidelity.get("oracle_id")
    entries = await state.redis.xrange(keys.stream(twin.run_id, "oracle"), min=oracle_id,
                                       max=oracle_id) if isinstance(oracle_id, str) else []
    raw = entries[0][1].get(b"p") if entries else None
    return {"twin": twin_id, "version": twin.version, "oracle_id": oracle_id,
            "available": raw is not None,
            "bytes_b64": base64.b64encode(raw).decode() if raw is not None else None}


_NAME = r"^[A-Za-z0-9_.-]+\.(png|csv|json)$"


@router.get("/figures/{scenario}/{name}", responses=errors(404))
async def figure_file(
    state: State,
    scenario: Annotated[str, PathParam(pattern=r"^[a-z0-9-]+$")],
    name: Annotated[str, PathParam(pattern=_NAME)],
) -> FileResponse:
    """One file of a reproduced figure (the PNG, its CSV or claims)."""
    path = Path(state.settings.data_dir) / "figures" / scenario / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"no figure file {scenario}/{name}")
    return FileResponse(path)


def install(app: FastAPI) -> None:
    """Add the dashboard to the controller's app."""
    app.include_router(router)  # first: its /twins/{id}/oracle is not the twins router's
    app.include_router(twins_router)  # read-only: every route of the twins router is a GET
    app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="ui")
