"""Named child seeds of one root seed (twinbed.seeding)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from twinbed.seeding import rng, seed_sequence


def _draw(seed: int, *keys: str | int) -> list[float]:
    return rng(seed, *keys).random(8).tolist()


def test_rng_reproducible() -> None:
    """The same (seed, keys) gives the same stream, call after call."""
    assert _draw(7, "channel", 3) == _draw(7, "channel", 3)
    assert isinstance(rng(7, "channel", 3), np.random.Generator)


def test_rng_reproducible_across_processes() -> None:
    """A fresh interpreter with another PYTHONHASHSEED derives the same stream (no hash())."""
    code = "from twinbed.seeding import rng; print(rng(7, 'channel', 3).random(8).tolist())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == str(_draw(7, "channel", 3))


@pytest.mark.parametrize("a, b", [
    ((0, "channel", 0), (0, "channel", 1)),
    ((0, "channel", 0), (1, "channel", 0)),
    ((0, "channel", 0), (0, "sensor", 0)),
    ((0, "a", "b"), (0, "b", "a")),
    ((0, "a", "b"), (0, "ab")),
    ((0, "channel"), (0, "channel", 0)),
    ((0,), (0, 0)),
])
def test_distinct_keys_distinct_streams(a: tuple, b: tuple) -> None:
    """Different seeds, keys, key order or key count name different streams."""
    assert _draw(*a) != _draw(*b)


def test_int_and_str_keys_differ() -> None:
    """The int key 3 and the str key '3' are different streams; each is stable."""
    assert _draw(0, 3) != _draw(0, "3")
    assert _draw(0, 3) == _draw(0, 3) and _draw(0, "3") == _draw(0, "3")


def test_int_key_is_spawn_key_itself() -> None:
    """Integer keys enter the SeedSequence spawn_key unchanged; str keys become 64-bit ints."""
    ss = seed_sequence(5, 2, "x")
    assert ss.entropy == 5
    assert ss.spawn_key[0] == 2
    assert 0 <= ss.spawn_key[1] < 2**64 and ss.spawn_key[1] != 2


def test_streams_are_uncorrelated() -> None:
    """Neighbouring named streams are statistically independent (|corr| small over 1e5 draws)."""
    a = rng(0, "channel", 0).standard_normal(100_000)
    b = rng(0, "channel", 1).standard_normal(100_000)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02


@pytest.mark.parametrize("key", [1.0, None, b"channel", True, False, ("a",)])
def test_invalid_key_types_rejected(key: object) -> None:
    """Keys that are not str or int (bools included) raise TypeError naming the type."""
    with pytest.raises(TypeError, match=type(key).__name__):
        rng(0, "channel", key)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [-1, -(2**70)])
def test_negative_int_keys_rejected(key: int) -> None:
    """Negative integer keys raise ValueError quoting the key."""
    with pytest.raises(ValueError, match=str(key)):
        rng(0, key)


def test_negative_root_seed_rejected() -> None:
    """A negative root seed is rejected rather than silently mapped."""
    with pytest.raises(ValueError):
        rng(-1, "channel", 0)


def test_stream_derivation_is_pinned() -> None:
    """The key derivation (blake2b-64 of str keys) is frozen: changing it re-draws every recorded run."""
    assert seed_sequence(0, "channel", 0).spawn_key == (14503803131992509972, 0)
    assert _draw(0, "channel", 0)[:3] == [0.9019878780833673, 0.673395394432805, 0.5798497618576712]


def test_rng_is_exactly_numpys_seed_sequence() -> None:
    """rng mixes seed and keys itself (fast, cached prefixes) but gives numpy's generator
    state for SeedSequence(entropy=seed, spawn_key=keys), over many seeds and keys: small,
    0, multi-word, strings, one to three keys, the same prefix with other last keys."""
    from twinbed.seeding import _key_to_int  # noqa: PLC0415 - the keys as SeedSequence gets them

    g = np.random.default_rng(123)
    cases: list[tuple[int, tuple[str | int, ...]]] = [
        (0, (0,)), (0, (1, 2)), (2**40, (5,)), (7, (2**63 + 5, 3)), (1, (2**64 - 1, 0, 9)),
        (2**130 + 3, ("channel", 4)), (3, ("fading", 0)), (3, ("fading", 1)), (3, ("data",))]
    for _ in range(2000):
        seed = int(g.integers(0, 2**62)) if g.random() < 0.5 else int(g.integers(0, 1000))
        keys = tuple(int(g.integers(0, 2**63)) if g.random() < 0.5 else int(g.integers(0, 50))
                     for _ in range(int(g.integers(1, 4))))
        cases.append((seed, keys))
    for seed, keys in cases:
        ref = np.random.default_rng(np.random.SeedSequence(
            entropy=seed, spawn_key=tuple(_key_to_int(k) for k in keys)))
        assert rng(seed, *keys).bit_generator.state == ref.bit_generator.state, (seed, keys)


def test_rngs_is_rng_for_each_last_key() -> None:
    """rngs(seed, *keys, last=ks) mixes the last keys vectorized and gives, for each, exactly
    rng(seed, *keys, k): ranges of slot numbers, lists mixing small, 0, 32-bit-edge,
    multi-word and str keys, with zero to two leading keys."""
    from twinbed.seeding import rngs  # noqa: PLC0415

    g = np.random.default_rng(5)
    for t in range(120):
        seed = int(g.integers(0, 2**62)) if t % 2 else int(g.integers(0, 1000))
        keys = [("mobility",), ("channel",), (), ("a", 3)][t % 4]
        last: list[str | int] | range
        if t % 3 == 0:
            last = range(int(g.integers(0, 5)), int(g.integers(5, 40)), int(g.integers(1, 3)))
        else:
            last = [int(x) for x in g.integers(0, 2**63 if t % 3 == 1 else 100,
                                               size=int(g.integers(1, 20)))]
            last += ["init", 0, 2**64 - 1, 2**32, 2**32 - 1]
        for k, got in zip(last, rngs(seed, *keys, last=last), strict=True):
            assert got.bit_generator.state == rng(seed, *keys, k).bit_generator.state, (seed, k)
    assert rngs(3, "x", last=[]) == []
    assert rngs(3, "x", last=range(2**32 - 2, 2**32 + 1))[2].random() == rng(3, "x", 2**32).random()
