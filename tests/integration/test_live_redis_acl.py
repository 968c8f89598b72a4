"""The live stack's Redis is closed (issue #14): each service logs in as its own ACL user, and
a role's credentials, stolen, reach only what that role needs (twinbed.acl)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx
import pytest
import redis
from redis.exceptions import NoPermissionError

from twinbed import acl, keys
from twinbed.config import ROLES

pytestmark = pytest.mark.integration


def _client_users(live) -> dict[str, set[str]]:  # noqa: ANN001
    """Redis user of every named client connection, by connection name (CLIENT LIST)."""
    users: dict[str, set[str]] = {}
    for c in live.redis().client_list():
        if c.get("name"):
            users.setdefault(c["name"], set()).add(c["user"])
    return users


def test_every_service_is_connected_as_its_own_redis_user(live) -> None:
    users = _client_users(live)
    for name in live.info.ports:
        role = name.split(".")[0].rstrip("0123456789")
        conns = {u for n, us in users.items() if n.startswith(role) for u in us}
        assert conns == {role}, f"{name}: Redis users {conns} (clients {users})"


def test_a_sensors_credentials_reach_only_what_a_sensor_needs(live) -> None:
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=4, rounds=3,
                            params={"K": 4})
    assert live.wait_run(run_id)["status"]["status"] == "completed", live.logs()
    sensor = redis.Redis.from_url(live.stack.redis_url_of("sensor"))
    twin_ids = live.cloud.get("/twins", params={"run_id": run_id}).json()
    assert twin_ids, "the run made no twins"
    forbidden = [
        ("XADD to the cloud's stream", lambda: sensor.xadd(keys.stream(run_id, "cloud"),
                                                           {"type": "forged"})),
        ("write a twin", lambda: sensor.set(keys.twin_key("forged"), b"x")),
        ("delete the run's records", lambda: sensor.delete(keys.run_key(run_id, "status"))),
        ("write the cloud's seen-set", lambda: sensor.sadd(
            keys.seen_set(keys.stream(run_id, "cloud"), "cloud"), "9-9")),
        ("KEYS", lambda: sensor.keys("*")),
        ("FLUSHALL", lambda: sensor.flushall()),
        ("CONFIG SET", lambda: sensor.config_set("maxmemory", "1")),
    ]
    for what, fn in forbidden:
        with pytest.raises(NoPermissionError):
            fn()
            pytest.fail(f"a sensor's credentials may {what}")
    # ... and still do a sensor's work: publish to the base station's stream of the run
    assert sensor.xadd(keys.stream(run_id, "basestation"), {"type": "probe"})
    assert live.controller.get("/health").status_code == 200


def test_no_credentials_no_redis_and_the_secrets_stay_private(live) -> None:
    anonymous = redis.Redis(host="127.0.0.1", port=redis.connection.parse_url(
        live.info.redis_url)["port"])
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.get("tb:twins")
    assert set(live.info.redis_passwords) == {*ROLES, acl.ADMIN}
    assert stat.S_IMODE(live.stack.state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(live.stack.acl_file.stat().st_mode) == 0o600
    logs = "".join(p.read_text() for p in Path(live.info.data_dir, "logs").glob("*.log"))
    leaked = [u for u, pw in live.info.redis_passwords.items() if pw in logs]
    assert not leaked, f"the service logs print the Redis passwords of {leaked}"


def test_each_service_signs_with_its_own_key_and_no_key_is_logged(live) -> None:
    """The local stack gives every role a key pair (twinbed.signing): the private key file is
    0600 in a 0700 folder of the role's own, each service is told its own file only, and no
    key appears in any log; the sensor's key holder cannot pass a message as the cloud's."""
    from twinbed import signing
    from twinbed.bus import encode
    from twinbed.messages import RoundReport

    keys_dir = live.stack.keys_dir
    for role in ROLES:
        key = signing.key_file(keys_dir, role)
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    info = live.stack.load() or live.info  # earlier tests may have restarted a service
    for name, pid in info.pids.items():  # what each process was really given
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        given = [v for v in environ if v.startswith(b"TWINBED_BUS_KEY=")]
        role = name.split(".")[0]
        assert given == [f"TWINBED_BUS_KEY={signing.key_file(keys_dir, role)}".encode()], name
    seeds = [signing.key_file(keys_dir, r).read_text().strip() for r in ROLES]
    logs = "".join(p.read_text() for p in Path(live.info.data_dir, "logs").glob("*.log"))
    assert not [s for s in seeds if s in logs], "a service log prints a private bus key"

    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=6, rounds=400,
                            params={"K": 2})
    live.wait_run(run_id, rounds_done=1)  # active: the controller reads its stream
    sensor = redis.Redis.from_url(live.stack.redis_url_of("sensor"))
    stream = keys.stream(run_id, "controller")  # a sensor may write it (its reports)
    forged = RoundReport(run_id=run_id, round=0, party="cloud", metrics={})
    sensor.xadd(stream, encode(forged, "cloud@elsewhere", 1, stream=stream,
                               keys=live.stack.bus_keys("sensor")))
    dead = keys.dead_letter(stream)
    deadline = time.monotonic() + 30
    while not live.redis().xlen(dead) and time.monotonic() < deadline:
        time.sleep(0.1)
    [(_, letter)] = live.redis().xrange(dead)
    assert letter[b"dl_error"].startswith(b"rejected (bad-signature)"), letter
    assert live.controller.post(f"/runs/{run_id}/stop").status_code == 200
    assert live.wait_run(run_id)["status"]["status"] == "stopped"
    metrics = httpx.get(live.info.url("controller") + "/metrics").text
    assert 'twinbed_messages_rejected_total{reason="bad-signature",role="controller"} 1.0' \
        in metrics
