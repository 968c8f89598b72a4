"""One root seed per run; every random stream is a named child of it.

``rng(seed, "channel", 3)`` always gives the same generator for round 3's channel draw, in any
process: the in-process simulation and the live services derive identical numbers without
sharing state. Keys are hashed into ``SeedSequence.spawn_key``, so streams never overlap.

:func:`rng` gives exactly numpy's ``default_rng(SeedSequence(entropy=seed, spawn_key=keys))``
(a test compares thousands of states), but mixes the seed and keys itself, with the mixing of
everything before the last key cached: numpy's SeedSequence plus PCG64 seeding cost ~100 us a
call, a third of a semantic env step, which draws three streams per slot.

:func:`rngs` gives ``[rng(seed, *keys, k) for k in last]`` (the same generators, exactly),
mixing the last keys of many streams at once in numpy: an environment draws a whole episode's
per-slot streams at reset for ~1 us a stream instead of ~8 us.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
from numpy.random.bit_generator import ISeedSequence

__all__ = ["rng", "rngs", "rngs_seeds", "seed_sequence"]


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


def rngs(seed: int, *keys: str | int, last: Sequence[str | int]) -> list[np.random.Generator]:
    """``[rng(seed, *keys, k) for k in last]``: the same generators (same states), with the
    mixing of the last keys vectorized over streams (the stream names are unchanged)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        return [rng(seed, *keys, k) for k in last]
    pool0, h0 = _prefix(seed, *map(_key_to_int, keys))
    if isinstance(last, range) and last.step > 0 and last.start >= 0 and last.stop <= 2**32:
        # the common case (slot numbers): one uint32 word per key
        groups = [(list(range(len(last))), np.arange(last.start, last.stop, last.step,
                                                     dtype=np.uint32)[:, None])]
    else:
        words = [_words(_key_to_int(k)) for k in last]
        groups = []
        for n in sorted({len(w) for w in words}):  # streams whose last key has n uint32 words
            idx = [i for i, w in enumerate(words) if len(w) == n]
            groups.append((idx, np.array([words[i] for i in idx], dtype=np.uint32
                                         ).reshape(len(idx), n)))
    out: list[np.random.Generator | None] = [None] * len(last)
    for idx, W in groups:
        pool = np.repeat(np.array(pool0, dtype=np.uint32)[:, None], len(idx), axis=1)
        h = h0
        for j in range(W.shape[1]):
            pool, h = _feed_many(pool, h, W[:, j])
        state = _generate_many(pool, 8)  # PCG64 asks for 4 uint64 = 8 uint32 words
        for row, i in enumerate(idx):
            out[i] = np.random.Generator(np.random.PCG64(_Fixed(state[row])))  # type: ignore[arg-type]
    return out  # type: ignore[return-value]


def rngs_seeds(seeds: Sequence[int], *keys: str | int, last: range
               ) -> list[list[np.random.Generator]]:
    """``[rngs(s, *keys, last=last) for s in seeds]``, mixed in one vectorized pass over every
    seed and last key (a batch of environments drawing their episodes at once)."""
    ok = (last.step > 0 and last.start >= 0 and last.stop <= 2**32 and all(
        type(s) is int and 0 <= s < 2**128 for s in seeds))
    if not ok or not seeds or not len(last):
        return [rngs(s, *keys, last=last) for s in seeds]
    ik = tuple(map(_key_to_int, keys))
    pre = [_prefix(s, *ik) for s in seeds]
    h0 = pre[0][1]
    if any(h != h0 for _, h in pre):  # (the same for every seed below 2^128: 4 seed words)
        return [rngs(s, *keys, last=last) for s in seeds]
    L = len(last)
    pool = np.repeat(np.array([p for p, _ in pre], dtype=np.uint32).T, L, axis=1)
    W = np.tile(np.arange(last.start, last.stop, last.step, dtype=np.uint32), len(seeds))
    pool, _ = _feed_many(pool, h0, W)
    state = _generate_many(pool, 8)
    gens = [np.random.Generator(np.random.PCG64(_Fixed(row))) for row in state]  # type: ignore[arg-type]
    return [gens[i * L:(i + 1) * L] for i in range(len(seeds))]


def _hashes(h: int, mult: int, n: int) -> tuple[list[int], list[int], int]:
    """The hash constants before and after each of n mixing steps, and the last one."""
    before, after = [], []
    for _ in range(n):
        before.append(h)
        h = (h * mult) & _M32
        after.append(h)
    return before, after, h


def _feed_many(pool: npt.NDArray[np.uint32], h: int, word: npt.NDArray[np.uint32]
               ) -> tuple[npt.NDArray[np.uint32], int]:
    """:func:`_feed` of one word per stream into pools (4, streams). The hash constants do not
    depend on the data, and pool word d's update reads only pool word d, so the four updates
    are one vectorized step."""
    before, after, h = _hashes(h, _MULT_A, _POOL)
    v = word[None, :] ^ np.array(before, dtype=np.uint32)[:, None]
    v = v * np.array(after, dtype=np.uint32)[:, None]
    # uint32 arithmetic wraps modulo 2^32, as the masks of _feed do
    r = cast("npt.NDArray[np.uint32]",
             np.uint32(_MIX_L) * pool - np.uint32(_MIX_R) * (v ^ (v >> np.uint32(16))))
    return r ^ (r >> np.uint32(16)), h


def _generate_many(pool: npt.NDArray[np.uint32], n_words: int) -> npt.NDArray[np.uint64]:
    """:meth:`_Mixed.generate_state` of every stream's pool (4, streams): (streams,
    n_words // 2) uint64."""
    before, after, _ = _hashes(_INIT_B, _MULT_B, n_words)
    v = pool[[i % _POOL for i in range(n_words)]] ^ np.array(before, dtype=np.uint32)[:, None]
    v = v * np.array(after, dtype=np.uint32)[:, None]
    return np.ascontiguousarray((v ^ (v >> np.uint32(16))).T).view(np.uint64)


class _Fixed(ISeedSequence):
    """A bit generator's seed words, computed already (:func:`rngs`)."""

    def __init__(self, words: npt.NDArray[np.uint64]) -> None:
        self.words = words

    def generate_state(self, n_words: int, dtype: npt.DTypeLike = np.uint32
                       ) -> npt.NDArray[np.uint32 | np.uint64]:
        if np.dtype(dtype) != np.uint64 or n_words != self.words.size:
            raise ValueError("precomputed for PCG64's 4 uint64 words")
        return self.words


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
    """The pool and hash constant after the seed and ``keys`` (all but the last key); each
    shorter prefix is cached too (a run's streams share the seed's)."""
    if keys:
        pool_t, h = _prefix(seed, *keys[:-1])
        pool = list(pool_t)
        for w in _words(keys[-1]):
            h = _feed(pool, h, w)
        return tuple(pool), h
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
