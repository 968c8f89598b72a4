"""Every Redis key and stream name in one place. Names carry the run id, so runs never mix.

Redis Cluster: every per-run key carries the run id as its hash tag (``tb:{<run>}:<role>``,
``tb:{<run>}:run:config``, ``tb:twin:{<run>}.<name>``), so all keys of one run live in one
hash slot and a bus commit (MULTI/EXEC), a twin-store script or the list page's script over a
run's twins never crosses a slot; runs spread over the cluster by run. The global keys
(``tb:runs``, ``tb:runs:active``, ``tb:runs:wake``, ``tb:twins``, the replica leases) have no
tag and are never written in the same transaction or script as a run's keys (twinbed.runs,
twinbed.twins, twinbed.bus say how each split stays safe). On a single Redis the braces are
plain characters. The ACL patterns (twinbed.acl, ``tb:*:<role>``) match the tagged names as
they matched the untagged ones: ``*`` covers ``{<run>}``.
"""

from __future__ import annotations

__all__ = [
    "ACTIVE_RUNS",
    "RUNS_INDEX",
    "RUNS_WAKE",
    "TWINS_INDEX",
    "dead_letter",
    "hash_tag",
    "role_key",
    "run_pattern",
    "replica_lease",
    "replica_stream",
    "run_key",
    "seen_set",
    "claims",
    "stream",
    "twin_key",
    "twin_history",
]

PREFIX = "tb"
ACTIVE_RUNS = f"{PREFIX}:runs:active"  # SET of run ids whose streams the workers read
RUNS_INDEX = f"{PREFIX}:runs"  # ZSET run id -> creation time
TWINS_INDEX = f"{PREFIX}:twins"  # ZSET twin id -> first update time
RUNS_WAKE = f"{PREFIX}:runs:wake"  # LIST (at most 1): a run was created; the supervisor wakes


def hash_tag(run_id: str) -> str:
    """``{<run>}``: the part of a run's key names Redis Cluster hashes to pick the slot."""
    if "{" in run_id or "}" in run_id:
        raise ValueError(f"a run id cannot contain braces: {run_id!r}")
    return f"{{{run_id}}}"


def _run(run_id: str) -> str:
    return f"{PREFIX}:{hash_tag(run_id)}"


def run_pattern(run_id: str) -> str:
    """The SCAN pattern of every ``tb:{<run>}:*`` key (not the twins: ``tb:twin:...``)."""
    return f"{_run(run_id)}:*"


def stream(run_id: str, role: str) -> str:
    """The inbound stream of ``role`` for run ``run_id`` (``oracle`` is the ground-truth stream)."""
    return f"{_run(run_id)}:{role}"


def replica_stream(run_id: str, role: str, replica: int) -> str:
    """The stream only replica ``replica`` of ``role`` reads (e.g. the edge process hosting an
    ES)."""
    return f"{_run(run_id)}:{role}.{replica}"


def role_key(run_id: str, role: str, *parts: str | int) -> str:
    """A run-scoped key owned by ``role`` (``tb:{<run>}:<role>:<parts>``: the role's state)."""
    return ":".join([stream(run_id, role), *map(str, parts)])


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


def claims(stream_name: str, group: str) -> str:
    """The (sender, seq) a consumer group is applying now from ``stream_name``, each with the
    entry that holds it (the bus's claim, so that two consumers never both apply one
    message); named like :func:`seen_set`, for the same ACL reason."""
    return f"{stream_name}:claims-by-{group}"


def run_key(run_id: str, what: str) -> str:
    return f"{_run(run_id)}:run:{what}"


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


def _twin(twin_id: str) -> str:
    # a twin id is "<run>.<name>" (twinbed.twins.twin_id): tagged by its run, so the twin, its
    # history and its run's twin index share a slot (one script writes the three, one script
    # reads a run's page of twins); an id without a run part is tagged whole
    run, dot, name = twin_id.partition(".")
    return f"{PREFIX}:twin:{hash_tag(run)}{dot}{name}"


def twin_key(twin_id: str) -> str:
    """The twin's hash (``tb:twin:{<run>}.<name>``; the cloud's ACL pattern ``tb:twin:*``)."""
    return _twin(twin_id)


def twin_history(twin_id: str) -> str:
    return f"{_twin(twin_id)}:history"
