"""twinbed.radio units."""

import numpy as np
import pytest

from twinbed.radio import db_to_lin, dbm_to_w, lin_to_db, w_to_dbm


def test_known_values_and_round_trips() -> None:
    assert dbm_to_w(30.0) == 1.0 and dbm_to_w(0.0) == pytest.approx(1e-3)
    assert dbm_to_w(15.0) == pytest.approx(0.0316227766)
    assert db_to_lin(-30.0) == pytest.approx(1e-3)
    x = np.array([-90.0, 0.0, 23.0])
    assert np.allclose(w_to_dbm(dbm_to_w(x)), x) and np.allclose(lin_to_db(db_to_lin(x)), x)
