"""Computed verdicts: each of a paper's claims is a predicate with a stated rule, run on the data.

A figure turns its samples into :class:`twinbed.stats.Estimate` s, passes each to a predicate
and gets an :class:`Outcome` (holds or not, the rule in words, the paper's number beside ours).
:func:`claim` names it and attaches the scenario's explanation when it differs. Nobody types a
verdict.

Predicates (every interval is the estimate's 95 % confidence interval):

=================================  =============================================================
``near(est, paper, tol)``          holds when the interval lies within paper +- tol (absolute)
``at_most(est, bound)``            holds when the interval's upper end is <= bound
``at_least(est, bound)``           holds when the interval's lower end is >= bound
``greater(diff, "A", "B")``        A > B: holds when the interval of A - B lies above 0
``less(diff, "A", "B")``           A < B: holds when the interval of A - B lies below 0
``close(rel, tol)``                "about the same": the interval of a relative difference lies
                                   within +- tol
``rises(slope)`` / ``falls``       holds when the fitted slope's interval lies above / below 0
``settles(change, tol)``           "converges": the interval of the change over the last part
                                   of the curve lies within +- tol
``fact(ok, ...)``                  an exact property of the data (no sampling noise), e.g.
                                   "monotone in every one of 300 frames"
``all_of(*outcomes)``              holds when every part holds
=================================  =============================================================

An undefined estimate (e.g. a ratio whose denominator's interval includes 0) never holds, and a
single sample has an infinite interval, so nothing that needs an interval holds on it.

Verdicts: ``holds`` or ``differs``; a claim that differs and carries a :class:`Reason` (the
scenario's explanation and a link to where it is measured) counts as ``differs-explained``.
:func:`write` stores a figure's claims as JSON (format ``twinbed-claims/1``);
:func:`summarize` counts them per scenario for ``twinbed claims``.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from twinbed.scenarios import scenario_modules
from twinbed.stats import Estimate

__all__ = [
    "DIFFERS",
    "EXPLAINED",
    "FORMAT",
    "HOLDS",
    "Claim",
    "ClaimsFile",
    "LegacyClaimsFile",
    "Outcome",
    "Reason",
    "ScenarioSummary",
    "all_of",
    "at_least",
    "at_most",
    "claim",
    "close",
    "converted_scenarios",
    "count",
    "fact",
    "falls",
    "greater",
    "less",
    "load",
    "markdown",
    "near",
    "rises",
    "settles",
    "summarize",
    "summary_json",
    "summary_text",
    "table",
    "write",
]

HOLDS = "holds"
DIFFERS = "differs"
EXPLAINED = "differs-explained"
FORMAT = "twinbed-claims/1"
CI = "95 % CI"


@dataclass(frozen=True)
class Outcome:
    """A predicate's result on the data: not yet a named claim."""

    holds: bool
    paper: str  # what the paper states, as printed ("30.9 %", "proposed < baseline 4")
    ours: str  # our number with its interval
    rule: str  # when the claim holds, in words
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    paper_value: float | None = None


def _num(v: float, fmt: str) -> str:
    return f"{v:{fmt}}"


def _outcome(holds: bool, est: Estimate, paper: str, rule: str, fmt: str, unit: str,
             paper_value: float | None = None, prefix: str = "") -> Outcome:
    return Outcome(bool(holds and est.defined), paper, prefix + est.text(fmt, unit), rule,
                   est.value, est.lo, est.hi, paper_value)


def near(est: Estimate, paper: float, tol: float, *, unit: str = "", fmt: str = ".3g",
         paper_text: str | None = None) -> Outcome:
    """The paper's number, within an absolute tolerance: the whole interval in paper +- tol."""
    if tol < 0:
        raise ValueError(f"tol: expected >= 0, got {tol}")
    u = f" {unit}" if unit else ""
    rule = f"{CI} within {paper:g} +- {tol:g}{u}"
    ok = paper - tol <= est.lo and est.hi <= paper + tol
    return _outcome(ok, est, paper_text or f"{paper:g}{u}", rule, fmt, unit, paper)


def at_most(est: Estimate, bound: float, *, paper: str | None = None, unit: str = "",
            fmt: str = ".3g") -> Outcome:
    u = f" {unit}" if unit else ""
    return _outcome(est.hi <= bound, est, paper or f"<= {bound:g}{u}",
                    f"{CI} upper end <= {bound:g}{u}", fmt, unit, bound)


def at_least(est: Estimate, bound: float, *, paper: str | None = None, unit: str = "",
             fmt: str = ".3g") -> Outcome:
    u = f" {unit}" if unit else ""
    return _outcome(est.lo >= bound, est, paper or f">= {bound:g}{u}",
                    f"{CI} lower end >= {bound:g}{u}", fmt, unit, bound)


def greater(diff: Estimate, a: str, b: str, *, paper: str | None = None, unit: str = "",
            fmt: str = ".3g") -> Outcome:
    """a > b, judged on ``diff`` = a - b (paired when a and b share seeds)."""
    return _outcome(diff.lo > 0, diff, paper or f"{a} > {b}", f"{CI} of {a} - {b} above 0",
                    fmt, unit, prefix=f"{a} - {b} = ")


def less(diff: Estimate, a: str, b: str, *, paper: str | None = None, unit: str = "",
         fmt: str = ".3g") -> Outcome:
    """a < b, judged on ``diff`` = a - b."""
    return _outcome(diff.hi < 0, diff, paper or f"{a} < {b}", f"{CI} of {a} - {b} below 0",
                    fmt, unit, prefix=f"{a} - {b} = ")


def close(rel: Estimate, tol: float, *, paper: str = "about the same", unit: str = "%",
          fmt: str = ".3g") -> Outcome:
    """"About the same": the relative difference's interval within +- tol."""
    ok = -tol <= rel.lo and rel.hi <= tol
    return _outcome(ok, rel, paper, f"{CI} of the relative difference within +- {tol:g} {unit}",
                    fmt, unit)


def rises(slope: Estimate, *, paper: str = "rises", per: str = "", fmt: str = ".3g") -> Outcome:
    """The fitted slope's interval lies above 0 (a flat or noisy-flat curve never rises)."""
    return _outcome(slope.lo > 0, slope, paper, f"{CI} of the fitted slope{_per(per)} above 0",
                    fmt, "", prefix="slope ")


def falls(slope: Estimate, *, paper: str = "falls", per: str = "", fmt: str = ".3g") -> Outcome:
    return _outcome(slope.hi < 0, slope, paper, f"{CI} of the fitted slope{_per(per)} below 0",
                    fmt, "", prefix="slope ")


def _per(per: str) -> str:
    return f" (per {per})" if per else ""


def settles(change: Estimate, tol: float, *, paper: str = "converges", unit: str = "",
            fmt: str = ".3g") -> Outcome:
    """The curve has settled: the fitted change over its last part (``stats.change_ci``) is
    within +- tol with 95 % confidence."""
    u = f" {unit}" if unit else ""
    ok = -tol <= change.lo and change.hi <= tol
    return _outcome(ok, change, paper, f"{CI} of the change over the last part within "
                                       f"+- {tol:g}{u}", fmt, unit, prefix="change ")


def fact(ok: bool, *, paper: str, ours: str, rule: str) -> Outcome:
    """An exact property of the data, no sampling involved (say which data in ``rule``)."""
    return Outcome(bool(ok), paper, ours, rule)


def all_of(*parts: Outcome, paper: str | None = None) -> Outcome:
    """Holds when every part holds; the parts' numbers and rules are joined."""
    if not parts:
        raise ValueError("all_of needs at least one outcome")
    return Outcome(all(p.holds for p in parts), paper or "; ".join(p.paper for p in parts),
                   "; ".join(p.ours for p in parts), " and ".join(p.rule for p in parts))


# -- named claims ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reason:
    """Why a claim differs: the measured explanation and where it is shown (a repo-relative
    path, optionally with a ``#heading-anchor``, e.g. the scenario README's section)."""

    text: str
    link: str


@dataclass(frozen=True)
class Claim:
    """One stated result of the paper, judged on our data by a stated rule."""

    id: str  # stable key, unique in its figure: "fig3/reduction-b4"
    what: str
    paper: str
    ours: str
    rule: str
    verdict: str  # HOLDS or DIFFERS
    reason: str = ""
    link: str = ""
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    paper_value: float | None = None

    @property
    def status(self) -> str:
        """``holds``, ``differs-explained`` (a reason is attached) or ``differs``."""
        if self.verdict == HOLDS:
            return HOLDS
        return EXPLAINED if self.reason else DIFFERS


def claim(id: str, what: str, outcome: Outcome,
          reasons: Mapping[str, Reason] | None = None) -> Claim:
    """Name an outcome. ``reasons[id]`` is attached only if the claim differs: a scenario
    declares its explanations up front and the data decides whether they are needed."""
    verdict = HOLDS if outcome.holds else DIFFERS
    r = (reasons or {}).get(id) if verdict == DIFFERS else None
    return Claim(id, what, outcome.paper, outcome.ours, outcome.rule, verdict,
                 r.text if r else "", r.link if r else "",
                 *(_json_float(v) for v in (outcome.value, outcome.lo, outcome.hi,
                                            outcome.paper_value)))


def _json_float(v: float | None) -> float | None:
    """JSON has no inf/nan: store them as None (the text columns keep what they were)."""
    return None if v is None or not math.isfinite(v) else float(v)


# -- tables ---------------------------------------------------------------------------------------
def _verdict_cell(c: Claim, note: int | None = None) -> str:
    if c.status == EXPLAINED:
        return f"differs (explained{f' [{note}]' if note else ''})"
    return c.verdict


def table(claims: Sequence[Claim], title: str = "") -> str:
    """Fixed-width text: claim | paper | ours (95 % CI) | verdict | rule, then the reasons."""
    notes = {c.id: i + 1 for i, c in enumerate(x for x in claims if x.status == EXPLAINED)}
    head = ("claim", "paper", f"ours [{CI}]", "verdict", "rule")
    rows = [head] + [(c.what, c.paper, c.ours, _verdict_cell(c, notes.get(c.id)), c.rule)
                     for c in claims]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [title] if title else []
    for j, r in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    for c in claims:
        if c.id in notes:
            lines.append(f"[{notes[c.id]}] {c.reason} ({c.link})")
    counts = count(claims)
    lines.append(f"{counts[HOLDS]} hold, {counts[EXPLAINED]} differ (explained), "
                 f"{counts[DIFFERS]} differ")
    return "\n".join(lines)


def markdown(claims: Sequence[Claim], link_base: str = "") -> str:
    """A README table; ``link_base`` is prepended to each reason's link (e.g. ``../../../../``
    from a scenario folder to the repository root)."""
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [f"| claim | paper | ours [{CI}] | rule | verdict |", "| --- | --- | --- | --- | --- |"]
    for c in claims:
        v = c.verdict
        if c.status == EXPLAINED:
            v = f"differs, explained: [{esc(c.reason)}]({link_base}{c.link})"
        lines.append(f"| {esc(c.what)} | {esc(c.paper)} | {esc(c.ours)} | {esc(c.rule)} | {v} |")
    return "\n".join(lines)


def count(claims: Iterable[Claim]) -> dict[str, int]:
    out = {HOLDS: 0, EXPLAINED: 0, DIFFERS: 0}
    for c in claims:
        out[c.status] += 1
    return out


# -- files ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimsFile:
    path: Path
    scenario: str
    figure: str
    command: str  # the command that made it (and makes it again)
    seeds: list[int]
    claims: list[Claim]


@dataclass(frozen=True)
class LegacyClaimsFile:
    """A claims file from before computed verdicts (a bare list; verdicts typed by hand)."""

    path: Path


def write(path: str | Path, claims: Sequence[Claim], *, scenario: str, figure: int | str,
          command: str, seeds: Sequence[int]) -> Path:
    """A figure's claims as JSON (``twinbed-claims/1``), written atomically."""
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"claim ids must be unique in a figure, got {ids}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "scenario": scenario, "figure": str(figure), "command": command,
           "seeds": [int(s) for s in seeds], "claims": [asdict(c) for c in claims]}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, allow_nan=False))
    tmp.replace(path)
    return path


def load(path: str | Path) -> ClaimsFile | LegacyClaimsFile:
    """Read a claims file; raises ValueError (naming the file) when it is neither format."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable claims file ({exc})") from None
    if isinstance(doc, list):
        return LegacyClaimsFile(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: expected format {FORMAT!r}")
    try:
        claims = [Claim(**c) for c in doc["claims"]]
        return ClaimsFile(path, doc["scenario"], doc["figure"], doc["command"],
                          list(doc["seeds"]), claims)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed claims file ({exc})") from None


# -- the summary across scenarios -----------------------------------------------------------------
@dataclass
class ScenarioSummary:
    """One scenario's claims files under ``<figures>/<scenario>/``, counted."""

    scenario: str
    converted: bool = True  # its figures.py judges claims with twinbed.claims
    files: list[ClaimsFile] = field(default_factory=list)
    legacy: list[Path] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``converted``, ``not converted`` (verdicts typed by hand) or ``no claims yet``."""
        if self.files:
            return "converted"
        return "not converted" if self.legacy or not self.converted else "no claims yet"

    @property
    def counts(self) -> dict[str, int]:
        return count(c for f in self.files for c in f.claims)


def summarize(figures_dir: str | Path, scenarios: Sequence[str],
              converted: Iterable[str] | None = None) -> list[ScenarioSummary]:
    """Read every ``*claims.json`` under ``figures_dir/<scenario>/`` (what ``twinbed
    reproduce`` writes by default); scenarios without files are listed as such.
    ``converted``: the scenarios whose figures compute their verdicts (default: all)."""
    root = Path(figures_dir)
    # other folders count only if they hold claims (a figure written with --out elsewhere)
    found = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and next(p.glob("*claims.json"), None)) if root.is_dir() else []
    conv = set(scenarios) if converted is None else set(converted)
    out = []
    for name in list(scenarios) + [n for n in found if n not in scenarios]:
        s = ScenarioSummary(name, converted=name in conv)
        for p in sorted((root / name).glob("*claims.json")) if (root / name).is_dir() else []:
            try:
                f = load(p)
            except ValueError as exc:
                s.broken.append(str(exc))
                continue
            if isinstance(f, LegacyClaimsFile):
                s.legacy.append(p)
            else:
                s.files.append(f)
        out.append(s)
    return out


def converted_scenarios() -> list[str]:
    """Names of the scenarios whose ``figures.py`` computes verdicts with this module."""
    out = []
    for spec_module in scenario_modules().values():
        spec = importlib.import_module(spec_module)
        figures = Path(spec.__file__ or "").with_name("figures.py")
        if figures.exists() and re.search(r"^from twinbed(\.claims| import .*\bclaims\b)",
                                          figures.read_text(), re.M):
            out.append((getattr(spec, "SCENARIO", None) or spec.SPEC).name)
    return sorted(out)


def summary_text(summaries: Sequence[ScenarioSummary]) -> str:
    """The ``twinbed claims`` table plus every claim that differs, with its reason's link."""
    head = ("scenario", "figures", HOLDS, EXPLAINED, DIFFERS, "state")
    rows: list[tuple[str, ...]] = [head]
    total = {HOLDS: 0, EXPLAINED: 0, DIFFERS: 0}
    for s in summaries:
        counts = s.counts
        for k in total:
            total[k] += counts[k]
        figs = ",".join(sorted({f.figure for f in s.files}, key=_fig_key)) or "-"
        state = s.state + (f" ({len(s.legacy)} legacy file(s) ignored)"
                           if s.files and s.legacy else "")
        if s.broken:
            state += f"; {len(s.broken)} unreadable"
        cells = [str(counts[k]) if s.files else "-" for k in (HOLDS, EXPLAINED, DIFFERS)]
        rows.append((s.scenario, figs, *cells, state))
    rows.append(("total", "", str(total[HOLDS]), str(total[EXPLAINED]), str(total[DIFFERS]), ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        if j == 0 or j == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    details = [(s, f, c) for s in summaries for f in s.files for c in f.claims
               if c.verdict == DIFFERS]
    if details:
        lines.append("\nclaims that differ:")
        for s, f, c in details:
            why = f"{c.reason} -> {c.link}" if c.reason else "NOT EXPLAINED"
            lines.append(f"  {s.scenario} fig {f.figure} {c.id}: {c.what}: paper {c.paper}, "
                         f"ours {c.ours}; {why}")
    for s in summaries:
        for msg in s.broken:
            lines.append(f"unreadable: {msg}")
        if s.state == "not converted":
            ignored = f" ({len(s.legacy)} claims file(s) not counted)" if s.legacy else ""
            lines.append(f"{s.scenario}: not converted: its figures type their verdicts by hand"
                         + ignored)
        elif s.state == "no claims yet":
            lines.append(f"{s.scenario}: no claims yet: run `twinbed reproduce {s.scenario} "
                         "--figure N`")
    return "\n".join(lines)


def _fig_key(f: str) -> tuple[int, str]:
    digits = "".join(ch for ch in f if ch.isdigit())
    return (int(digits) if digits else 0, f)


def summary_json(summaries: Sequence[ScenarioSummary]) -> list[dict[str, Any]]:
    return [{"scenario": s.scenario, "state": s.state, "counts": s.counts,
             "files": [str(f.path) for f in s.files], "legacy": [str(p) for p in s.legacy],
             "broken": s.broken,
             "differ": [{"figure": f.figure, "id": c.id, "what": c.what, "status": c.status,
                         "reason": c.reason, "link": c.link}
                        for f in s.files for c in f.claims if c.verdict == DIFFERS]}
            for s in summaries]
