"""The users' part of a live ``fl-migration`` slot (step 2, on the sensor service): every user
uploads D_{u,t}, its non-i.i.d. digits samples, to the edge process hosting its twin. The
samples come from ``rng(seed, "fl-data", u, t)``, so the edge draws the same ones for a twin's
data before the first slot."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from twinbed.bus import Effects, Envelope
from twinbed.contract import RunContext
from twinbed.scenarios.fl_migration import fl
from twinbed.scenarios.fl_migration.messages import UploadRequest, UserData
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.seeding import rng

__all__ = ["digits", "sensor_upload", "user_samples"]

Ctx = RunContext[FlMigrationParams]


def digits(ctx: Ctx) -> fl.Digits:
    if "digits" not in ctx.cache:
        ctx.cache["digits"] = fl.load_digits(ctx.run.seed)
    return ctx.cache["digits"]


def user_samples(ctx: Ctx, u: int, t: int | str, n: int, emd: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """User u's upload of slot t: n digits samples with EMD ``emd`` (its dominant class u)."""
    d = digits(ctx)
    idx = fl.user_indices(d, n, emd, u % 10, rng(ctx.run.seed, "fl-data", u, t))
    return d.x_train[idx], d.y_train[idx]


async def sensor_upload(ctx: Ctx, msg: UploadRequest, env: Envelope, fx: Effects) -> None:
    """Step 2: every user uploads D_{u,t} (its non-i.i.d. digits samples) to the edge process
    hosting its twin; one message per edge process."""
    R = msg.replicas
    for r in range(R):
        users = [u for u, s in enumerate(msg.assoc) if s % R == r]
        arrays: dict[str, Any] = {}
        for u in users:
            arrays[f"x_{u}"], arrays[f"y_{u}"] = user_samples(ctx, u, msg.round, msg.n_new[u],
                                                              msg.emd[u])
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        blob = buf.getvalue()
        fx.publish(ctx.replica_stream("edge", r), UserData(
            run_id=msg.run_id, round=msg.round, replica=r, users=users,
            samples=int(sum(msg.n_new[u] for u in users)), sha256=fl.sha256(blob)), payload=blob)
