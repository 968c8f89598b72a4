"""The scenario's semantic codec artifact: training, the recovery-error curve, phi_min, loading.

``twinbed train semantic-codec`` fits :class:`twinbed.codecs.semantic.SemanticCodec` on frames of
the physical process drawn with a training seed, measures the recovery error for every phi on
held-out channels of a *different* process seed, derives phi_min (the smallest phi whose NRMSE
meets the target), and saves ``<data>/codecs/semantic-codec.npz`` with ``semantic-codec.json``
(seed, command, curve, phi_min, checksum), ``semantic-error.csv`` and ``semantic-error.png``.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.codecs.semantic import SemanticCodec, error_curve, phi_min_for, training_frames
from twinbed.physical import BandLimitedSignal
from twinbed.report import pyplot, save_png, write_csv
from twinbed.scenarios.semantic.learned import CODEC
from twinbed.scenarios.semantic.params import SemanticParams

__all__ = ["CODEC_COMMAND", "codec_path", "load_codec", "train_codec"]

CODEC_COMMAND = CODEC.train
NRMSE_TARGET = 0.01  # recovery accuracy target: 1 % RMS error (40 dB), README.md says why
FRAME = 64
TRAIN_SEED = 1000
HELD_OUT_SEED = 2000  # a different process: other tones, other mixes
HELD_OUT_CHANNELS = 16
HELD_OUT_SAMPLES = 43_750  # 0.7 Mbit of int16 samples: one mid-range slot of sensed data


def codec_path(data_dir: str | Path) -> Path:
    """Where ``twinbed train semantic-codec`` saves the codec (the user's copy, which wins over
    the shipped one: :data:`learned.CODEC`)."""
    return CODEC.user_path(data_dir, SemanticParams(), 0)


def load_codec(data_dir: str | Path) -> SemanticCodec:
    """The codec a run uses: the data directory's, else the shipped one; a missing one is a
    MissingArtifactError naming the command, a damaged one a CorruptArtifactError."""
    return CODEC.load_for(SemanticParams(), 0, data_dir)


def train_codec(data_dir: str | Path, *, seed: int = TRAIN_SEED, frame: int = FRAME,
                target: float = NRMSE_TARGET, plot: bool = True
                ) -> tuple[SemanticCodec, dict[str, Any]]:
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
