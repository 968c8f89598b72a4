"""Every Redis key and stream name in one place. Names carry the run id, so runs never mix."""

from __future__ import annotations

__all__ = [
    "ACTIVE_RUNS",
    "RUNS_INDEX",
    "RUNS_WAKE",
    "TWINS_INDEX",
    "dead_letter",
    "replica_lease",
    "replica_stream",
    "run_key",
    "seen_set",
    "stream",
    "twin_key",
    "twin_history",
]

PREFIX = "tb"
ACTIVE_RUNS = f"{PREFIX}:runs:active"  # SET of run ids whose streams the workers read
RUNS_INDEX = f"{PREFIX}:runs"  # ZSET run id -> creation time
TWINS_INDEX = f"{PREFIX}:twins"  # ZSET twin id -> first update time
RUNS_WAKE = f"{PREFIX}:runs:wake"  # LIST (at most 1): a run was created; the supervisor wakes


def stream(run_id: str, role: str) -> str:
    """The inbound stream of ``role`` for run ``run_id`` (``oracle`` is the ground-truth stream)."""
    return f"{PREFIX}:{run_id}:{role}"


def replica_stream(run_id: str, role: str, replica: int) -> str:
    """The stream only replica ``replica`` of ``role`` reads (e.g. the edge process hosting an
    ES)."""
    return f"{PREFIX}:{run_id}:{role}.{replica}"


def replica_lease(role: str, replica: int) -> str:
    """Who holds replica index ``replica`` of ``role`` (a lease with a TTL, renewed while alive)."""
    return f"{PREFIX}:replica:{role}:{replica}"


def dead_letter(stream_name: str) -> str:
    """The dead-letter stream for messages that failed on ``stream_name`` (same run)."""
    parts = stream_name.split(":")
    if len(parts) >= 3 and parts[0] == PREFIX:
        return f"{PREFIX}:{parts[1]}:dead"
    return f"{PREFIX}:dead"


def seen_set(stream_name: str, group: str) -> str:
    """The ids a consumer group has applied from ``stream_name`` (the bus's dedup). It must
    not end in ``:<role>``: Redis ACL patterns grant publishers ``tb:*:<role>`` (the
    stream), which would match ``...:seen:<role>`` too (twinbed.acl)."""
    return f"{stream_name}:seen-by-{group}"


def run_key(run_id: str, what: str) -> str:
    return f"{PREFIX}:{run_id}:run:{what}"


def run_wake(run_id: str) -> str:
    """LIST of at most one element, pushed when a run's driver has something to look at (a
    party's report, a stop request): it waits on it with BLPOP instead of polling."""
    return run_key(run_id, "wake")


def run_finished(run_id: str) -> str:
    """LIST pushed once when a run ends: clients wait on it with BLPOP."""
    return run_key(run_id, "finished")


def run_twins(run_id: str) -> str:
    """ZSET of one run's twin ids -> first update time (the list endpoint's page source)."""
    return run_key(run_id, "twins")


def twin_key(twin_id: str) -> str:
    return f"{PREFIX}:twin:{twin_id}"


def twin_history(twin_id: str) -> str:
    return f"{PREFIX}:twin:{twin_id}:history"
