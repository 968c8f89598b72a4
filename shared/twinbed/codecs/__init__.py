"""Lossless payload codecs: named settings, a shared interface and ratio/speed calibration.

See :mod:`twinbed.codecs.lossless` for the settings and the ``delta16+`` sample pre-filter.
"""

from twinbed.codecs.lossless import (
    BASE_SETTINGS,
    DELTA16_PREFIX,
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

__all__ = [
    "BASE_SETTINGS",
    "DELTA16_PREFIX",
    "LADDER",
    "CodecPoint",
    "LosslessCodec",
    "UnknownCodecError",
    "calibrate",
    "closest_setting",
    "delta16_forward",
    "delta16_inverse",
    "get_codec",
]
