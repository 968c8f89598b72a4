"""Radio physics shared by the scenarios, vectorized over numpy arrays.

* :mod:`.units` dB/dBm <-> linear/W at the parameter boundary (``*_db``/``*_dbm`` fields);
* :mod:`.fading` small-scale fading power draws (Rayleigh, Rician), pluggable;
* :mod:`.propagation` path loss, SNR, the Shannon rate.

Each function is tested once against its closed form (tests/test_radio.py); a scenario uses
them with its paper's settings instead of writing its own.
"""

from twinbed.radio.fading import Fading, Rayleigh, Rician, rayleigh_power, rician_power
from twinbed.radio.propagation import (
    noise_power_w,
    path_gain,
    path_loss_db,
    shannon_rate_bps,
    snr,
)
from twinbed.radio.units import db_to_lin, dbm_to_w, lin_to_db, w_to_dbm

__all__ = [
    "Fading",
    "Rayleigh",
    "Rician",
    "db_to_lin",
    "dbm_to_w",
    "lin_to_db",
    "noise_power_w",
    "path_gain",
    "path_loss_db",
    "rayleigh_power",
    "rician_power",
    "shannon_rate_bps",
    "snr",
    "w_to_dbm",
]
