"""Radio helpers shared by the scenarios: unit conversions at the dB/dBm boundary.

Parameters are given in dB/dBm where the papers give them (``*_db``, ``*_dbm`` fields) and
converted to linear SI values once, here.
"""

from twinbed.radio.units import db_to_lin, dbm_to_w, lin_to_db, w_to_dbm

__all__ = ["db_to_lin", "dbm_to_w", "lin_to_db", "w_to_dbm"]
