"""Compression bombs: a tiny payload that expands to 256 MiB fails at the cap, in bounded memory.

The bz2 and raw-LZMA2 bombs are committed (208 bytes and 38 KiB; they take seconds to make);
the zlib, zstd and lz4 ones are made here from a stream of zeros. Each is decoded in a fresh
Python process whose peak RSS is compared with the same process decoding a harmless payload,
so the test measures what the decode allocates, not what the test runner holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import lz4.frame
import pytest
import zstandard

from twinbed.codecs.lossless import PayloadTooLargeError, get_codec

BOMBS = Path(__file__).parent / "bombs"
MiB = 1 << 20
CAP = 4096


def _zeros_stream(compress, flush, n_mib: int = 256) -> bytes:
    chunk = bytes(MiB)
    return b"".join([compress(chunk) for _ in range(n_mib)] + [flush()])


def _bomb(setting: str) -> bytes:
    if setting == "bz2-9":
        return (BOMBS / "zeros-256MiB.bz2").read_bytes()
    if setting == "lzma-6":
        return (BOMBS / "zeros-256MiB.lzma-raw").read_bytes()
    if setting == "zlib-1":
        c = zlib.compressobj(1)
        return _zeros_stream(c.compress, c.flush)
    if setting == "zstd-1":  # streamed: no content size in the frame header
        z = zstandard.ZstdCompressor(level=1).compressobj()
        return _zeros_stream(z.compress, z.flush)
    if setting == "lz4-0":
        f = lz4.frame.LZ4FrameCompressor()
        return f.begin() + _zeros_stream(f.compress, f.flush)
    raise KeyError(setting)


SETTINGS = ("bz2-9", "lzma-6", "zlib-1", "zstd-1", "lz4-0")


@pytest.mark.parametrize("setting", SETTINGS)
def test_bomb_raises_at_the_cap(setting: str) -> None:
    blob = _bomb(setting)
    assert len(blob) < 2 * MiB  # a small payload...
    with pytest.raises(PayloadTooLargeError):
        get_codec(setting).decode(blob, max_size=CAP)  # ...that would decode to 256 MiB
    # the delta16 variant caps the same way (the filter runs after the capped base decode)
    with pytest.raises(PayloadTooLargeError):
        get_codec("delta16+" + setting).decode(blob, max_size=CAP)


def test_zstd_header_declaring_a_huge_size_is_refused_before_allocating() -> None:
    blob = zstandard.ZstdCompressor(level=1).compress(bytes(64 * MiB))
    assert zstandard.frame_content_size(blob) == 64 * MiB
    with pytest.raises(PayloadTooLargeError):
        get_codec("zstd-1").decode(blob, max_size=CAP)


@pytest.mark.parametrize("setting", ["raw", "zlib-6", "zstd-3", "bz2-9", "lzma-6", "lz4-9",
                                     "delta16+zstd-3"])
def test_exact_size_passes_and_one_byte_less_fails(setting: str) -> None:
    data = bytes(range(256)) * 8
    codec = get_codec(setting)
    blob = codec.encode(data)
    assert codec.decode(blob, max_size=len(data)) == data
    with pytest.raises(PayloadTooLargeError):
        codec.decode(blob, max_size=len(data) - 1)


@pytest.mark.parametrize("setting", ["zlib-6", "bz2-9", "lzma-6", "lz4-9", "zstd-3"])
def test_truncated_payload_is_an_error_not_a_short_result(setting: str) -> None:
    data = bytes(range(256)) * 8
    blob = get_codec(setting).encode(data)
    with pytest.raises((ValueError, zstandard.ZstdError, RuntimeError)):
        get_codec(setting).decode(blob[:-4], max_size=len(data))


_PROBE = """
import json, resource, sys
from pathlib import Path
from twinbed.codecs.lossless import PayloadTooLargeError, get_codec
setting, path = sys.argv[1], sys.argv[2]
blob = Path(path).read_bytes()
try:
    get_codec(setting).decode(blob, max_size=4096)
    raised = False
except PayloadTooLargeError:
    raised = True
except Exception:
    raised = None
print(json.dumps({"raised": raised, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _peak(setting: str, blob: bytes, tmp_path: Path) -> dict:
    f = tmp_path / f"{setting}.bin"
    f.write_bytes(blob)
    out = subprocess.run([sys.executable, "-c", _PROBE, setting, str(f)], check=True,
                         capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout)


@pytest.mark.parametrize("setting", ["bz2-9", "zlib-1"])
def test_bomb_peak_memory_is_bounded(setting: str, tmp_path: Path) -> None:
    """Peak RSS decoding a 256 MiB bomb stays within 32 MiB of decoding a harmless payload
    (before the cap, bz2 reached 2.2 GB on a 785-byte payload)."""
    harmless = _peak(setting, get_codec(setting).encode(bytes(1024)), tmp_path)
    bomb = _peak(setting, _bomb(setting), tmp_path)
    assert harmless["raised"] is False and bomb["raised"] is True
    assert bomb["maxrss_kb"] - harmless["maxrss_kb"] < 32 * 1024, (harmless, bomb)
