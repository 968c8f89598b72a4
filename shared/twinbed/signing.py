"""Bus envelopes signed per role (Ed25519): who sent a message, checked by every consumer.

Redis ACLs (:mod:`twinbed.acl`) decide which streams a role may write; they cannot tell
which of the processes allowed on a stream wrote an entry. A sensor may write the edge's
stream (fl-migration's user data), so with its Redis password alone it could put a
basestation message there, name any sender, or re-add a captured entry with a fresh sequence
number. Signing closes that:

- every role has an Ed25519 key pair; the private key reaches that role's processes only,
  the public keys every process (:func:`write_keys` lays them out, :func:`load` reads them);
- a process signs ``stream + "\\n" + m`` of every entry it publishes, where ``m`` is the
  entry's header and body (type, version, sender, seq, wall time, payload SHA-256, JSON body
  with run id and round; see :mod:`twinbed.bus`). The destination stream is signed too, so an
  entry copied onto another stream (the edge's replica stream, another role's) fails;
- the signer is the role the sender name begins with (``edge.1-local``, ``cloud@host``):
  :func:`sender_role`. A process can only sign as its own role, so a sender name is a claim
  the consumer can check, and the dedup key ``(sender, seq)`` cannot be pre-empted by
  another role;
- the consumer verifies the signature with the signer's public key and checks the message
  type against the roles allowed to send it (``Message.SENT_BY``), before any JSON is parsed;
- batches: entries a process appends to one stream in one command (a handler's fan-out, a
  batch handler's reports, ``publish_many``) are signed once, over the root of a Merkle tree
  of their digests (:func:`sign_batch`); each entry carries the signature and, in field
  ``t``, its index, the batch size and the sibling hashes from its leaf to the root, so it
  still verifies on its own (consumers of one group may read parts of a batch). A consumer
  verifies a root once and remembers the tree nodes that signature proved (:class:`KeyRing`),
  so the rest of the batch costs about two hashes each instead of an Ed25519 verification.

Key files are hex text, one line: ``<role>.key`` the 32-byte private seed (mode 0600, in a
0700 folder of its own), ``<role>.pub`` the 32-byte public key. Keys are never logged: the
classes' ``repr`` shows only the role.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from twinbed.config import ROLES

__all__ = ["BusKeys", "KeyRing", "RejectedError", "Signer", "key_file", "keys_from_env",
           "load", "memory_keys", "new_seeds", "pub_dir", "seed_var", "sender_role",
           "sign_batch", "throwaway_keys", "write_keys"]

_LEAF, _NODE = b"\x00", b"\x01"  # domain separation: a leaf never passes for a node
_CACHE_MAX = 65536  # proven batch-tree nodes a ring remembers (then it starts over)


class RejectedError(ValueError):
    """An entry whose signer, signature or type its consumer refuses. ``reason`` is the kind
    (the metric's label): ``unsigned``, ``unknown-signer``, ``bad-signature``,
    ``type-not-allowed``."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


_ROLE_OF = re.compile(r"([a-z]+)(?:$|[@.\-])")


def sender_role(sender: str) -> str | None:
    """The role a sender name belongs to: the name itself or its part before the first
    ``@``, ``.`` or ``-`` (``edge.1-local`` -> ``edge``); None when that is no role."""
    m = _ROLE_OF.match(sender)
    return m.group(1) if m and m.group(1) in ROLES else None


class Signer:
    """One role's private key."""

    def __init__(self, role: str, seed: bytes) -> None:
        if role not in ROLES:
            raise ValueError(f"no role {role!r}; roles: {', '.join(ROLES)}")
        self.role = role
        self._key = Ed25519PrivateKey.from_private_bytes(seed)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def __repr__(self) -> str:  # never the key
        return f"Signer({self.role!r})"


class KeyRing:
    """Every role's public key: verifies what a consumer reads."""

    def __init__(self, public: Mapping[str, Ed25519PublicKey]) -> None:
        self._public = dict(public)
        # (role, hash) of every node of a batch tree already proven to lie under a root that
        # role signed: the next entry of the batch stops climbing at the first of them (its
        # parent, mostly), so a batch costs one Ed25519 verification and ~2 hashes per entry
        self._proven: set[tuple[str, bytes]] = set()
        self._roles: dict[str, str] = {}  # sender name -> its role ("" for none)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(sorted(self._public))

    def verify(self, stream: str, m: bytes, sig: bytes | None, sender: str,
               proof: bytes | None = None) -> str:
        """The role of ``sender``, whose key signed ``stream`` + ``m`` as ``sig`` (alone, or
        as one entry of a batch: ``proof`` from :func:`sign_batch`); else
        :class:`RejectedError` saying why. (Whether that role may send the message's type is
        the bus's check: it needs the message class.)"""
        if sig is None:
            raise RejectedError("unsigned", "unsigned message: the entry has no signature "
                                "field 's'")
        role = sender_role(sender)
        key = self._public.get(role) if role is not None else None
        if role is None or key is None:
            raise RejectedError("unknown-signer", f"unknown signer: sender {sender!r} names no "
                                f"role with a public key ({', '.join(self.roles)})")
        data = stream.encode() + b"\n" + m
        if proof is None:
            self._check(key, role, sig, data, stream)
            return role
        proven = self._proven
        climb = _climb(data, proof, lambda h: (role, h) in proven)
        if climb is None:
            raise RejectedError("bad-signature", f"bad signature: a malformed batch proof "
                                f"(field 't', {len(proof)} bytes)")
        path, signed = climb
        if signed is not None:  # climbed to the root: the signature must cover it
            self._check(key, role, sig, signed, stream)
        # else it reached a node of a batch tree this role's signature covers. Either way
        # every node of the path is now proven: remembering them (not only those of a climb
        # to the root) is what makes the next entry stop at its parent. Without it, entry 3
        # of a batch recomputed the parent entry 2 had computed, and so on: ~6 hashes per
        # entry of a 256-batch instead of ~2.
        if len(proven) > _CACHE_MAX:
            proven.clear()
        proven.update((role, h) for h in path)
        return role

    def verify_many(self, items: Sequence[tuple[str, bytes, bytes | None, str, bytes | None]]
                    ) -> list[str | RejectedError]:
        """:meth:`verify` of many entries ``(stream, m, sig, sender, proof)``: for each, the
        sender's role or the :class:`RejectedError` that :meth:`verify` would raise.

        A signed batch whose every entry is among ``items`` (what a consumer reading a whole
        stream gets) is checked as one: its tree is rebuilt from the leaves (one hash per
        entry and one per inner node) and its root checked against the signature, instead of
        each entry climbing its proof. Any doubt (a batch not all there, a proof of the wrong
        size, an index twice, a root the signature does not cover) sends the batch's entries
        through :meth:`verify` one by one, so each error names its own entry."""
        out: list[str | RejectedError | None] = [None] * len(items)
        batches: dict[tuple[str, str, bytes, int], list[tuple[int, int, int]]] = {}
        alone: list[int] = []
        roles = self._roles
        for k, (stream, _m, sig, sender, proof) in enumerate(items):
            role = roles.get(sender)
            if role is None:
                role = sender_role(sender) or ""
                if len(roles) > _CACHE_MAX:
                    roles.clear()
                roles[sender] = role
            if sig is None or proof is None or len(proof) < 8 or role not in self._public:
                alone.append(k)
                continue
            width = int.from_bytes(proof[4:8], "big")
            batches.setdefault((role, stream, sig, width), []).append(
                (int.from_bytes(proof[:4], "big"), k, len(proof)))
        proven = self._proven
        for (role, stream, sig, width), members in batches.items():
            if width < 2 or len(members) != width:
                alone += [k for _, k, _ in members]
                continue
            members.sort()
            sizes = _proof_sizes(width)
            if any(pos != i or size != sizes[i] for i, (pos, _, size) in enumerate(members)):
                alone += [k for _, k, _ in members]
                continue
            root = _tree(_leaves(stream, (items[k][1] for _, k, _ in members)))[-1][0]
            if (role, root) not in proven:
                try:
                    self._public[role].verify(sig, _signed_root(root, width))
                except InvalidSignature:
                    alone += [k for _, k, _ in members]
                    continue
                if len(proven) > _CACHE_MAX:
                    proven.clear()
                proven.add((role, root))  # a later entry of this batch read alone stops there
            for _, k, _ in members:
                out[k] = role
        for k in alone:
            try:
                out[k] = self.verify(*items[k])
            except RejectedError as exc:
                out[k] = exc
        return out  # type: ignore[return-value]

    @staticmethod
    def _check(key: Ed25519PublicKey, role: str, sig: bytes, data: bytes, stream: str) -> None:
        try:
            key.verify(sig, data)
        except InvalidSignature:
            raise RejectedError("bad-signature", f"bad signature: not signed by {role!r}'s key "
                                f"for stream {stream!r} (tampered, forged or replayed "
                                "onto another stream)") from None

    def __repr__(self) -> str:
        return f"KeyRing({', '.join(self.roles)})"


@dataclass(frozen=True)
class BusKeys:
    """What a process holds: its own role's private key and every role's public key."""

    signer: Signer
    ring: KeyRing

    def sign(self, stream: str, m: bytes) -> bytes:
        return self.signer.sign(stream.encode() + b"\n" + m)


# -- batches: one signature over a Merkle root ------------------------------------------------

def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def _signed_root(root: bytes, n: int) -> bytes:
    """What a batch's signature covers: the root and the batch size."""
    return b"twinbed-batch\n%d\n" % n + root


def _tree(leaves: list[bytes]) -> list[list[bytes]]:
    """The levels of a batch's Merkle tree, leaves first, root last (a level's last node
    without a sibling goes up unchanged)."""
    levels = [leaves]
    level = leaves
    sha = hashlib.sha256
    while len(level) > 1:
        up = [sha(_NODE + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
        level = up
    return levels


def _leaves(stream: str, ms: Iterable[bytes]) -> list[bytes]:
    """The leaf hash of each entry ``m`` of ``stream`` (of ``stream + "\n" + m``)."""
    pre = hashlib.sha256(_LEAF + stream.encode() + b"\n")
    out = []
    for m in ms:
        h = pre.copy()
        h.update(m)
        out.append(h.digest())
    return out


def sign_batch(keys: BusKeys, stream: str, ms: list[bytes]) -> list[tuple[bytes, bytes]]:
    """``(signature, proof)`` for each of ``ms`` (entries appended to ``stream`` together):
    one Ed25519 signature over the Merkle root of their digests. A proof is the entry's
    index and the batch size (4 bytes each, big-endian) then the sibling hashes from its leaf
    up (a level's last node without a sibling goes up unchanged)."""
    n = len(ms)
    levels = _tree(_leaves(stream, ms))
    # each node's proof suffix (its sibling, then its parent's suffix), root down: one
    # concatenation per node of the tree rather than one append per entry and level
    suffix = [b""]
    for level in reversed(levels[:-1]):
        width = len(level)
        suffix = [level[i ^ 1] + suffix[i >> 1] if i ^ 1 < width else suffix[i >> 1]
                  for i in range(width)]
    sig = keys.signer.sign(_signed_root(levels[-1][0], n))
    size = n.to_bytes(4, "big")
    return [(sig, e.to_bytes(4, "big") + size + tail) for e, tail in enumerate(suffix)]


@functools.lru_cache(maxsize=64)
def _proof_sizes(width: int) -> tuple[int, ...]:
    """The length of the proof of each entry of a batch of ``width``."""
    out = []
    for pos in range(width):
        k, w = 8, width
        while w > 1:
            if pos ^ 1 < w:
                k += 32
            pos, w = pos // 2, (w + 1) // 2
        out.append(k)
    return tuple(out)


def _climb(data: bytes, proof: bytes, known: Callable[[bytes], bool]
           ) -> tuple[list[bytes], bytes | None] | None:
    """The hashes from the leaf of entry ``data`` up to its batch's root, and what the
    batch's signature covers (root and size); the climb stops at the first hash ``known``
    accepts, with None for the latter. None when the proof is malformed (wrong length, index
    outside the batch)."""
    if len(proof) < 8 or (len(proof) - 8) % 32:
        return None
    pos, width = int.from_bytes(proof[:4], "big"), int.from_bytes(proof[4:8], "big")
    if width < 2 or pos >= width:
        return None
    n, k = width, 8
    path = [_leaf(data)]
    while True:
        if known(path[-1]):
            return path, None
        if width <= 1:
            break
        if pos ^ 1 < width:
            if k + 32 > len(proof):
                return None
            sib = proof[k:k + 32]
            k += 32
            path.append(_node(path[-1], sib) if pos % 2 == 0 else _node(sib, path[-1]))
        pos, width = pos // 2, (width + 1) // 2
    return (path, _signed_root(path[-1], n)) if k == len(proof) else None


# -- key material ---------------------------------------------------------------------------

def new_seeds(roles: Iterable[str] = ROLES) -> dict[str, bytes]:
    """A fresh random private seed per role."""
    return {role: secrets.token_bytes(32) for role in roles}


def pub_dir(root: Path) -> Path:
    """Where every role's public key is under a keys folder (``<root>/pub``)."""
    return root / "pub"


def key_file(root: Path, role: str) -> Path:
    """``role``'s private key under a keys folder (``<root>/<role>/<role>.key``: a folder per
    role, so a container can mount its own and nothing else)."""
    return root / role / f"{role}.key"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # whatever the umask
    os.replace(tmp, path)


def write_keys(root: Path, seeds: Mapping[str, bytes]) -> None:
    """Lay out the keys of ``seeds`` under ``root``: :func:`key_file` (0600) per role and
    every public key in :func:`pub_dir` (0644)."""
    pubs = pub_dir(root)
    pubs.mkdir(parents=True, exist_ok=True)
    for role, seed in sorted(seeds.items()):
        signer = Signer(role, seed)
        _write_private(key_file(root, role), seed.hex() + "\n")
        raw = signer.public().public_bytes_raw()
        (pubs / f"{role}.pub").write_text(raw.hex() + "\n")
        (pubs / f"{role}.pub").chmod(0o644)


def _hex_file(path: Path, size: int, what: str) -> bytes:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror}") from None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ValueError(f"the {what} {path} is not {size} bytes of hex")
    return raw


def load(key: Path | None, pubs: Path | None, role: str) -> BusKeys:
    """A process's keys: its role's private key file and the folder of public keys. A
    ValueError saying what is missing or wrong (never the key)."""
    if key is None or pubs is None:
        raise ValueError("no bus signing keys: set TWINBED_BUS_KEY (this role's private key "
                         "file) and TWINBED_BUS_PUBKEYS (the folder of every role's .pub); "
                         "`twinbed up` and deploy/compose-env.sh provide them")
    try:
        mode = key.stat().st_mode
    except OSError as exc:
        raise ValueError(f"cannot read the bus key {key}: {exc.strerror}") from None
    if mode & 0o007:  # group bits are allowed: Kubernetes' fsGroup adds group read
        raise ValueError(f"the bus key {key} is readable by others: chmod 600 it")
    signer = Signer(role, _hex_file(key, 32, f"private bus key of {role!r}"))
    public: dict[str, Ed25519PublicKey] = {}
    for r in ROLES:
        path = pubs / f"{r}.pub"
        if path.exists():
            public[r] = Ed25519PublicKey.from_public_bytes(
                _hex_file(path, 32, f"public bus key of {r!r}"))
    if role not in public:
        raise ValueError(f"no public key of {role!r} in {pubs}")
    if public[role].public_bytes_raw() != signer.public().public_bytes_raw():
        raise ValueError(f"the bus key {key} does not match {pubs / (role + '.pub')}")
    return BusKeys(signer, KeyRing(public))


def memory_keys(role: str, seeds: Mapping[str, bytes]) -> BusKeys:
    """Keys held in memory (tests, benchmarks): ``role``'s signer, every seed's public key."""
    ring = KeyRing({r: Signer(r, s).public() for r, s in seeds.items()})
    return BusKeys(Signer(role, seeds[role]), ring)


@functools.cache
def _throwaway_seeds() -> dict[str, bytes]:
    return new_seeds()


def throwaway_keys(role: str) -> BusKeys:
    """``role``'s keys from one key set made per process and never written anywhere: for
    tests and benchmarks that run a bus without a stack (every caller in the process shares
    the set, so their messages verify with each other)."""
    return memory_keys(role, _throwaway_seeds())


def seed_var(role: str) -> str:
    """The environment variable holding ``role``'s private seed (hex) under compose."""
    return f"TWINBED_BUS_SEED_{role.upper()}"


def keys_from_env(env: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """Every role's seed from ``TWINBED_BUS_SEED_<ROLE>`` (64 hex digits); a ValueError
    naming the variables that are missing or malformed (not their values)."""
    env = os.environ if env is None else env
    out: dict[str, bytes] = {}
    bad: list[str] = []
    for role in ROLES:
        try:
            seed = bytes.fromhex(env.get(seed_var(role), ""))
        except ValueError:
            seed = b""
        if len(seed) == 32:
            out[role] = seed
        else:
            bad.append(seed_var(role))
    if bad:
        raise ValueError("missing or malformed bus signing seeds (64 hex digits each): "
                         + ", ".join(bad) + " (deploy/compose-env.sh writes them to .env)")
    return out
