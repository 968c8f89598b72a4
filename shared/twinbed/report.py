"""Figure artifacts: CSV files, PNG plots and the table of the paper's claims beside ours.

Every ``twinbed reproduce`` writes ``figN.csv`` and ``figN.png`` to its output directory and
prints a :func:`claims_table`: what the paper states, what this run reproduced, and a verdict.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Claim", "claims_table", "pyplot", "save_png", "write_claims", "write_csv"]


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


def save_png(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
