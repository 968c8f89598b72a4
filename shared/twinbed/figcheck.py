"""Assertions for figure tests, shared by every scenario's tests.

    from twinbed.figcheck import check_claims, check_csv, check_png

    rows = check_csv(out / "fig3.csv", ["T_max_s"], min_seeds=2)   # seeds + interval columns
    check_png(out / "fig3.png", bands=6, paper_points=2)          # artists really drawn
    check_claims(out / "fig3-claims.json", reasons=REASONS)       # computed, reasons resolve

Each raises AssertionError with a message that says what is missing. ``check_png`` counts
artists from the inventory :func:`twinbed.report.save_png` stores in the PNG, so a figure whose
bands collapsed to zero height, whose paper markers fall outside the axes or that has no
"paper" legend entry fails, not only one whose file is missing.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from twinbed.claims import DIFFERS, HOLDS, ClaimsFile, Reason, load
from twinbed.report import drawn

__all__ = ["REPO", "check_claims", "check_csv", "check_png", "check_reasons"]

REPO = Path(__file__).resolve().parents[2]


def _float(cell: str) -> float:
    return float(cell) if cell not in ("", None) else math.nan


def check_csv(path: str | Path, values: Sequence[str], *, min_seeds: int = 2,
              seeds_column: str = "seeds") -> list[dict[str, str]]:
    """Every row has ``v``, ``v_lo``, ``v_hi`` for each ``v`` in ``values`` with
    lo <= v <= hi, and a ``seeds`` column listing at least ``min_seeds`` seeds."""
    with Path(path).open() as f:
        rows = list(csv.DictReader(f))
    assert rows, f"{path}: no rows"
    header = set(rows[0])
    for v in values:
        for col in (v, f"{v}_lo", f"{v}_hi"):
            assert col in header, f"{path}: no column {col!r} (have {sorted(header)})"
    assert seeds_column in header, f"{path}: no {seeds_column!r} column"
    for i, r in enumerate(rows):
        seeds = json.loads(r[seeds_column])
        assert isinstance(seeds, list) and len(seeds) >= min_seeds, \
            f"{path} row {i}: {seeds_column} = {r[seeds_column]!r}, expected >= {min_seeds} seeds"
        for v in values:
            x, lo, hi = (_float(r[c]) for c in (v, f"{v}_lo", f"{v}_hi"))
            if not math.isnan(x):
                assert lo <= x <= hi, f"{path} row {i}: {v} = {x} outside [{lo}, {hi}]"
    return rows


def check_png(path: str | Path, *, bands: int = 0, errorbars: int = 0,
              paper_points: int = 0) -> dict[str, Any]:
    """At least ``bands`` confidence bands of non-zero height, ``errorbars`` error-bar groups
    and ``paper_points`` of the paper's numbers visible inside the axes (with a ``paper``
    legend entry). Returns the inventory for further checks."""
    p = Path(path)
    assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{p}: not a PNG"
    inv = drawn(p)
    assert inv, f"{p}: no artist inventory (not written by twinbed.report.save_png)"
    assert inv["bands"] >= bands, f"{p}: {inv['bands']} confidence bands, expected >= {bands}"
    assert inv["errorbars"] >= errorbars, \
        f"{p}: {inv['errorbars']} error-bar groups, expected >= {errorbars}"
    assert inv["paper_points"] >= paper_points, \
        f"{p}: {inv['paper_points']} of the paper's points visible, expected >= {paper_points}"
    if paper_points:
        assert any(t.startswith("paper") for t in inv["legend"]), \
            f"{p}: no legend entry marked 'paper' (legend: {inv['legend']})"
    return inv


def _slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(md: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", md.read_text(), re.M)}


def _check_link(link: str, root: Path, where: str) -> None:
    file, _, anchor = link.partition("#")
    target = root / file
    assert target.is_file(), f"{where}: link {link!r}: no file {target}"
    if anchor:
        assert anchor in _anchors(target), \
            f"{where}: link {link!r}: no heading with anchor #{anchor} in {file}"


def check_reasons(reasons: Mapping[str, Reason], ids: Iterable[str], *,
                  root: Path = REPO) -> None:
    """Every declared reason belongs to a claim id (no typo silently drops one) and its link
    resolves to a file and heading in the repository."""
    known = set(ids)
    for key, r in reasons.items():
        assert key in known, f"reason for unknown claim id {key!r} (ids: {sorted(known)})"
        assert r.text.strip(), f"reason {key!r}: empty text"
        _check_link(r.link, root, f"reason {key!r}")


def check_claims(path: str | Path, *, reasons: Mapping[str, Reason] | None = None,
                 min_claims: int = 1, root: Path = REPO) -> ClaimsFile:
    """A computed claims file (``twinbed-claims/1``): every claim has a rule and a verdict,
    explained ones link to a heading that exists, ``reasons`` (the scenario's declared
    explanations) all name claims of this file."""
    f = load(path)
    assert isinstance(f, ClaimsFile), f"{path}: legacy claims (verdicts typed by hand)"
    assert len(f.claims) >= min_claims, f"{path}: {len(f.claims)} claims, expected >= {min_claims}"
    assert f.command.startswith("twinbed "), f"{path}: command {f.command!r}"
    for c in f.claims:
        assert c.rule.strip(), f"{path}: claim {c.id!r} has no rule"
        assert c.verdict in (HOLDS, DIFFERS), f"{path}: claim {c.id!r} verdict {c.verdict!r}"
        if c.reason:
            _check_link(c.link, root, f"{path}: claim {c.id!r}")
    if reasons is not None:
        check_reasons({k: r for k, r in reasons.items()
                       if k.split("/")[0] == f.claims[0].id.split("/")[0]},
                      (c.id for c in f.claims), root=root)
    return f
