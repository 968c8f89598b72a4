"""One root seed per run; every random stream is a named child of it.

``rng(seed, "channel", 3)`` always gives the same generator for round 3's channel draw, in any
process: the in-process simulation and the live services derive identical numbers without
sharing state. Keys are hashed into ``SeedSequence.spawn_key``, so streams never overlap.

:func:`rng` gives exactly numpy's ``default_rng(SeedSequence(entropy=seed, spawn_key=keys))``
(a test compares thousands of states), but mixes the seed and keys itself, with the mixing of
everything before the last key cached: numpy's SeedSequence plus PCG64 seeding cost ~100 us a
call, a third of a semantic env step, which draws three streams per slot.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import numpy.typing as npt
from numpy.random.bit_generator import ISeedSequence

__all__ = ["rng", "seed_sequence"]


def _key_to_int(key: str | int) -> int:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"seed keys must be str or int, got {type(key).__name__}")
    if isinstance(key, int):
        if key < 0:
            raise ValueError(f"integer seed keys must be >= 0, got {key}")
        return key
    return _str_key(key)


@functools.lru_cache(maxsize=1024)
def _str_key(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def seed_sequence(seed: int, *keys: str | int) -> np.random.SeedSequence:
    """The SeedSequence of the stream named by ``keys`` under the root ``seed``."""
    return np.random.SeedSequence(entropy=seed, spawn_key=tuple(_key_to_int(k) for k in keys))


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A numpy Generator for the stream named by ``keys`` under the root ``seed``."""
    if not keys or isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        return np.random.default_rng(seed_sequence(seed, *keys))  # numpy says what is wrong
    # numpy's stubs name SeedSequence only; at run time any ISeedSequence seeds a generator
    return np.random.Generator(np.random.PCG64(_Mixed(seed, tuple(map(_key_to_int, keys)))))  # type: ignore[arg-type]


# numpy's SeedSequence (numpy/random/bit_generator.pyx), for a pool of 4 uint32 words
_M32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4


def _words(n: int) -> list[int]:
    """An integer as uint32 words, least significant first ([0] for 0)."""
    out = [n & _M32]
    n >>= 32
    while n:
        out.append(n & _M32)
        n >>= 32
    return out


def _feed(pool: list[int], h: int, word: int) -> int:
    """Mix one entropy word into every pool word; returns the new hash constant."""
    for d in range(_POOL):
        v = word ^ h
        h = (h * _MULT_A) & _M32
        v = (v * h) & _M32
        r = (_MIX_L * pool[d] - _MIX_R * (v ^ (v >> 16))) & _M32
        pool[d] = r ^ (r >> 16)
    return h


@functools.lru_cache(maxsize=4096)
def _prefix(seed: int, *keys: int) -> tuple[tuple[int, ...], int]:
    """The pool and hash constant after the seed and ``keys`` (all but the last key)."""
    ent = _words(seed)
    ent += [0] * (_POOL - len(ent))  # with spawn keys, the run entropy is padded to the pool
    pool, h = [0] * _POOL, _INIT_A
    for i in range(_POOL):
        v = ent[i] ^ h
        h = (h * _MULT_A) & _M32
        v = (v * h) & _M32
        pool[i] = v ^ (v >> 16)
    for s in range(_POOL):
        for d in range(_POOL):
            if s != d:
                v = pool[s] ^ h
                h = (h * _MULT_A) & _M32
                v = (v * h) & _M32
                r = (_MIX_L * pool[d] - _MIX_R * (v ^ (v >> 16))) & _M32
                pool[d] = r ^ (r >> 16)
    for w in ent[_POOL:]:
        h = _feed(pool, h, w)
    for k in keys:
        for w in _words(k):
            h = _feed(pool, h, w)
    return tuple(pool), h


class _Mixed(ISeedSequence):
    """``SeedSequence(entropy=seed, spawn_key=keys)`` for seeding a bit generator, exactly."""

    def __init__(self, seed: int, keys: tuple[int, ...]) -> None:
        pool, h = _prefix(seed, *keys[:-1])
        self.pool = list(pool)
        for w in _words(keys[-1]):
            h = _feed(self.pool, h, w)

    def generate_state(self, n_words: int, dtype: npt.DTypeLike = np.uint32
                       ) -> npt.NDArray[np.uint32 | np.uint64]:
        wide = np.dtype(dtype) == np.uint64
        h, out, pool = _INIT_B, [], self.pool
        for i in range(2 * n_words if wide else n_words):
            v = pool[i % _POOL] ^ h
            h = (h * _MULT_B) & _M32
            v = (v * h) & _M32
            out.append(v ^ (v >> 16))
        arr = np.array(out, dtype=np.uint32)
        return arr.view(np.uint64) if wide else arr
