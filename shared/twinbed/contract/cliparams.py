"""One parameter syntax for every command: ``--param NAME=VALUE`` (repeatable) and
``--params FILE.json``, derived from the scenario's parameter model.

    add_param_options(parser, CompressionParams)       # in a command's add_arguments
    p = params_from_args(CompressionParams, args)      # in its run; ParamError is one line

VALUE is read as JSON when it parses (``K=8``, ``area_center_m=[0,0]``, ``flag=true``) and as
a string otherwise (``predictor=gru``). ``--params`` is a JSON object of overrides; ``--param``
wins over it. ``--help`` lists every parameter with its unit, default and range
(:func:`param_table`). A unit comes from ``Field(json_schema_extra={"unit": ...})`` or else
from the name's suffix (``_hz`` Hz, ``_dbm`` dBm, ``_m`` m, ``_s`` s, ...; see
:data:`UNIT_SUFFIXES`).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

__all__ = [
    "UNIT_SUFFIXES",
    "ParamError",
    "ParamRow",
    "add_param_options",
    "param_rows",
    "param_table",
    "params_from_args",
    "parse_overrides",
    "validate_params",
]

P = TypeVar("P", bound=BaseModel)

#: name suffix -> unit, longest first wins
UNIT_SUFFIXES: dict[str, str] = {
    "_dbm_per_hz": "dBm/Hz", "_w_per_hz": "W/Hz", "_cycles_per_bit": "cycles/bit",
    "_j_per_bit": "J/bit", "_dbm": "dBm", "_db": "dB", "_ghz": "GHz", "_mhz": "MHz",
    "_khz": "kHz", "_hz": "Hz", "_bps": "bit/s", "_mps": "m/s", "_mw": "mW", "_w": "W",
    "_bits": "bit", "_bytes": "B", "_m": "m", "_s": "s", "_j": "J", "_rad": "rad",
    "_slots": "slots", "_pct": "%",
}


class ParamError(ValueError):
    """A bad ``--param``/``--params``; the message is one line naming the parameter."""


@dataclass(frozen=True)
class ParamRow:
    name: str
    unit: str
    default: str
    range: str
    description: str


def _unit(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("unit"), str):
        return str(extra["unit"])
    for suffix in sorted(UNIT_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return UNIT_SUFFIXES[suffix]
    return "-"


def _range(info: FieldInfo) -> str:
    ann = info.annotation
    if get_origin(ann) is Literal:
        return "{" + ", ".join(str(a) for a in get_args(ann)) + "}"
    lo: str | None = None
    hi: str | None = None
    lo_open = hi_open = True
    for m in info.metadata:
        if isinstance(m, at.Ge):
            lo, lo_open = str(m.ge), False
        elif isinstance(m, at.Gt):
            lo, lo_open = str(m.gt), True
        elif isinstance(m, at.Le):
            hi, hi_open = str(m.le), False
        elif isinstance(m, at.Lt):
            hi, hi_open = str(m.lt), True
    if lo is None and hi is None:
        return "any"
    return (("(" if lo_open else "[") + (lo if lo is not None else "-inf") + ", "
            + (hi if hi is not None else "inf") + (")" if hi_open else "]"))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, float) and math.isfinite(value):
        return format(value, "g")
    return json.dumps(value) if not isinstance(value, str) else value


def param_rows(model: type[BaseModel]) -> list[ParamRow]:
    """One row per parameter of ``model``: name, unit, default, range, description."""
    return [ParamRow(name, _unit(name, info), _default(info), _range(info),
                     info.description or "")
            for name, info in model.model_fields.items()]


def param_table(model: type[BaseModel], title: str = "parameters") -> str:
    """The text ``--help`` prints: every parameter with unit, default and range."""
    rows = param_rows(model)
    w = [max(len(h), *(len(getattr(r, a)) for r in rows)) if rows else len(h)
         for h, a in (("name", "name"), ("unit", "unit"), ("default", "default"),
                      ("range", "range"))]
    head = (f"{title} (--param NAME=VALUE, repeatable; --params FILE.json):\n"
            f"  {'name':<{w[0]}}  {'unit':<{w[1]}}  {'default':<{w[2]}}  {'range':<{w[3]}}  "
            "description")
    lines = [f"  {r.name:<{w[0]}}  {r.unit:<{w[1]}}  {r.default:<{w[2]}}  {r.range:<{w[3]}}  "
             f"{r.description}" for r in rows]
    return "\n".join([head, *lines])


def add_param_options(parser: argparse.ArgumentParser,
                      model: type[BaseModel] | None = None) -> None:
    """Add ``--param`` and ``--params`` to ``parser``; with ``model``, its table goes into
    ``--help`` (keep ``model`` a cheap import: a params module, no torch/cvxpy)."""
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a scenario parameter (repeatable; VALUE is JSON or text)")
    parser.add_argument("--params", default=None, metavar="FILE.json",
                        help="a JSON object of parameter overrides (--param wins)")
    if model is not None:
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = param_table(model)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(param: list[str], params_file: str | Path | None) -> dict[str, Any]:
    """The overrides given by ``--params FILE.json`` then ``--param NAME=VALUE`` ..."""
    out: dict[str, Any] = {}
    if params_file is not None:
        path = Path(params_file)
        try:
            raw = json.loads(path.read_text())
        except OSError as exc:
            raise ParamError(f"--params {path}: cannot read: {exc.strerror or exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ParamError(f"--params {path}: not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ParamError(f"--params {path}: expected a JSON object of NAME: VALUE, got "
                             f"{type(raw).__name__}")
        out.update(raw)
    for text in param:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise ParamError(f"--param expects NAME=VALUE, got {text!r}")
        out[name.strip()] = _value(value)
    return out


def validate_params(model: type[P], overrides: dict[str, Any]) -> P:
    """``model(**overrides)``; a bad or unknown name is a one-line :class:`ParamError`."""
    try:
        return model.model_validate(overrides)
    except ValidationError as exc:
        e = exc.errors()[0]
        name = ".".join(map(str, e["loc"])) or "params"
        if e["type"] == "extra_forbidden":
            raise ParamError(f"unknown parameter {name!r}; known: "
                             f"{', '.join(model.model_fields)}") from None
        msg = str(e["msg"]).removeprefix("Value error, ")
        raise ParamError(f"parameter {name}: {msg}") from None


def params_from_args(model: type[P], args: argparse.Namespace) -> P:
    """The validated parameters a command was given (see :func:`add_param_options`)."""
    return validate_params(model, parse_overrides(getattr(args, "param", []) or [],
                                                  getattr(args, "params", None)))


def scenario_help_action(table: Callable[[str], str]) -> type[argparse.Action]:
    """A ``-h/--help`` action that also prints ``table(scenario)`` when the command's
    SCENARIO positional came first (``twinbed simulate compression --help``)."""

    class _Help(argparse.Action):
        def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                     default: str = argparse.SUPPRESS, help: str | None = None) -> None:
            super().__init__(option_strings, dest, nargs=0, default=default,
                             help=help or "show this help (with SCENARIO: its parameters)")

        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: Any, option_string: str | None = None) -> None:
            parser.print_help()
            scenario = getattr(namespace, "scenario", None)
            print()
            print(table(scenario) if scenario else
                  "parameters: `twinbed " + parser.prog.split()[-1] + " SCENARIO --help` "
                  "lists a scenario's parameters with unit, default and range")
            parser.exit()

    return _Help
