"""Real lossless codecs behind one interface, named by setting strings.

A *setting* is a string such as ``"zstd-3"`` or ``"delta16+zlib-6"``; :func:`get_codec` turns it
into a :class:`LosslessCodec` with ``encode``/``decode``. Every codec is an existing library
(stdlib ``zlib``/``bz2``/``lzma``, ``zstandard``, ``lz4.frame``); nothing here compresses by hand.

Base settings (``<library>-<level>``)::

    raw                                 identity, ratio exactly 1
    lz4-0, lz4-9                        lz4 frame, fast mode / high-compression (HC) mode
    zlib-1, zlib-6, zlib-9              deflate in a zlib wrapper (2-byte header, 4-byte Adler-32)
    zstd-1, zstd-3, zstd-9, zstd-19     zstandard frame (content size stored, no checksum)
    bz2-9                               bzip2, 900 kB blocks
    lzma-6                              raw LZMA2 stream, preset 6 (no .xz container)

Payloads in the testbed are small (a 4 kbit round is 500 bytes), so container overhead counts:
lz4 frames omit the optional content size and lzma uses its raw format, because the xz
container alone costs about 60 bytes. The transport frames and checksums every payload anyway.

Pre-filtered settings ``delta16+<base>`` (every base except ``raw``) are meant for 16-bit
little-endian integer samples (see :mod:`twinbed.physical.signal`). Before the base codec they

1. replace each int16 sample by its difference from the previous one (the first sample is kept;
   int16 arithmetic wraps, so the step is exactly invertible for any input), then
2. shuffle byte planes: all low bytes, then all high bytes, so the mostly-constant high bytes
   form long runs the base codec can exploit.

Data of odd length is handled, not rejected: the trailing byte is not part of any sample and is
appended unchanged after the shuffled planes. Decoding sees an odd length and peels it off again.

Decoding is capped: :meth:`LosslessCodec.decode` takes ``max_size`` (default
:data:`DEFAULT_MAX_DECODED`) and decompresses in a streaming way with the library's own
``max_length``/``max_output_size``, so a compression bomb (a few hundred bytes that expand to
gigabytes) fails with :class:`PayloadTooLargeError` before any large allocation. Receivers pass
the size the message declares, so a payload that lies about its size fails too.

Measured ratios: :func:`calibrate` encodes a sample payload with each setting and returns
(ratio, encode time) points; :func:`closest_setting` picks the point nearest a target ratio.
"""

from __future__ import annotations

import bz2
import lzma
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import lz4.frame
import numpy as np
import zstandard

__all__ = [
    "BASE_SETTINGS",
    "DELTA16_PREFIX",
    "LADDER",
    "CodecPoint",
    "DEFAULT_MAX_DECODED",
    "LosslessCodec",
    "PayloadTooLargeError",
    "UnknownCodecError",
    "calibrate",
    "closest_setting",
    "delta16_forward",
    "delta16_inverse",
    "get_codec",
]

Transform = Callable[[bytes], bytes]
Decoder = Callable[[bytes, int], bytes]  # (blob, max_size) -> data, at most max_size bytes

DEFAULT_MAX_DECODED = 64 * 1024 * 1024
"""The cap on one decoded payload when the caller gives none (64 MiB)."""

DELTA16_PREFIX = "delta16+"


class UnknownCodecError(ValueError):
    """A codec setting name that is not in :data:`LADDER`."""


class PayloadTooLargeError(ValueError):
    """A payload decodes to more than the allowed size (a compression bomb, or a lie)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"payload decodes to more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class LosslessCodec:
    """One codec setting: ``decode(encode(data)) == data`` for every ``bytes`` value."""

    name: str
    _encode: Transform = field(repr=False, compare=False)
    _decode: Decoder = field(repr=False, compare=False)

    def encode(self, data: bytes) -> bytes:
        """Compress ``data``; the result is only meaningful to :meth:`decode` of this setting."""
        return self._encode(_as_bytes(data))

    def decode(self, blob: bytes, max_size: int = DEFAULT_MAX_DECODED) -> bytes:
        """Invert :meth:`encode` exactly; raises the library's error on corrupt input and
        :class:`PayloadTooLargeError` as soon as the output would pass ``max_size`` bytes."""
        if max_size < 0:
            raise ValueError(f"expected max_size >= 0, got {max_size}")
        return self._decode(_as_bytes(blob), max_size)


def _as_bytes(data: bytes) -> bytes:
    # Accept any bytes-like object, but not e.g. an int (bytes(5) would be five zero bytes).
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    return bytes(data)


# --- base codecs ----------------------------------------------------------------------------


def _identity(data: bytes) -> bytes:
    return data


def _raw_decode(blob: bytes, limit: int) -> bytes:
    if len(blob) > limit:
        raise PayloadTooLargeError(limit)
    return blob


class _Streaming(Protocol):
    """The incremental decompressors of zlib, bz2, lzma and lz4.frame share this shape."""

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _capped(make: Callable[[], _Streaming], name: str) -> Decoder:
    """A decoder that asks the library for at most ``limit + 1`` bytes: one byte more than
    allowed proves the payload too large without ever holding more than ``limit + 1``."""

    def decode(blob: bytes, limit: int) -> bytes:
        d = make()
        out = d.decompress(blob, max_length=limit + 1)
        if len(out) > limit:
            raise PayloadTooLargeError(limit)
        if not d.eof:
            raise ValueError(f"{name} payload is truncated (no end of stream)")
        return out

    return decode


class _ZlibStream:
    """zlib's decompressobj with the same ``decompress(data, max_length)``/``eof`` shape."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj()

    @property
    def eof(self) -> bool:
        return self._d.eof

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        return self._d.decompress(data, max(max_length, 0))


def _lz4(level: int) -> tuple[Transform, Decoder]:
    def encode(data: bytes) -> bytes:
        return lz4.frame.compress(data, compression_level=level, store_size=False)

    return encode, _capped(lz4.frame.LZ4FrameDecompressor, "lz4")


def _zlib(level: int) -> tuple[Transform, Decoder]:
    return (lambda data: zlib.compress(data, level)), _capped(_ZlibStream, "zlib")


def _zstd(level: int) -> tuple[Transform, Decoder]:
    # zstandard (de)compressor objects are reusable but not thread-safe: one per thread.
    local = threading.local()

    def encode(data: bytes) -> bytes:
        if not hasattr(local, "compressor"):
            local.compressor = zstandard.ZstdCompressor(level=level)
        return local.compressor.compress(data)

    def decode(blob: bytes, limit: int) -> bytes:
        if not hasattr(local, "decompressor"):
            local.decompressor = zstandard.ZstdDecompressor()
        # The frame header declares the content size: refuse a large one before allocating
        # (zstandard allocates what the header says, and checks the data matches it).
        declared = zstandard.frame_content_size(blob)
        if declared > limit:
            raise PayloadTooLargeError(limit)
        if declared < 0:  # size not stored: let the library stop at the cap
            try:
                return bytes(local.decompressor.decompress(blob, max_output_size=limit))
            except zstandard.ZstdError as exc:
                raise PayloadTooLargeError(limit) from exc
        return bytes(local.decompressor.decompress(blob))

    return encode, decode


def _bz2(level: int) -> tuple[Transform, Decoder]:
    return (lambda data: bz2.compress(data, level)), _capped(bz2.BZ2Decompressor, "bz2")


LZMA_DICT_MIN = 4096  # liblzma's smallest dictionary (LZMA_DICT_SIZE_MIN)
# each preset's dictionary (xz(1), "Presets"; tests/codecs/test_lossless.py checks liblzma's)
LZMA_PRESET_DICT = {0: 256 << 10, 1: 1 << 20, 2: 2 << 20, 3: 4 << 20, 4: 4 << 20, 5: 8 << 20,
                    6: 8 << 20, 7: 16 << 20, 8: 32 << 20, 9: 64 << 20}


def lzma_dict_size(n: int, preset_dict: int) -> int:
    """The dictionary an LZMA2 encoder needs for ``n`` bytes: the smallest power of two
    >= n (at least 4 KiB), capped at the preset's own. A window that holds the whole input
    finds every match the preset's larger one would: the raw stream is byte for byte the
    same (tests/codecs/test_lossless.py), while the preset's 8 MiB dictionary cost ~1.1 ms of
    set-up per call, 95 % of encoding a round's 500 bytes, which made the two lzma settings
    2/3 of a sensor's codec calibration (the first live round at K = 1000)."""
    d = LZMA_DICT_MIN
    while d < n:
        d *= 2
    return min(d, preset_dict)


def _lzma(preset: int) -> tuple[Transform, Decoder]:
    filters = [{"id": lzma.FILTER_LZMA2, "preset": preset}]
    preset_dict = LZMA_PRESET_DICT[preset]

    def encode(data: bytes) -> bytes:
        fit = [{"id": lzma.FILTER_LZMA2, "preset": preset,
                "dict_size": lzma_dict_size(len(data), preset_dict)}]
        return lzma.compress(data, format=lzma.FORMAT_RAW, filters=fit)

    def make() -> _Streaming:
        return lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)

    return encode, _capped(make, "lzma")


_BASES: dict[str, tuple[Transform, Decoder]] = {
    "raw": (_identity, _raw_decode),
    "lz4-0": _lz4(0),
    "lz4-9": _lz4(9),
    "zlib-1": _zlib(1),
    "zlib-6": _zlib(6),
    "zlib-9": _zlib(9),
    "zstd-1": _zstd(1),
    "zstd-3": _zstd(3),
    "zstd-9": _zstd(9),
    "zstd-19": _zstd(19),
    "bz2-9": _bz2(9),
    "lzma-6": _lzma(6),
}

BASE_SETTINGS: tuple[str, ...] = tuple(_BASES)

# --- the delta16 pre-filter -----------------------------------------------------------------


def delta16_forward(data: bytes) -> bytes:
    """int16 first differences, then byte-plane shuffle; a trailing odd byte is kept last."""
    n_even = len(data) - len(data) % 2
    x = np.frombuffer(data, dtype="<i2", count=n_even // 2).astype(np.int16)
    d = np.empty_like(x)
    d[:1] = x[:1]
    np.subtract(x[1:], x[:-1], out=d[1:])  # int16 arithmetic: wraps, exactly invertible
    planes = d.astype("<i2").view(np.uint8).reshape(-1, 2).T  # row 0: low bytes, row 1: high
    return planes.tobytes() + data[n_even:]


def delta16_inverse(data: bytes) -> bytes:
    """Invert :func:`delta16_forward`."""
    n_even = len(data) - len(data) % 2
    planes = np.frombuffer(data, dtype=np.uint8, count=n_even).reshape(2, -1)
    d = np.ascontiguousarray(planes.T).view("<i2").ravel().astype(np.int16)
    x = np.cumsum(d, dtype=np.int16)  # wrapping running sum undoes the wrapping differences
    return x.astype("<i2").tobytes() + data[n_even:]


# --- the setting registry -------------------------------------------------------------------


def _delta16(enc: Transform, dec: Decoder) -> tuple[Transform, Decoder]:
    """A base codec behind the exactly invertible int16 delta + byte-plane filter."""

    def encode(data: bytes) -> bytes:
        return enc(delta16_forward(data))

    def decode(blob: bytes, limit: int) -> bytes:
        return delta16_inverse(dec(blob, limit))  # the filter keeps the length

    return encode, decode


def _build_registry() -> dict[str, LosslessCodec]:
    registry = {name: LosslessCodec(name, enc, dec) for name, (enc, dec) in _BASES.items()}
    for base in BASE_SETTINGS:
        if base == "raw":  # the filter alone never shrinks data: not a useful setting
            continue
        enc, dec = _BASES[base]
        name = DELTA16_PREFIX + base
        registry[name] = LosslessCodec(name, *_delta16(enc, dec))
    return registry


_REGISTRY: dict[str, LosslessCodec] = _build_registry()

LADDER: tuple[str, ...] = tuple(_REGISTRY)
"""Every setting name: ``raw``, the other base settings, then the ``delta16+`` variants."""


def get_codec(name: str) -> LosslessCodec:
    """The (shared, cached) codec of setting ``name``; raises :class:`UnknownCodecError`."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownCodecError(
            f"unknown codec setting {name!r}; known settings: {', '.join(LADDER)}"
        ) from None


# --- calibration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CodecPoint:
    """A measured setting: ``ratio`` = raw bytes / encoded bytes, ``encode_s`` in seconds."""

    name: str
    ratio: float
    encode_s: float


def calibrate(
    sample: bytes, names: Sequence[str] = LADDER, repeats: int = 3
) -> list[CodecPoint]:
    """Measure each setting on ``sample``; points sorted by ratio, ascending.

    ``encode_s`` is the best (minimum) wall time over ``repeats`` encodes, measured with
    :func:`time.perf_counter`, in seconds. Each setting's output is decoded once and checked,
    so a calibration also proves the round trip on this payload (``RuntimeError`` otherwise).
    Ties in ratio keep the order of ``names``.
    """
    if not sample:
        raise ValueError("expected a non-empty sample, got 0 bytes")
    if repeats < 1:
        raise ValueError(f"expected repeats >= 1, got {repeats}")
    sample = bytes(sample)
    points = []
    for name in names:
        codec = get_codec(name)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            encoded = codec.encode(sample)
            best = min(best, time.perf_counter() - start)
        if codec.decode(encoded) != sample:
            raise RuntimeError(f"codec setting {name!r} failed to round-trip the sample")
        points.append(CodecPoint(name, len(sample) / len(encoded), best))
    return sorted(points, key=lambda p: p.ratio)


def closest_setting(points: Sequence[CodecPoint], target_ratio: float) -> CodecPoint:
    """The point whose ratio is nearest ``target_ratio``; on a tie, the faster encoder."""
    if not points:
        raise ValueError("expected at least one CodecPoint, got none")
    return min(points, key=lambda p: (abs(p.ratio - target_ratio), p.encode_s))
