"""Figure artifacts: CSV files, PNG plots and the table of the paper's claims beside ours.

Every ``twinbed reproduce`` writes ``figN.csv`` and ``figN.png`` to its output directory and
prints a claims table: what the paper states, what this run reproduced, and a verdict.

Plotting with intervals and the paper's numbers (see docs/ARCHITECTURE.md, "Statistics and
computed claims"):

- :func:`band` draws a curve with its 95 % confidence band, :func:`errorbars` points or bars
  with their intervals (both take a list of :class:`twinbed.stats.Estimate`);
- :func:`paper_points`, :func:`paper_hline`, :func:`paper_vline` draw the paper's stated
  numbers on the same axes, always black, star markers or dash-dot lines, labelled
  ``paper: ...`` in the legend;
- :func:`save_png` writes the PNG and stores in it (PNG text chunk ``twinbed-artists``) an
  inventory of what is drawn: bands, error bars, the paper's visible points, legend entries.
  :func:`drawn` reads it back; ``twinbed.figcheck`` turns it into test assertions.

:class:`Claim` and :func:`claims_table` / :func:`write_claims` are the hand-typed format of the
scenarios not yet converted to :mod:`twinbed.claims`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PAPER_STYLE",
    "Claim",
    "band",
    "claims_table",
    "drawn",
    "errorbars",
    "inventory",
    "paper_hline",
    "paper_points",
    "paper_vline",
    "pyplot",
    "save_png",
    "write_claims",
    "write_csv",
]

PAPER_STYLE: dict[str, Any] = {"color": "black", "marker": "*", "ms": 12, "ls": "none",
                               "zorder": 6, "gid": "paper"}
PAPER_LINE: dict[str, Any] = {"color": "black", "ls": "-.", "lw": 1.2, "zorder": 6,
                              "gid": "paper"}
_ARTISTS_KEY = "twinbed-artists"


@dataclass(frozen=True)
class Claim:
    """One stated result of the paper next to the reproduced number."""

    what: str
    paper: str
    reproduced: str
    verdict: str = ""  # e.g. "holds", "differs: see README", "qualitative: holds"


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Rows of dicts to CSV; the header is the union of keys in first-seen order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        for row in rows:
            w.writerow({k: _cell(v) for k, v in row.items()})
    tmp.replace(path)
    return path


def _cell(v: Any) -> Any:
    if hasattr(v, "item") and getattr(v, "shape", None) == ():  # numpy scalar -> Python
        v = v.item()
    if isinstance(v, float):
        return repr(float(v))
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return v


def claims_table(claims: Iterable[Claim], title: str = "") -> str:
    """A fixed-width text table of claims (what | paper | reproduced | verdict)."""
    rows = [("what", "paper", "reproduced", "verdict")]
    rows += [(c.what, c.paper, c.reproduced, c.verdict) for c in claims]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [title] if title else []
    for j, r in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_claims(path: str | Path, claims: Iterable[Claim]) -> Path:
    """The claims as JSON (what tests and people compare across runs)."""
    path = Path(path)
    path.write_text(json.dumps([asdict(c) for c in claims], indent=1))
    return path


def pyplot() -> Any:  # matplotlib.pyplot
    """matplotlib's pyplot on the non-interactive Agg backend (no display on these machines)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _bounds(estimates: Sequence[Any]) -> tuple[Any, Any, Any]:
    v = np.array([e.value for e in estimates], float)
    lo = np.array([e.lo for e in estimates], float)
    hi = np.array([e.hi for e in estimates], float)
    # an interval that is infinite (one sample) or undefined is not drawn: clamp it to the value
    lo = np.where(np.isfinite(lo), lo, v)
    hi = np.where(np.isfinite(hi), hi, v)
    return v, lo, hi


def band(ax: Any, x: Sequence[float], estimates: Sequence[Any], label: str, *,
         alpha: float = 0.2, **line_kw: Any) -> Any:
    """A curve of the estimates' values and a shaded band between their interval bounds.

    Returns the line; the band has the line's colour and ``gid="ci-band"``."""
    v, lo, hi = _bounds(estimates)
    (line,) = ax.plot(x, v, label=label, **line_kw)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=alpha, lw=0, gid="ci-band")
    return line


def errorbars(ax: Any, x: Sequence[float], estimates: Sequence[Any], label: str | None, *,
              capsize: float = 3, **kw: Any) -> Any:
    """Points (or bar tops) with asymmetric error bars from the estimates' intervals."""
    v, lo, hi = _bounds(estimates)
    kw.setdefault("fmt", "o")
    return ax.errorbar(x, v, yerr=np.vstack([v - lo, hi - v]), label=label, capsize=capsize,
                       gid="ci-errorbar", **kw)


def _paper_label(label: str) -> str:
    return label if label.startswith("paper") else f"paper: {label}"


def paper_points(ax: Any, x: Sequence[float], y: Sequence[float], label: str, **kw: Any) -> Any:
    """The paper's stated numbers as black stars, labelled ``paper: <label>``."""
    (line,) = ax.plot(x, y, label=_paper_label(label), **{**PAPER_STYLE, **kw})
    return line


def paper_hline(ax: Any, y: float, label: str, **kw: Any) -> Any:
    """A number the paper states for a whole sweep ("up to 30.9 %"), across the axes."""
    return ax.axhline(y, label=_paper_label(label), **{**PAPER_LINE, **kw})


def paper_vline(ax: Any, x: float, label: str, **kw: Any) -> Any:
    """A position the paper states on the x axis ("saturates when beta passes 1.54")."""
    return ax.axvline(x, label=_paper_label(label), **{**PAPER_LINE, **kw})


def _inside(ax: Any, artist: Any) -> int:
    """How many of a line's data points land inside the axes (after limits and scales)."""
    xy = np.column_stack([np.asarray(artist.get_xdata(), float),
                          np.asarray(artist.get_ydata(), float)])
    pts = artist.get_transform().transform(xy)
    bb = ax.bbox
    ok = (np.isfinite(pts).all(axis=1) & (pts[:, 0] >= bb.x0 - 0.5) & (pts[:, 0] <= bb.x1 + 0.5)
          & (pts[:, 1] >= bb.y0 - 0.5) & (pts[:, 1] <= bb.y1 + 0.5))
    return int(ok.sum())


def _area(v: Any) -> float:
    """Area of a polygon (shoelace), relative to its bounding box: 0 for a collapsed band."""
    v = np.asarray(v, float)
    v = v[np.isfinite(v).all(axis=1)]
    if len(v) < 3:
        return 0.0
    x, y = v[:, 0], v[:, 1]
    box = float(np.ptp(x) * np.ptp(y))
    a = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    return a / box if box > 0 and a / box > 1e-9 else 0.0


def inventory(fig: Any) -> dict[str, Any]:
    """What a figure draws, by counting its artists (call after layout, as save_png does).

    ``bands``: filled areas (fill_between) of non-zero height; ``errorbars``: error-bar
    groups with at least one bar of non-zero length, ``errorbar_segments`` their bars;
    ``paper``: artists labelled ``paper...``; ``paper_points``: their data points visible
    inside the axes; ``legend``: every legend's texts."""
    from matplotlib.collections import PolyCollection
    from matplotlib.container import ErrorbarContainer

    out: dict[str, Any] = {"axes": 0, "bands": 0, "errorbars": 0, "errorbar_segments": 0,
                           "paper": 0, "paper_points": 0, "legend": []}
    for ax in fig.axes:
        out["axes"] += 1
        for col in ax.collections:
            if isinstance(col, PolyCollection) and col.get_gid() == "ci-band":
                if any(_area(p.vertices) > 0 for p in col.get_paths()):
                    out["bands"] += 1
        for cont in ax.containers:
            if isinstance(cont, ErrorbarContainer):
                segs = [s for lc in cont.lines[2] for s in lc.get_segments()]
                n = sum(1 for s in segs if np.ptp(np.asarray(s)[:, 1]) > 0
                        or np.ptp(np.asarray(s)[:, 0]) > 0)
                if n:
                    out["errorbars"] += 1
                    out["errorbar_segments"] += n
        for line in ax.lines:
            if str(line.get_label()).startswith("paper"):
                out["paper"] += 1
                out["paper_points"] += _inside(ax, line)
        leg = ax.get_legend()
        if leg is not None:
            out["legend"] += [t.get_text() for t in leg.get_texts()]
    for leg in fig.legends:
        out["legend"] += [t.get_text() for t in leg.get_texts()]
    return out


def save_png(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Lay out, write the PNG (with the :func:`inventory` of its artists inside), close."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.canvas.draw()  # final limits and transforms, for the inventory
    fig.savefig(path, dpi=dpi, metadata={_ARTISTS_KEY: json.dumps(inventory(fig))})
    pyplot().close(fig)
    return path


def drawn(path: str | Path) -> dict[str, Any]:
    """The artist inventory :func:`save_png` stored in a PNG (empty for other PNGs)."""
    from PIL import Image

    with Image.open(path) as im:
        text = getattr(im, "text", {}).get(_ARTISTS_KEY)
    return json.loads(text) if text else {}
