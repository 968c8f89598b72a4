"""The simulated physical world that the sensors observe (ground truth for the twins).

See :mod:`twinbed.physical.signal` for the band-limited multichannel process.
"""

from twinbed.physical.signal import BandLimitedSignal, SignalParams, from_bytes, to_bytes

__all__ = ["BandLimitedSignal", "SignalParams", "from_bytes", "to_bytes"]
