"""Redis ACL users per role (twinbed.acl), enforced by a real redis-server.

The server loads the users file twinbed writes (the local stack's and compose's); each role's
client then tries what it must be able to do and what it must not. A rule that is too loose
fails the "refused" cases, one that is too tight the "allowed" ones (which are the commands the
live suite's roles really send: that suite runs with these users too).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from twinbed import acl, keys
from twinbed.config import ROLES
from twinbed.stack import find_redis_server, free_port, redis_major

RUN = "r1"


class Server:
    def __init__(self, root: Path, passwords: dict[str, str]) -> None:
        self.root, self.passwords = root, passwords
        self.exe = find_redis_server()
        self.major = redis_major(self.exe)
        self.aclfile = root / "users.acl"
        self.aclfile.write_text("\n".join(acl.acl_lines(passwords, redis_major=self.major)) + "\n")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--aclfile", str(self.aclfile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.client(acl.ADMIN).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def url(self, user: str) -> str:
        return acl.role_url(f"redis://127.0.0.1:{self.port}/0", user, self.passwords[user])

    def client(self, user: str) -> redis.Redis:
        return redis.Redis.from_url(self.url(user), socket_timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("acl"), acl.new_passwords())
    s.start()
    yield s
    s.kill()


def refused(fn, *args) -> bool:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except NoPermissionError:
        return True
    except ResponseError as exc:  # older servers word it "NOPERM ..." without the class
        return "NOPERM" in str(exc)
    return False


def stream(role: str) -> str:
    return keys.stream(RUN, role)


# -- what each role may and may not do ---------------------------------------------------------

@pytest.mark.parametrize("role", [r for r in ROLES if r != "controller"])
def test_a_role_publishes_only_to_the_streams_it_sends_to(server, role):
    r = server.client(role)
    for target in acl.PUBLISHES_TO[role]:
        assert r.xadd(stream(target), {"t": "x"}), f"{role} cannot publish to {target}"
        assert r.xadd(f"{stream(target)}.1", {"t": "x"}), f"{role} -> {target}.1"
    for other in set(ROLES) - set(acl.PUBLISHES_TO[role]) - {role}:
        assert refused(r.xadd, stream(other), {"t": "x"}), f"{role} may write {other}'s stream"


@pytest.mark.parametrize("role", [r for r in ROLES if r != "controller"])
def test_a_role_owns_its_stream_and_state_and_nothing_of_the_others(server, role):
    r = server.client(role)
    r.xadd(stream(role), {"t": "x"})
    r.xgroup_create(stream(role), role, id="0", mkstream=True)
    assert r.xreadgroup(role, "c1", {stream(role): ">"}, count=1)
    r.sadd(keys.seen_set(stream(role), role), "1-0")  # its own dedup set
    for other in set(ROLES) - {role}:
        # another role's bookkeeping, even where this role may publish to that role's stream
        assert refused(r.sadd, keys.seen_set(stream(other), other), "1-0"), \
            f"{role} may write {other}'s seen-set"


def test_only_the_cloud_writes_twins(server):
    assert server.client("cloud").set(keys.twin_key("t1"), b"state")
    for role in ("sensor", "basestation", "edge"):
        assert refused(server.client(role).set, keys.twin_key("t1"), b"forged"), role
        assert refused(server.client(role).delete, keys.twin_key("t1")), role


def test_every_role_reads_the_run_config_only_the_controller_writes_it(server):
    config = keys.run_key(RUN, "config")
    server.client("controller").set(config, b"{}")
    for role in ("sensor", "basestation", "edge", "cloud"):
        assert server.client(role).get(config) == b"{}", role
        if server.major >= 7:  # 6.2 has no read-only key patterns (see twinbed.acl)
            assert refused(server.client(role).set, config, b"forged"), role


def test_the_sensor_writes_the_oracle_the_cloud_reads_it(server):
    oracle = stream("oracle")
    entry = server.client("sensor").xadd(oracle, {"v": "1"})
    assert server.client("cloud").xrange(oracle, entry, entry)
    for role in ("basestation", "edge"):
        assert refused(server.client(role).xadd, oracle, {"v": "forged"}), role


@pytest.mark.parametrize("role", ROLES)
def test_no_role_runs_dangerous_commands(server, role):
    r = server.client(role)
    for cmd in (("KEYS", "*"), ("FLUSHALL",), ("CONFIG", "GET", "*"), ("ACL", "LIST"),
                ("SAVE",), ("CLIENT", "KILL", "ID", "999999"), ("SHUTDOWN", "NOSAVE")):
        assert refused(r.execute_command, *cmd), f"{role} may run {cmd[0]}"


def test_no_password_no_access_and_a_wrong_one_is_refused(server):
    anonymous = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)
    with pytest.raises(redis.exceptions.AuthenticationError):  # NOAUTH
        anonymous.get("tb:twins")
    wrong = redis.Redis.from_url(acl.role_url(server.url("sensor"), "sensor", "not-it"))
    with pytest.raises(AuthenticationError):
        wrong.ping()


def test_admin_may_do_everything(server):
    assert server.client(acl.ADMIN).execute_command("ACL", "WHOAMI") == b"admin"
    assert server.client(acl.ADMIN).keys("tb:*") is not None


# -- the file and the addresses ----------------------------------------------------------------

def test_the_users_file_holds_digests_not_passwords(server):
    text = server.aclfile.read_text()
    assert not any(pw in text for pw in server.passwords.values())
    assert text.splitlines()[0].startswith("user default off ")


def test_bad_passwords_and_unknown_roles_are_refused():
    with pytest.raises(ValueError, match="empty or has whitespace"):
        acl.acl_lines({"sensor": "two words"})
    with pytest.raises(ValueError, match="empty or has whitespace"):
        acl.acl_lines({"sensor": ""})
    with pytest.raises(ValueError, match="no Redis ACL for role 'fridge'"):
        acl.rules("fridge")


def test_urls_carry_the_role_and_logs_do_not_carry_the_password():
    url = acl.role_url("redis://old:secret@redis:6379/0", "edge", "p/w@x")
    assert url == "redis://edge:p%2Fw%40x@redis:6379/0"
    assert acl.redacted(url) == "redis://edge:***@redis:6379/0"
    assert acl.redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_redis_acl_command_writes_the_file_and_names_missing_passwords(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINBED_REDIS_PASSWORD_")}
    out = tmp_path / "users.acl"
    cmd = [sys.executable, "-m", "twinbed.cli", "redis-acl", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "TWINBED_REDIS_PASSWORD_SENSOR" in proc.stderr and "compose-env.sh" in proc.stderr
    env |= {acl.password_var(u): f"pw-{u}" for u in (*ROLES, acl.ADMIN)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert {line.split()[1] for line in lines} == {"default", acl.ADMIN, *ROLES}
    assert "%R~tb:*:oracle" in next(line for line in lines if line.startswith("user cloud "))


# -- durability: Redis replays the append-only file as `default` -------------------------------

def test_a_restarted_server_replays_every_transaction_of_its_append_only_file(tmp_path):
    """Redis replays the AOF as the `default` user and (7.0-7.2, redis/redis#14541) re-checks
    each EXEC against that user's ACL: with `default` stripped of permissions a restart
    silently dropped every MULTI/EXEC (the bus's commits, the cloud's twin writes). The users
    file keeps `default` whole but off; this restarts a real server and counts what survived."""
    s = Server(tmp_path, acl.new_passwords())
    s.start()
    try:
        cloud = s.client("cloud")
        for i in range(20):
            with cloud.pipeline(transaction=True) as p:
                p.set(keys.twin_key(f"t{i}"), f"v{i}")
                p.xadd(stream("controller"), {"round": str(i)})
                p.execute()
        s.kill()  # SIGKILL: only the AOF (fsync always) is left
        s.start()
        cloud = s.client("cloud")
        assert [cloud.get(keys.twin_key(f"t{i}")) for i in range(20)] == \
            [f"v{i}".encode() for i in range(20)]
        assert cloud.xlen(stream("controller")) == 20
    finally:
        s.kill()
