"""twinbed.report: CSV, claims table, PNG."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from twinbed.report import Claim, claims_table, pyplot, save_png, write_claims, write_csv


def test_csv_header_is_union_of_keys(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "f.csv", [{"a": 1, "b": 0.1}, {"a": 2, "c": [1, 2]}])
    rows = list(csv.DictReader(p.open()))
    assert list(rows[0]) == ["a", "b", "c"]
    assert rows[0]["b"] == "0.1" and rows[1]["c"] == "[1, 2]" and rows[1]["b"] == ""


def test_claims_table_aligns_columns() -> None:
    text = claims_table([Claim("reduction", "30.9 %", "29.8 %", "holds"),
                         Claim("saturation beta", "1.54", "1.6", "")], title="Fig. 3")
    lines = text.splitlines()
    assert lines[0] == "Fig. 3"
    assert lines[1].split() == ["what", "paper", "reproduced", "verdict"]
    assert lines[3].index("30.9 %") == lines[1].index("paper")
    assert "29.8 %" in lines[3] and "1.6" in lines[4]


def test_claims_json_and_png(tmp_path: Path) -> None:
    write_claims(tmp_path / "c.json", [Claim("x", "1", "2")])
    assert json.loads((tmp_path / "c.json").read_text())[0]["reproduced"] == "2"
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = save_png(fig, tmp_path / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_numpy_scalars_are_plain_numbers(tmp_path: Path) -> None:
    """numpy 2 reprs scalars as np.float64(...); the CSV must hold plain numbers."""
    import numpy as np

    p = write_csv(tmp_path / "n.csv", [{"x": np.float64(0.25), "n": np.int64(3)}])
    row = next(csv.DictReader(p.open()))
    assert row == {"x": "0.25", "n": "3"}
