"""Redis ACL users, one per role: each service may touch only the keys and commands it needs.

The bus is a trust boundary (issue #14): without ACLs any process that reaches Redis writes
any stream or twin, bypassing the API token. With them a compromised sensor can publish only to
the streams a sensor publishes to (the base station's, the edges', the oracle's, the
controller's reports) and cannot touch the cloud's stream, the twins or another role's
bookkeeping. The mechanism is Redis's own (``ACL``, an ``aclfile``), so it holds whatever the
client does.

Key ownership follows :mod:`twinbed.keys`:

- ``tb:{<run>}:<role>`` / ``tb:{<run>}:<role>.<n>``: the inbound streams of ``role`` (a publisher
  needs them writable; the owner reads and acks them);
- ``tb:{<run>}:<role>:*``: the role's own state (its dedup seen-set, caches);
- ``tb:{<run>}:run:*``: the run's records, written by the controller; every role reads the
  config, the cloud adds to the run's twin index;
- ``tb:twin:{<run>}.<name>`` (and its ``:history``) and ``tb:twins``: the twins, written by the
  cloud only;
- ``tb:{<run>}:oracle``: ground truth, written by sensors, read by the cloud; ``tb:{<run>}:dead``:
  dead letters, written by every consumer.

The controller creates, drives, lists, deletes and expires runs and serves the twin API, so it
holds every ``tb:*`` key; it is the orchestrator, not a device. The run id's braces are the
Redis Cluster hash tag (twinbed.keys); the patterns' ``*`` covers them, so the patterns are
the same on a single Redis and a cluster (ACL users are per node: load the file on each).
Redis 6.2 (the embedded server) grants a key pattern for reads and writes alike; on Redis 7+
the read-only patterns are granted as ``%R~`` (read only). Commands: reads, writes, streams,
transactions and scripts; nothing ``@dangerous`` (no ``KEYS``, ``FLUSHALL``, ``CONFIG``,
``MONITOR``, ...).
The ``admin`` user (tests, operators) may do everything; the ``default`` user is off, so a
client without credentials is refused (it keeps full permissions only for Redis's own replay
of the append-only file, which runs as ``default``: see :func:`acl_lines`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from twinbed.config import ROLES

__all__ = ["ADMIN", "PUBLISHES_TO", "acl_lines", "new_passwords", "password_var",
           "passwords_from_env", "role_url", "rules"]

ADMIN = "admin"

# whose inbound streams each role publishes to (a message type's sender and receiver; the
# live suite runs every scenario with these users, so a missing one fails it)
PUBLISHES_TO: dict[str, tuple[str, ...]] = {
    "sensor": ("basestation", "edge", "controller"),
    "basestation": ("cloud", "controller", "edge", "sensor"),
    "edge": ("cloud", "controller", "edge", "sensor"),
    "cloud": ("controller", "edge", "sensor", "basestation"),
}

# +cluster|slots: a Redis Cluster client (redis+cluster://) learns the slot map with it at
# connect (read-only topology; on a single Redis it answers an error, as before). +wait: a
# commit that waits for a replica (TWINBED_REDIS_WAIT_REPLICAS; in no category on 6.2)
COMMANDS = ("-@all +@read +@write +@stream +@keyspace +@transaction +@scripting "
            "+@connection -@dangerous +client|setname +client|getname +client|id +info "
            "+cluster|slots +wait")


def _streams(role: str) -> list[str]:
    """Glob patterns of ``role``'s inbound streams only (not its ``:*`` state keys)."""
    return [f"tb:*:{role}", f"tb:*:{role}.[0-9]", f"tb:*:{role}.[0-9][0-9]"]


def rules(role: str, *, redis_major: int = 6) -> str:
    """The ACL rules (after ``on >password``) of ``role``'s user."""
    ro = "%R~" if redis_major >= 7 else "~"
    if role == "controller":
        keys = ["~tb:*"]
    else:
        if role not in PUBLISHES_TO:
            raise ValueError(f"no Redis ACL for role {role!r}; roles: {', '.join(ROLES)}")
        own = [f"~tb:*:{role}", f"~tb:*:{role}.*", f"~tb:*:{role}:*"]
        out = sorted({f"~{p}" for r in PUBLISHES_TO[role] for p in _streams(r)})
        shared = ["~tb:*:dead", f"~tb:replica:{role}:*",
                  f"{ro}tb:runs:active", f"{ro}tb:*:run:config"]
        extra: list[str] = []
        if role == "sensor":
            extra = ["~tb:*:oracle"]
        elif role == "cloud":
            extra = ["~tb:twin:*", "~tb:twins", "~tb:*:run:twins", f"{ro}tb:*:oracle"]
        keys = own + out + shared + extra
    # redis-py sends CLIENT SETINFO at connect (and ignores a refusal); only Redis 7.2+ knows
    # it, and an ACL rule naming an unknown subcommand does not load, so it is left denied:
    # one ACL LOG entry per user, nothing else
    return " ".join(["resetkeys", *keys, "resetchannels", COMMANDS])


def new_passwords(roles: Iterable[str] = ROLES) -> dict[str, str]:
    """A fresh random password per role and for ``admin``."""
    return {name: secrets.token_urlsafe(24) for name in (*roles, ADMIN)}


def acl_lines(passwords: Mapping[str, str], *, redis_major: int = 6) -> list[str]:
    """The lines of an ``aclfile``: ``default`` off, ``admin`` all, one user per role."""
    # `default` is off: no client logs in as it. Its permissions stay whole because Redis
    # replays the append-only file as `default` and re-checks every EXEC against its ACL
    # (redis/redis#14541, valkey#3983; Debian's 7.0 and 7.2 have it): stripped, a restart
    # silently drops every transaction (bus commits, twin writes) the file holds
    lines = ["user default off resetpass ~* &* +@all"]
    for name, pw in sorted(passwords.items()):
        if not pw or any(c.isspace() for c in pw):
            raise ValueError(f"Redis password of {name!r} is empty or has whitespace")
        # the file holds SHA-256 digests (Redis's `#<hex>`), not the passwords: it may be
        # readable by the Redis server's user without giving a password away
        digest = "#" + hashlib.sha256(pw.encode()).hexdigest()
        if name == ADMIN:
            lines.append(f"user {ADMIN} on {digest} ~* &* +@all")
        else:
            lines.append(f"user {name} on {digest} {rules(name, redis_major=redis_major)}")
    return lines


def role_url(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` (any credentials it had replaced)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redacted(url: str) -> str:
    """``url`` fit for a log line: its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user.split(':', 1)[0]}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def password_var(user: str) -> str:
    """The environment variable holding ``user``'s Redis password under compose."""
    return f"TWINBED_REDIS_PASSWORD_{user.upper()}"


def passwords_from_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every role's and admin's password from ``TWINBED_REDIS_PASSWORD_<USER>``; a
    ValueError naming the variables that are missing."""
    env = os.environ if env is None else env
    names = (*ROLES, ADMIN)
    missing = [password_var(n) for n in names if not env.get(password_var(n))]
    if missing:
        raise ValueError("missing Redis passwords: " + ", ".join(missing)
                         + " (deploy/compose-env.sh writes them to .env)")
    return {n: env[password_var(n)] for n in names}
