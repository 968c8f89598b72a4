"""A real semantic codec: a linear (PCA) encoder/decoder fitted on the physical process.

A UD cuts its int16 samples into frames of ``frame`` samples and keeps, per frame, the
coordinates on the first ``m = round(phi * frame)`` principal directions of the process (fitted
by :func:`fit` on sample frames of :class:`twinbed.physical.BandLimitedSignal`); the coordinates
travel as int16, so the representation is ``m/frame = phi`` times the raw size (plus a 10-byte
header). The edge recovers each frame as ``mean + basis[:, :m] @ coords`` and rounds to ADC
codes. At ``m = frame`` (phi = 1, no semantic extraction) the raw samples travel unchanged.

The process is band-limited, so a few directions carry nearly all of it: the recovery error
falls steeply with phi until it reaches the measurement noise. :func:`error_curve` measures it
on held-out data, :func:`phi_min_for` picks the smallest phi meeting an accuracy target.

    codec = SemanticCodec.fit(training_frames(seed=1000), frame=64)
    blob = codec.encode(samples, phi=0.3)          # bytes, ~0.3 x raw
    x_hat = codec.decode(blob)                      # int16 samples, same length
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.artifact_store import stamp
from twinbed.physical import BandLimitedSignal

__all__ = [
    "CodecFormatError",
    "ErrorPoint",
    "SemanticCodec",
    "error_curve",
    "phi_min_for",
    "training_frames",
]

_MAGIC = b"SEM1"
_HEADER = struct.Struct("<4sIH")  # magic, number of samples, coordinates per frame


class CodecFormatError(ValueError):
    """A payload that is not this codec's output (bad header or length)."""


@dataclass(frozen=True)
class ErrorPoint:
    """Recovery error at one extraction factor, measured on held-out samples."""

    m: int
    phi: float  # m / frame: the size ratio of the representation
    rmse_lsb: float
    nrmse: float  # rmse / rms of the samples
    snr_db: float


class SemanticCodec:
    """PCA codec; ``basis`` (frame, frame) has orthonormal columns by decreasing variance."""

    def __init__(self, basis: np.ndarray, mean: np.ndarray, meta: dict[str, Any] | None = None
                 ) -> None:
        basis = np.asarray(basis, dtype=np.float64)
        mean = np.asarray(mean, dtype=np.float64)
        if basis.ndim != 2 or basis.shape[0] != basis.shape[1] or mean.shape != basis.shape[:1]:
            raise ValueError(f"expected a square basis and a matching mean, got {basis.shape} "
                             f"and {mean.shape}")
        self.basis = basis
        self.mean = mean
        self.frame = basis.shape[0]
        self.meta = dict(meta or {})

    # -- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, frames: np.ndarray, meta: dict[str, Any] | None = None) -> SemanticCodec:
        """Principal directions of ``frames`` (n, frame) by SVD of the centred data."""
        X = np.asarray(frames, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < X.shape[1]:
            raise ValueError("expected at least as many frames as samples per frame, got "
                             f"{X.shape}")
        mean = X.mean(axis=0)
        _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
        basis = vt.T
        basis *= np.where(basis[0] < 0, -1.0, 1.0)  # fixed sign: the same fit gives the same bytes
        return cls(basis, mean, meta)

    # -- coding ----------------------------------------------------------------------------
    def coords(self, phi: float) -> int:
        """m = round(phi * frame), at least 1: coordinates kept per frame."""
        if not 0.0 < phi <= 1.0:
            raise ValueError(f"expected 0 < phi <= 1, got {phi}")
        return int(min(self.frame, max(1, round(phi * self.frame))))

    def encode(self, samples: np.ndarray, phi: float) -> bytes:
        """The semantic representation of int16 ``samples`` at extraction factor ``phi``."""
        x = np.asarray(samples)
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"expected 1-D integer samples, got {x.dtype} {x.shape}")
        m = self.coords(phi)
        head = _HEADER.pack(_MAGIC, x.size, m)
        if m == self.frame:
            return head + x.astype("<i2").tobytes()
        frames = self._frames(x)
        c = np.rint((frames - self.mean) @ self.basis[:, :m])
        return head + np.clip(c, -32768, 32767).astype("<i2").tobytes()

    def decode(self, blob: bytes) -> np.ndarray:
        """Recovered int16 samples (exact at phi = 1)."""
        if len(blob) < _HEADER.size:
            raise CodecFormatError(f"payload of {len(blob)} bytes is shorter than the header")
        magic, n, m = _HEADER.unpack_from(blob)
        if magic != _MAGIC or not 1 <= m <= self.frame:
            raise CodecFormatError(f"not a semantic payload for frame {self.frame} "
                                   f"(magic {magic!r}, m={m})")
        if (len(blob) - _HEADER.size) % 2:
            raise CodecFormatError(f"odd body length {len(blob) - _HEADER.size} (int16 expected)")
        body = np.frombuffer(blob, dtype="<i2", offset=_HEADER.size)
        if m == self.frame:
            if body.size != n:
                raise CodecFormatError(f"expected {n} raw samples, got {body.size}")
            return body.astype(np.int16)
        n_frames = -(-n // self.frame)
        if body.size != n_frames * m:
            raise CodecFormatError(f"expected {n_frames * m} coordinates, got {body.size}")
        c = body.astype(np.float64).reshape(n_frames, m)
        x = c @ self.basis[:, :m].T + self.mean
        return np.clip(np.rint(x.reshape(-1)[:n]), -32768, 32767).astype(np.int16)

    def _frames(self, x: np.ndarray) -> np.ndarray:
        pad = (-x.size) % self.frame
        xf = x.astype(np.float64)
        if pad:
            xf = np.concatenate([xf, np.full(pad, xf[-1] if xf.size else 0.0)])
        return xf.reshape(-1, self.frame)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """``path`` (.npz, compressed) plus ``path.json`` with the meta (seed, command,
        metrics) and the file's checksum (:func:`twinbed.artifact_store.stamp`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez_compressed(tmp, basis=self.basis, mean=self.mean)
        tmp.replace(path)
        self.meta = stamp(self.meta, path)
        path.with_suffix(".json").write_text(json.dumps(self.meta, indent=1, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SemanticCodec:
        path = Path(path)
        with np.load(path) as z:
            basis, mean = z["basis"], z["mean"]
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return cls(basis, mean, meta)


def training_frames(seed: int, frame: int = 64, channels: int = 32, blocks: int = 8,
                    block_samples: int = 4096) -> np.ndarray:
    """Frames (n, frame) of the physical process: ``channels`` channels x ``blocks`` blocks."""
    sig = BandLimitedSignal(seed, channels)
    x = np.concatenate([sig.samples(c, b, block_samples)
                        for c in range(channels) for b in range(blocks)])
    x = x[: x.size - x.size % frame]
    return x.reshape(-1, frame)


def error_curve(codec: SemanticCodec, samples: np.ndarray) -> list[ErrorPoint]:
    """Recovery error of ``samples`` (n_channels, n) through encode/decode for every m."""
    X = np.asarray(samples)
    ref = X.astype(np.float64)
    rms = float(np.sqrt(np.mean(ref**2)))
    out: list[ErrorPoint] = []
    for m in range(1, codec.frame + 1):
        phi = m / codec.frame
        rec = np.stack([codec.decode(codec.encode(row, phi)) for row in X]).astype(np.float64)
        rmse = float(np.sqrt(np.mean((rec - ref) ** 2)))
        snr = float("inf") if rmse == 0 else 20.0 * np.log10(rms / rmse)
        out.append(ErrorPoint(m, phi, rmse, rmse / rms, snr))
    return out


def phi_min_for(curve: list[ErrorPoint], nrmse_target: float) -> float:
    """The smallest phi whose recovery error meets ``nrmse_target`` (and every larger phi does)."""
    ok = [pt.nrmse <= nrmse_target for pt in curve]
    for i, pt in enumerate(curve):
        if all(ok[i:]):
            return pt.phi
    raise ValueError(f"no extraction factor meets NRMSE <= {nrmse_target}")
