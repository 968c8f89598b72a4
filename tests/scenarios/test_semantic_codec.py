"""The real semantic codec (twinbed.codecs.semantic) and `twinbed train semantic-codec`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twinbed.codecs.semantic import (
    CodecFormatError,
    SemanticCodec,
    error_curve,
    phi_min_for,
    training_frames,
)
from twinbed.physical import BandLimitedSignal
from twinbed.scenarios.semantic.params import SemanticParams


@pytest.fixture(scope="module")
def codec() -> SemanticCodec:
    return SemanticCodec.fit(training_frames(1000, channels=16, blocks=4))


@pytest.fixture(scope="module")
def held_out() -> np.ndarray:
    sig = BandLimitedSignal(2000, 4)
    return np.stack([sig.samples(c, 0, 10_000) for c in range(4)])


def test_payload_is_phi_times_raw(codec: SemanticCodec, held_out: np.ndarray) -> None:
    """The representation is m/frame of the raw int16 bytes (plus the 10-byte header)."""
    x = held_out[0]
    n_frames = -(-x.size // 64)
    for phi in (0.15625, 0.25, 0.5, 0.75):
        blob = codec.encode(x, phi)
        m = round(phi * 64)
        assert len(blob) == 10 + 2 * m * n_frames
        assert (len(blob) - 10) / (2 * x.size) == pytest.approx(phi, rel=0.01)


def test_phi_one_is_the_raw_samples_exactly(codec: SemanticCodec, held_out: np.ndarray) -> None:
    x = held_out[1]
    np.testing.assert_array_equal(codec.decode(codec.encode(x, 1.0)), x)


def test_recovery_error_falls_with_phi_and_generalizes(codec: SemanticCodec,
                                                       held_out: np.ndarray) -> None:
    """Fitted on one process, the codec recovers another: error falls steeply with phi and at
    phi >= 10/64 reaches the level of the sensor's own measurement noise (1.5 LSB)."""
    curve = error_curve(codec, held_out)
    nrmse = [c.nrmse for c in curve]
    assert nrmse[0] > 0.5  # one coordinate per frame says little
    assert all(b <= a * 1.05 for a, b in zip(nrmse[:12], nrmse[1:13]))  # falls steeply first
    assert curve[9].rmse_lsb < 3.0 and curve[-1].rmse_lsb == 0.0
    pm = phi_min_for(curve, 0.01)
    assert 0.1 < pm < 0.3
    assert all(c.nrmse <= 0.01 for c in curve if c.phi >= pm)


def test_untrained_random_basis_is_much_worse(held_out: np.ndarray) -> None:
    """The learning matters: a random orthonormal basis at the same phi recovers far worse."""
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((64, 64)))
    rand = SemanticCodec(q, np.zeros(64))
    fitted = SemanticCodec.fit(training_frames(1000, channels=16, blocks=4))
    x = held_out[:1]
    e_rand = error_curve(rand, x)[9].nrmse
    e_fit = error_curve(fitted, x)[9].nrmse
    assert e_rand > 20 * e_fit


def test_save_load_roundtrip_same_bytes(codec: SemanticCodec, held_out: np.ndarray,
                                        tmp_path: Path) -> None:
    codec.meta = {"seed": 1000}
    path = codec.save(tmp_path / "c.npz")
    again = SemanticCodec.load(path)
    assert again.meta["seed"] == 1000  # plus the checksum stamp of the file it went into
    assert again.meta["size_bytes"] == path.stat().st_size
    x = held_out[2]
    assert again.encode(x, 0.3) == codec.encode(x, 0.3)


@pytest.mark.parametrize("blob", [b"", b"XXXX\x00\x00\x00\x00\x05\x00", b"SEM1\x10\x00\x00\x00\x05\x00\x01"])
def test_malformed_payload_raises_format_error(codec: SemanticCodec, blob: bytes) -> None:
    with pytest.raises(CodecFormatError):
        codec.decode(blob)


def test_bad_phi_and_samples_rejected(codec: SemanticCodec) -> None:
    with pytest.raises(ValueError, match="0 < phi <= 1"):
        codec.encode(np.zeros(64, np.int16), 0.0)
    with pytest.raises(TypeError):
        codec.encode(np.zeros(64), 0.5)


def test_train_command_derives_the_default_phi_min(tmp_path: Path) -> None:
    """`twinbed train semantic-codec` saves the codec, its record, CSV and PNG, and derives the
    scenario's default phi_min (10/64) for the 1 % accuracy target."""
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", str(tmp_path), "train",
                          "semantic-codec"], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert "phi_min = 0.15625" in out.stdout
    codecs = tmp_path / "codecs"
    for f in ("semantic-codec.npz", "semantic-codec.json", "semantic-error.csv",
              "semantic-error.png"):
        assert (codecs / f).stat().st_size > 0
    loaded = SemanticCodec.load(codecs / "semantic-codec.npz")
    assert loaded.meta["phi_min"] == SemanticParams().phi_min
    assert loaded.meta["seed"] == 1000 and "semantic-codec" in loaded.meta["command"]


def test_train_command_bad_target_is_one_line_exit_2(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", str(tmp_path), "train",
                          "semantic-codec", "--target-nrmse", "2"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--target-nrmse" in out.stderr
