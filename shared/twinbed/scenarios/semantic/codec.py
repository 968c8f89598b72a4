"""The scenario's semantic codec artifact: training, the recovery-error curve, phi_min, loading.

``twinbed train semantic-codec`` fits :class:`twinbed.codecs.semantic.SemanticCodec` on frames of
the physical process drawn with a training seed, measures the recovery error for every phi on
held-out channels of a *different* process seed, derives phi_min (the smallest phi whose NRMSE
meets the target), and saves ``<data>/codecs/semantic.npz`` with ``semantic.json`` (seed, command,
curve, phi_min), ``semantic-error.csv`` and ``semantic-error.png``.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.codecs.semantic import SemanticCodec, error_curve, phi_min_for, training_frames
from twinbed.physical import BandLimitedSignal

__all__ = ["CODEC_COMMAND", "codec_path", "load_codec", "train_codec"]

CODEC_COMMAND = "twinbed train semantic-codec"
NRMSE_TARGET = 0.01  # recovery accuracy target: 1 % RMS error (40 dB), README.md says why
FRAME = 64
TRAIN_SEED = 1000
HELD_OUT_SEED = 2000  # a different process: other tones, other mixes
HELD_OUT_CHANNELS = 16
HELD_OUT_SAMPLES = 43_750  # 0.7 Mbit of int16 samples: one mid-range slot of sensed data


def codec_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "codecs" / "semantic.npz"


def load_codec(data_dir: str | Path, cache: dict[str, Any] | None = None) -> SemanticCodec:
    """The trained codec; raises MissingArtifactError naming the command when absent."""
    from twinbed.agents import MissingArtifactError

    path = codec_path(data_dir)
    if cache is not None and "semantic_codec" in cache:
        return cache["semantic_codec"]
    if not path.exists():
        raise MissingArtifactError(path, CODEC_COMMAND)
    codec = SemanticCodec.load(path)
    if cache is not None:
        cache["semantic_codec"] = codec
    return codec


def train_codec(data_dir: str | Path, *, seed: int = TRAIN_SEED, frame: int = FRAME,
                target: float = NRMSE_TARGET, plot: bool = True) -> tuple[SemanticCodec, dict[str, Any]]:
    """Fit, measure, save; returns the codec and its record."""
    codec = SemanticCodec.fit(training_frames(seed, frame=frame))
    sig = BandLimitedSignal(HELD_OUT_SEED, HELD_OUT_CHANNELS)
    held = np.stack([sig.samples(c, 0, HELD_OUT_SAMPLES) for c in range(HELD_OUT_CHANNELS)])
    curve = error_curve(codec, held)
    phi_min = phi_min_for(curve, target)
    record = {"seed": seed, "frame": frame, "nrmse_target": target, "phi_min": phi_min,
              "held_out": {"seed": HELD_OUT_SEED, "channels": HELD_OUT_CHANNELS,
                           "samples": HELD_OUT_SAMPLES},
              "curve": [asdict(c) for c in curve],
              "command": " ".join(["twinbed", *sys.argv[1:]]) if sys.argv else CODEC_COMMAND}
    codec.meta = record
    path = codec.save(codec_path(data_dir))
    from twinbed.report import pyplot, save_png, write_csv

    write_csv(path.with_name("semantic-error.csv"), [asdict(c) for c in curve])
    if plot:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        ax.semilogy([c.phi for c in curve], [c.nrmse for c in curve], "o-", ms=3)
        ax.axhline(target, color="gray", ls="--", label=f"target NRMSE {target:g}")
        ax.axvline(phi_min, color="C3", ls=":", label=f"phi_min = {phi_min:.4g}")
        ax.set_xlabel("semantic extraction factor phi (payload / raw)")
        ax.set_ylabel("recovery NRMSE (held-out)")
        ax.legend()
        save_png(fig, path.with_name("semantic-error.png"))
    return codec, record
