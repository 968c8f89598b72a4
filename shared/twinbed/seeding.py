"""One root seed per run; every random stream is a named child of it.

``rng(seed, "channel", 3)`` always gives the same generator for round 3's channel draw, in any
process: the in-process simulation and the live services derive identical numbers without
sharing state. Keys are hashed into ``SeedSequence.spawn_key``, so streams never overlap.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["rng", "seed_sequence"]


def _key_to_int(key: str | int) -> int:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"seed keys must be str or int, got {type(key).__name__}")
    if isinstance(key, int):
        if key < 0:
            raise ValueError(f"integer seed keys must be >= 0, got {key}")
        return key
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def seed_sequence(seed: int, *keys: str | int) -> np.random.SeedSequence:
    """The SeedSequence of the stream named by ``keys`` under the root ``seed``."""
    return np.random.SeedSequence(entropy=seed, spawn_key=tuple(_key_to_int(k) for k in keys))


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A numpy Generator for the stream named by ``keys`` under the root ``seed``."""
    return np.random.default_rng(seed_sequence(seed, *keys))
