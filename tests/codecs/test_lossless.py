"""Lossless codecs: exact round trips, setting names, calibration and setting choice."""

from __future__ import annotations

import pytest

from twinbed.codecs import (
    LADDER,
    CodecPoint,
    LosslessCodec,
    UnknownCodecError,
    calibrate,
    closest_setting,
    delta16_forward,
    delta16_inverse,
    get_codec,
)
from twinbed.physical import BandLimitedSignal, to_bytes
from twinbed.seeding import rng

DELTA = [name for name in LADDER if name.startswith("delta16+")]


def _signal_bytes(channel: int = 0, block: int = 0, n: int = 250) -> bytes:
    return to_bytes(BandLimitedSignal(seed=11, n_channels=4).samples(channel, block, n))


PAYLOADS = {
    "empty": b"",
    "one-byte": b"\x01",
    "odd-random": rng(0, "test", "odd").bytes(999),
    "random": rng(0, "test", "random").bytes(4096),
    "zeros": bytes(1000),
    "int16-extremes": b"\xff\x7f\x00\x80" * 64,  # 32767, -32768: differences wrap
    "signal": _signal_bytes(),
    "signal-odd": _signal_bytes() + b"\x2a",
}


def test_ladder_names() -> None:
    assert LADDER[0] == "raw"
    assert len(set(LADDER)) == len(LADDER)
    for base in ["lz4-0", "lz4-9", "zlib-1", "zlib-6", "zlib-9", "zstd-1", "zstd-3"]:
        assert base in LADDER and f"delta16+{base}" in LADDER
    for base in ["zstd-9", "zstd-19", "bz2-9", "lzma-6"]:
        assert base in LADDER and f"delta16+{base}" in LADDER


@pytest.mark.parametrize("name", LADDER)
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_round_trip(name: str, payload: bytes) -> None:
    codec = get_codec(name)
    blob = codec.encode(payload)
    assert isinstance(blob, bytes)
    assert codec.decode(blob) == payload


def test_accepts_bytes_like_rejects_others() -> None:
    codec = get_codec("delta16+zstd-3")
    data = _signal_bytes()
    assert codec.decode(codec.encode(bytearray(data))) == data
    assert codec.decode(memoryview(codec.encode(data))) == data
    with pytest.raises(TypeError):
        codec.encode(5)  # type: ignore[arg-type]


def test_delta16_filter_layout() -> None:
    # samples 1, 3, 2 (+ trailing byte): differences 1, 2, -1; low plane then high plane.
    data = b"\x01\x00\x03\x00\x02\x00\x09"
    assert delta16_forward(data) == b"\x01\x02\xff" + b"\x00\x00\xff" + b"\x09"
    assert delta16_inverse(delta16_forward(data)) == data


def test_get_codec_is_cached() -> None:
    assert get_codec("zstd-3") is get_codec("zstd-3")
    assert isinstance(get_codec("raw"), LosslessCodec)
    assert get_codec("zlib-6").name == "zlib-6"


@pytest.mark.parametrize("bad", ["zstd-4", "ZSTD-3", "", "delta16+raw", "delta16+nope"])
def test_unknown_setting(bad: str) -> None:
    with pytest.raises(UnknownCodecError, match="known settings: raw") as info:
        get_codec(bad)
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_raw_ratio_is_one_and_sorted() -> None:
    points = calibrate(PAYLOADS["random"], repeats=1)
    assert [p.name for p in points if p.name == "raw"] == ["raw"]
    assert next(p for p in points if p.name == "raw").ratio == 1.0
    assert sorted(p.name for p in points) == sorted(LADDER)
    ratios = [p.ratio for p in points]
    assert ratios == sorted(ratios)
    assert all(p.encode_s >= 0 for p in points)


def test_calibrate_subset_and_validation() -> None:
    points = calibrate(b"abc" * 100, names=["raw", "zlib-9"], repeats=2)
    assert [p.name for p in points] == ["raw", "zlib-9"]
    with pytest.raises(ValueError, match="non-empty"):
        calibrate(b"")
    with pytest.raises(ValueError, match="repeats"):
        calibrate(b"abc", repeats=0)
    with pytest.raises(UnknownCodecError):
        calibrate(b"abc", names=["nope"])


def test_delta16_beats_its_base_on_signal_data() -> None:
    # Summed over several blocks so one unlucky block can't decide it.
    data = [_signal_bytes(channel=c, block=b) for c in range(4) for b in range(5)]
    for name in DELTA:
        base = name.removeprefix("delta16+")
        with_filter = sum(len(get_codec(name).encode(d)) for d in data)
        without = sum(len(get_codec(base).encode(d)) for d in data)
        assert with_filter < without, name


def test_closest_setting() -> None:
    table = [
        CodecPoint("raw", 1.0, 1e-7),
        CodecPoint("fast", 1.5, 1e-5),
        CodecPoint("slow", 1.5, 1e-3),
        CodecPoint("best", 2.0, 1e-4),
    ]
    assert closest_setting(table, 0.2).name == "raw"
    assert closest_setting(table, 1.1).name == "raw"
    assert closest_setting(table, 1.4).name == "fast"  # tie on ratio: the faster one
    assert closest_setting(list(reversed(table)), 1.5).name == "fast"
    assert closest_setting(table, 1.8).name == "best"
    assert closest_setting(table, 9.0).name == "best"
    with pytest.raises(ValueError):
        closest_setting([], 1.0)


def test_lzma_fits_its_dictionary_to_the_input_with_the_same_stream() -> None:
    """The lzma settings encode with the smallest dictionary that holds the input (the
    preset's 8 MiB one cost ~1.1 ms of set-up per call): the raw LZMA2 stream is byte for
    byte what the preset's own dictionary gives, on signal data, its delta filter, random
    bytes and repetitive text, at sizes around the dictionary's steps; and the preset table
    is liblzma's."""
    import lzma  # noqa: PLC0415 - this test's alone
    import os  # noqa: PLC0415

    from twinbed.codecs.lossless import LZMA_PRESET_DICT  # noqa: PLC0415

    for preset, size in LZMA_PRESET_DICT.items():
        props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA2, "preset": preset})
        assert lzma._decode_filter_properties(lzma.FILTER_LZMA2, props)["dict_size"] == size

    def preset_stream(data: bytes) -> bytes:
        return lzma.compress(data, format=lzma.FORMAT_RAW,
                             filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])

    sig = BandLimitedSignal(3, 4)
    payloads = [b"", b"x", os.urandom(4095), os.urandom(4097), b"twin %d\n" * 9000]
    for n in (250, 2048, 2049, 40_000):
        x = to_bytes(sig.samples(1, 2, n))
        payloads += [x, delta16_forward(x)]
    for data in payloads:
        assert get_codec("lzma-6").encode(data) == preset_stream(data), len(data)
