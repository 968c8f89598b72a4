"""``twinbed new-scenario NAME``: a working minimal scenario folder from templates.

The templates are package data, ``twinbed/templates/scenario/**/*.tmpl``, rendered with
:class:`string.Template` (``$name`` the scenario's kebab-case name, ``$module`` its
snake_case module, ``$Cls`` its CamelCase class prefix, ``$title`` a one-line title; file
names are rendered too). The result is a sub-package ``<into>/<module>/`` with params, contract
models, world, one algorithm, roles, messages, a gymnasium environment, one figure with its
``reproduce`` command, a README skeleton and tests; it passes the contract test suite as
generated.

Where it goes: by default the package's own scenarios folder (where discovery looks first);
``--into DIR`` writes ``DIR/<module>/`` instead, found when ``DIR`` is on
``TWINBED_SCENARIO_PATH`` (:func:`twinbed.scenarios.search_path`).
"""

from __future__ import annotations

import keyword
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template

from twinbed.contract.naming import is_kebab
from twinbed.scenarios import HERE, SEARCH_PATH_ENV, refresh, scenario_folders, scenario_names
from twinbed.scenarios import search_path as scenario_search_path

__all__ = ["TEMPLATES", "NewScenario", "ScaffoldError", "check_name", "new_scenario"]

TEMPLATES = Path(__file__).parent / "templates" / "scenario"
SUFFIX = ".tmpl"
#: the longest name and title the templates keep within the line length (ruff's 100)
MAX_NAME = 16
MAX_TITLE = 72


class ScaffoldError(ValueError):
    """A name or place ``new-scenario`` refuses; the message is one line saying why."""


@dataclass(frozen=True)
class NewScenario:
    name: str
    module: str
    folder: Path
    files: list[Path]
    discovered: bool  # the folder's parent is on the search path


def check_name(name: str) -> str:
    """The module of a new scenario ``name``, or a :class:`ScaffoldError`: the name must be
    kebab-case (lowercase words joined by '-'), its module a Python identifier that is no
    keyword, and neither may be taken by a discovered scenario."""
    if not is_kebab(name):
        hint = name.lower().replace("_", "-").strip("-")
        did_you_mean = f"; did you mean {hint!r}?" if is_kebab(hint) else ""
        raise ScaffoldError(f"scenario name {name!r} is not kebab-case (lowercase letters and "
                            f"digits, words joined by '-', starting with a letter){did_you_mean}")
    if len(name) > MAX_NAME:
        raise ScaffoldError(f"scenario name {name!r} is {len(name)} characters long; at most "
                            f"{MAX_NAME}, please")
    module = name.replace("-", "_")
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ScaffoldError(f"scenario name {name!r}: its module {module!r} is not a usable "
                            "Python identifier (a keyword?)")
    if name in scenario_names():
        raise ScaffoldError(f"scenario {name!r} exists already; known: "
                            f"{', '.join(scenario_names())}")
    folders = scenario_folders()
    if module in folders:
        raise ScaffoldError(f"a scenario folder named {module!r} exists already: "
                            f"{folders[module]}")
    return module


def _class_prefix(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _check_title(title: str) -> str:
    if (not title.strip() or len(title) > MAX_TITLE
            or any(c in title for c in ('"', "\\", "\n", "\r", "$"))):
        raise ScaffoldError(f"--title {title!r}: expected one line of at most {MAX_TITLE} "
                            "characters without quotes, backslashes or '$'")
    return title.strip()


def new_scenario(name: str, into: Path | None = None, title: str | None = None
                 ) -> NewScenario:
    """Render the templates into ``<into>/<module>/`` (default: the package's scenarios
    folder). Refuses (:class:`ScaffoldError`) a bad or taken name and an existing folder;
    writes everything or nothing."""
    module = check_name(name)
    values = {"name": name, "module": module, "Cls": _class_prefix(name),
              "title": _check_title(title if title is not None else f"{name} (a new paper)")}
    parent = HERE if into is None else Path(into)
    if parent.exists() and not parent.is_dir():
        raise ScaffoldError(f"--into {parent}: not a directory")
    folder = parent / module
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already; choose another name or remove it")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{module}-", dir=parent))
    try:
        files = []
        for src in sorted(TEMPLATES.rglob(f"*{SUFFIX}")):
            rel = Template(str(src.relative_to(TEMPLATES))).substitute(values)
            dest = staging / rel.removesuffix(SUFFIX)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(Template(src.read_text()).substitute(values))
            files.append(folder / rel.removesuffix(SUFFIX))
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    refresh()
    on_path = any(d.resolve() == parent.resolve() for d in scenario_search_path())
    return NewScenario(name, module, folder, files, on_path)


def next_steps(made: NewScenario) -> str:
    """What ``twinbed new-scenario`` prints after writing the folder."""
    lines = [f"created scenario {made.name!r} in {made.folder} ({len(made.files)} files)"]
    if not made.discovered:
        lines.append(f"  discovery does not look there yet: export "
                     f"{SEARCH_PATH_ENV}={made.folder.parent.resolve()}")
    lines += [
        f"  try it:     twinbed simulate {made.name} --rounds 3",
        f"              twinbed reproduce {made.name} --figure 1",
        f"  test it:    pytest tests/contract/test_scenarios.py -k {made.name}",
        f"              pytest {made.folder / 'tests'}",
        "  then: replace the toy model with your paper's (README.md in the folder, and the "
        "checklist in docs/ARCHITECTURE.md)",
    ]
    return "\n".join(lines)
