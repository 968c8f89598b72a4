"""Replica index leases (scaled containers that cannot be told their index), on a real Redis."""

from __future__ import annotations

import pytest

from twinbed import keys
from twinbed_services.common import claim_replica


async def test_replicas_claim_distinct_indices_and_reclaim_their_own(aredis, uid) -> None:
    role = f"edge-{uid}"
    assert await claim_replica(aredis, role, "a", 3) == 0
    assert await claim_replica(aredis, role, "b", 3) == 1
    assert await claim_replica(aredis, role, "a", 3) == 0  # a restarted "a" gets its index back
    assert await claim_replica(aredis, role, "c", 3) == 2
    assert (await aredis.get(keys.replica_lease(role, 1))) == b"b"


async def test_all_indices_held_is_a_clear_error(aredis, uid) -> None:
    role = f"edge-{uid}"
    await claim_replica(aredis, role, "a", 1)
    with pytest.raises(RuntimeError, match=r"all 1 replica indices of .* are held"):
        await claim_replica(aredis, role, "b", 1, timeout_s=0.1)


async def test_expired_lease_frees_the_index(aredis, uid) -> None:
    role = f"edge-{uid}"
    await claim_replica(aredis, role, "a", 1)
    await aredis.pexpire(keys.replica_lease(role, 0), 1)  # "a" died: its lease runs out
    import asyncio

    await asyncio.sleep(0.05)
    assert await claim_replica(aredis, role, "b", 1) == 0
