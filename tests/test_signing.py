"""Per-role signing of bus messages (twinbed.signing): the key files, the commands that write
and load them, which role may send which message type, and the attack the Redis ACLs alone let
through: a sensor's credentials writing a basestation's message onto the edge's stream, on a
real redis-server with the users file of twinbed.acl.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import redis
import redis.asyncio as aioredis

from twinbed import acl, keys, signing
from twinbed.bus import Bus, Effects, Envelope, Worker, encode
from twinbed.config import ROLES
from twinbed.messages import Decision, DecisionRequest, Message, RoundReport, RoundStart
from twinbed.scenarios import get_scenario, scenario_names
from twinbed.scenarios.semantic.messages import Recover
from twinbed.stack import find_redis_server, free_port, redis_major

RUN = "rsig"


# -- key files ----------------------------------------------------------------------------------

def test_keys_are_written_private_0600_public_0644_and_load_back(tmp_path: Path) -> None:
    seeds = signing.new_seeds()
    signing.write_keys(tmp_path, seeds)
    for role in ROLES:
        key = signing.key_file(tmp_path, role)
        assert key.stat().st_mode & 0o777 == 0o600
        assert key.parent.stat().st_mode & 0o777 == 0o700
        assert (signing.pub_dir(tmp_path) / f"{role}.pub").stat().st_mode & 0o777 == 0o644
        assert seeds[role].hex() not in (signing.pub_dir(tmp_path) / f"{role}.pub").read_text()
    k = signing.load(signing.key_file(tmp_path, "edge"), signing.pub_dir(tmp_path), "edge")
    assert k.signer.role == "edge" and k.ring.roles == tuple(sorted(ROLES))
    assert seeds["edge"].hex() not in repr(k) and "edge" in repr(k)  # never the key
    m = b"compression.sync\n1\nedge-1\n5\n0.0\n\n{}"
    assert k.ring.verify("tb:r:cloud", m, k.sign("tb:r:cloud", m), "edge-1") == "edge"


def test_a_missing_unreadable_or_mismatched_key_is_one_clear_error(tmp_path: Path) -> None:
    signing.write_keys(tmp_path, signing.new_seeds())
    pub, key = signing.pub_dir(tmp_path), signing.key_file(tmp_path, "cloud")
    with pytest.raises(ValueError, match="TWINBED_BUS_KEY"):
        signing.load(None, pub, "cloud")
    with pytest.raises(ValueError, match="cannot read the bus key"):
        signing.load(tmp_path / "nope.key", pub, "cloud")
    key.chmod(0o604)
    with pytest.raises(ValueError, match="readable by others: chmod 600"):
        signing.load(key, pub, "cloud")
    key.chmod(0o600)
    with pytest.raises(ValueError, match="does not match"):  # the sensor's key as the cloud's
        signing.load(signing.key_file(tmp_path, "sensor"), pub, "cloud")
    key.write_text("not hex\n")
    with pytest.raises(ValueError, match="not 32 bytes of hex") as err:
        signing.load(key, pub, "cloud")
    assert "not hex" not in str(err.value)


def test_bus_keys_command_writes_the_layout_and_names_missing_seeds(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINBED_BUS_SEED_")}
    cmd = [sys.executable, "-m", "twinbed.cli", "bus-keys", str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "TWINBED_BUS_SEED_SENSOR" in proc.stderr and "compose-env.sh" in proc.stderr
    seeds = signing.new_seeds()
    env |= {signing.seed_var(r): s.hex() for r, s in seeds.items()}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not any(s.hex() in proc.stdout + proc.stderr for s in seeds.values())
    for role in ROLES:
        signing.load(signing.key_file(tmp_path, role), signing.pub_dir(tmp_path), role)


def test_serve_without_a_key_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINBED_BUS_")}
    proc = subprocess.run([sys.executable, "-m", "twinbed.cli", "serve", "edge"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "edge: no bus signing keys: set TWINBED_BUS_KEY" in proc.stderr


# -- who may send what ---------------------------------------------------------------------------

def test_every_handled_type_names_senders_allowed_to_write_the_receivers_stream() -> None:
    """The message registry (SENT_BY) and the Redis ACLs (PUBLISHES_TO) agree: every sender a
    type declares may write the stream of each role that handles it (the controller writes
    every stream); otherwise a declared sender could never deliver it."""
    problems = []
    for name in scenario_names():
        spec = get_scenario(name)
        for receiver, table in spec.roles.table().items():
            for cls in table:
                for sender in cls.SENT_BY:
                    if sender != "controller" and receiver not in acl.PUBLISHES_TO[sender]:
                        problems.append(f"{name}: {cls.TYPE} from {sender} to {receiver}")
    assert not problems, problems
    assert RoundStart.SENT_BY == Decision.SENT_BY == ("controller",)
    assert "controller" not in DecisionRequest.SENT_BY + RoundReport.SENT_BY


def test_a_message_class_without_senders_is_refused() -> None:
    with pytest.raises(TypeError, match="must set SENT_BY"):
        class Orphan(Message):  # noqa: F841 - its definition is the test
            TYPE: ClassVar[str] = "twinbed-tests.signing.orphan"


# -- batches: one signature over a Merkle root -------------------------------------------------

def _fresh(role: str = "sensor") -> signing.BusKeys:
    """A role's keys with an empty node cache (every verification starts from nothing)."""
    k = signing.throwaway_keys(role)
    return signing.BusKeys(k.signer, signing.KeyRing({r: signing.throwaway_keys(r).signer.public()
                                                      for r in ROLES}))


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 256, 257])
def test_every_entry_of_a_batch_verifies_alone_and_the_batch_as_one(n: int) -> None:
    """Each entry of a signed batch verifies on its own (its proof climbed, a fresh ring each
    time), and the whole batch read together verifies as one rebuilt tree, with the same
    outcome, for batch sizes whose levels end odd and even."""
    k = signing.throwaway_keys("sensor")
    ms = [b"m%d" % i for i in range(n)]
    signed = signing.sign_batch(k, "tb:{r}:edge", ms)
    assert len({sig for sig, _ in signed}) == 1
    for m, (sig, proof) in zip(ms, signed, strict=True):
        assert _fresh().ring.verify("tb:{r}:edge", m, sig, "sensor-1", proof) == "sensor"
    items = [("tb:{r}:edge", m, sig, "sensor-1", proof) for m, (sig, proof) in zip(ms, signed,
                                                                                    strict=True)]
    ring = _fresh().ring
    assert ring.verify_many(items[::-1]) == ["sensor"] * n  # any order
    # the root is remembered: an entry of it read again alone stops there
    assert ring.verify(*items[n // 2]) == "sensor"


def test_a_batch_verified_as_one_still_refuses_each_bad_entry_by_itself() -> None:
    """A whole batch with one entry tampered, one proof malformed, one copy onto another stream, an
    unsigned and an unknown signer among it: exactly those are refused, each with the reason
    verify() gives it alone; the rest verify (one by one once the tree does not match)."""
    k = signing.throwaway_keys("sensor")
    stream = "tb:{r}:edge"
    ms = [b"m%d" % i for i in range(8)]
    items = [(stream, m, sig, "sensor-1", proof)
             for m, (sig, proof) in zip(ms, signing.sign_batch(k, stream, ms), strict=True)]
    ring = _fresh().ring
    assert ring.verify_many(items) == ["sensor"] * 8

    bad = list(items)
    bad[1] = (stream, b"m7", *items[1][2:])  # body changed
    bad[2] = (*items[2][:4], items[2][4][:-1])  # a malformed proof
    bad[3] = ("tb:{r}:cloud", *items[3][1:])  # copied onto another stream
    extra = [(stream, b"x", None, "sensor-1", None), (stream, b"y", items[0][2], "nobody", None)]
    got = _fresh().ring.verify_many(bad + extra)
    reasons = [g.reason if isinstance(g, signing.RejectedError) else g for g in got]
    assert reasons == ["sensor", "bad-signature", "bad-signature", "bad-signature", "sensor",
                       "sensor", "sensor", "sensor", "unsigned", "unknown-signer"]
    # an entry twice (a replay of the same entry) is no reason to refuse either copy
    assert _fresh().ring.verify_many(items + items[:1]) == ["sensor"] * 9
    # another role's key does not verify the sensor's batch, whoever it names
    forged = [(s, m, sig, "cloud@x", p) for s, m, sig, _, p in items]
    assert {g.reason for g in _fresh().ring.verify_many(forged)  # type: ignore[union-attr]
            } == {"bad-signature"}


# -- the attack, on a real server with the ACL users ---------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A redis-server with twinbed.acl's users; yields each user's URL."""
    root = tmp_path_factory.mktemp("sig")
    passwords = acl.new_passwords()
    exe = find_redis_server()
    (root / "users.acl").write_text(
        "\n".join(acl.acl_lines(passwords, redis_major=redis_major(exe))) + "\n")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root),
                             "--save", "", "--aclfile", str(root / "users.acl")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    urls = {u: acl.role_url(f"redis://127.0.0.1:{port}/0", u, pw) for u, pw in passwords.items()}
    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis.from_url(urls[acl.ADMIN]).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield urls
    proc.kill()
    proc.wait()


def _recover(n: int) -> Recover:
    fields = dict.fromkeys(("f_hz", "p_w", "f_e_hz", "D_bits", "d_m", "h2", "rate_bps", "t_s",
                            "t_en", "t_up", "t_de", "t_dt", "t", "e", "modeled_start_s",
                            "forwarded_wall", "encode_s", "sampled_wall"), 1.0)
    return Recover(run_id=RUN, round=n, ud=0, phi=0.5, phi_achieved=0.5, raw_bytes=2,
                   n_samples=1, pos_m=(0.0, 0.0), oracle_id="1-0", **fields)


async def test_a_sensors_credentials_cannot_pass_a_basestation_message_to_the_edge(
    server: dict[str, str], tmp_path: Path
) -> None:
    """The ACL lets a sensor write the edge's stream (fl-migration's user data). With its Redis
    password and its own signing key it tries a basestation's semantic.recover three ways:
    signed as itself (a type its role may not send), under the basestation's name (a
    signature the basestation's key does not verify), and a captured basestation entry with a
    fresh seq. The edge, connected as its own ACL user, applies only the basestation's real
    message, once, and dead-letters the rest with the reason."""
    signing.write_keys(tmp_path, signing.new_seeds())

    def keys_of(role: str) -> signing.BusKeys:
        return signing.load(signing.key_file(tmp_path, role), signing.pub_dir(tmp_path), role)

    edge_stream = keys.stream(RUN, "edge")
    edge_r = aioredis.Redis.from_url(server["edge"])
    sensor_r = aioredis.Redis.from_url(server["sensor"])
    bs_r = aioredis.Redis.from_url(server["basestation"])
    applied: list[Envelope] = []

    async def handler(env: Envelope, fx: Effects) -> None:
        applied.append(env)

    async def streams() -> list[str]:
        return [edge_stream]

    worker = Worker(Bus(edge_r, "edge-0", keys_of("edge")), "edge", "edge-0", streams,
                    handler, block_ms=20)
    try:
        await worker.ensure_group(edge_stream)
        await Bus(bs_r, "basestation@bs", keys_of("basestation")).publish(edge_stream,
                                                                          _recover(1))
        [(_, captured)] = await edge_r.xrange(edge_stream)
        sensor_keys = keys_of("sensor")
        await Bus(sensor_r, "sensor-7", sensor_keys).publish(edge_stream, _recover(2))
        await sensor_r.xadd(edge_stream, encode(_recover(3), "basestation@bs", 1,
                                                stream=edge_stream, keys=sensor_keys))
        *head, body = captured[b"m"].split(b"\n", 6)
        head[3] = str(int(head[3]) + 1).encode()  # a fresh seq, the signature as captured
        await sensor_r.xadd(edge_stream, {**captured, b"m": b"\n".join([*head, body])})
        await sensor_r.xadd(edge_stream, captured)  # and as it was

        taken = 0
        for _ in range(10):
            taken += await worker.step()
            if taken >= 5:
                break
        assert taken == 5
        assert [(e.sender, e.msg.round) for e in applied] == [("basestation@bs", 1)]
        letters = [f[b"dl_error"].decode() for _, f in
                   await edge_r.xrange(keys.dead_letter(edge_stream))]
        assert [x.split(":")[0] for x in letters] == [
            "rejected (type-not-allowed)", "rejected (bad-signature)", "rejected (bad-signature)"]
        assert "role 'sensor' may not send 'semantic.recover' (sent by: basestation)" in letters[0]
        assert worker.stats.rejected == {"type-not-allowed": 1, "bad-signature": 2}
        assert worker.stats.duplicates == 1
        assert (await edge_r.xpending(edge_stream, "edge"))["pending"] == 0
    finally:
        for r in (edge_r, sensor_r, bs_r):
            await r.aclose()
