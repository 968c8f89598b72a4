"""Static checks of docker-compose.yml and deploy/Dockerfile -- no Docker engine needed.

The checkers below (``check_*``) return a list of problems, each naming the service (or
``Dockerfile``) and what is wrong, so that

* the tests on the real files assert ``problems == []`` and print every problem at once, and
* the negative tests feed the same checkers a deliberately broken copy and assert that the
  breakage is reported (a checker that cannot fail checks nothing).

What is checked, for every compose service except ``redis`` (the roles):

(a) image ENTRYPOINT + service command is ``twinbed serve <role>``, ``twinbed`` is a console
    script of pyproject.toml whose target imports, ``<role>`` is in ``twinbed.config.ROLES``;
(b) every environment variable is ``TWINBED_<field>`` of ``twinbed.config.Settings``, and the
    values (after compose ``${VAR:-default}`` interpolation) validate;
(c) TWINBED_PORT == port of the healthcheck URL == container side of each published port;
    host ports are unique, bound to 127.0.0.1 unless TWINBED_BIND says otherwise, and not the
    local stack's ports (twinbed.config.DEFAULT_PORTS: `make up` and compose on one machine);
(d) depends_on uses ``condition: service_healthy`` on services that have a healthcheck;
(e) exactly the scalable roles (edge, sensor) publish no ports;
(f) redis runs with ``--appendonly yes``;
(g) the Dockerfile installs torch==2.13.0 from the CPU index before ``pip install .``;
(h) one service builds the image, the others only run it (``pull_policy: never``): one build;
(i) no TWINBED_API_TOKEN, no start: compose's ``${TWINBED_API_TOKEN:?...}`` refuses;
(j) the base image and the torch index are build arguments whose defaults are what a user with
    internet access gets; no VOLUME in the image (anonymous volumes outlive ``down -v``);
(k) Redis requires a password and each role connects as its own ACL user (twinbed.acl): the
    role's TWINBED_REDIS_URL names the user ``<role>`` with the required password variable
    TWINBED_REDIS_PASSWORD_<ROLE>; redis loads ``--aclfile``, which the one-shot
    ``redis-users`` service writes from every password before redis starts;
(l) bus messages are signed per role (twinbed.signing): the one-shot ``bus-keys`` service
    writes every role's key pair from TWINBED_BUS_SEED_<ROLE> (required) into one volume per
    role and a shared public one; each role waits for it (``service_completed_successfully``),
    mounts its own key volume and the public one read-only, no other role's, and its
    TWINBED_BUS_KEY / TWINBED_BUS_PUBKEYS point into them.

Build arguments are resolved with their defaults (``ARG NAME=default``) before checking, and
compose values with ``COMPOSE_ENV`` (a token set, nothing else), so what is checked is what a
user with internet access and a token gets.
"""

from __future__ import annotations

import difflib
import http.server
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError

from twinbed import signing
from twinbed.config import DEFAULT_PORTS, ROLES, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PYPROJECT = REPO / "pyproject.toml"

SCALABLE = frozenset({"edge", "sensor"})  # roles run with --scale: no host ports
# redis-users writes the ACL file, bus-keys the signing keys; both exit (one-shots)
ONE_SHOTS = frozenset({"redis-users", "bus-keys"})
NON_ROLE_SERVICES = frozenset({"redis", *ONE_SHOTS})
TORCH_PIN = "torch==2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What the Dockerfile may COPY into the build (and must, for `pip install .` to work).
BUILD_INPUTS = frozenset({"pyproject.toml", "setup.py", "README.md", "shared", "services"})
SETTING_VARS = frozenset("TWINBED_" + name.upper() for name in Settings.model_fields)
BASE_IMAGE = "python:3.11-slim"
BUILD_ARGS = frozenset({"BASE_IMAGE", "TORCH_INDEX_URL"})  # must be overridable
BUILDER = "cloud"  # the one service with `build:`
# What compose sees on a user's machine: what deploy/compose-env.sh writes to .env (the token
# and a Redis password per ACL user), nothing else.
ACL_USERS = ("admin", *ROLES)
COMPOSE_ENV = {"TWINBED_API_TOKEN": "test-token",
               **{f"TWINBED_REDIS_PASSWORD_{u.upper()}": f"pw-{u}" for u in ACL_USERS},
               **{f"TWINBED_BUS_SEED_{r.upper()}": f"{i:02x}" * 32 for i, r in enumerate(ROLES)}}


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The compose file as plain data; YAML anchors/merge keys resolved, no aliasing left
    (a JSON round trip), so a test can mutate one service without touching another."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text())))


def console_scripts(path: Path = PYPROJECT) -> dict[str, str]:
    return tomllib.loads(path.read_text())["project"].get("scripts", {})


def role_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose.get("services", {}).items() if n not in NON_ROLE_SERVICES}


# ---------------------------------------------------------------------------------------------
# Dockerfile parsing (enough of the syntax for this one file: continuations, comments,
# exec/shell form, ENV key=value, the final stage of a multi-stage build)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    lineno: int
    keyword: str  # upper-cased: RUN, COPY, ...
    args: str  # the rest, continuation lines joined


@dataclass(frozen=True)
class PipInstall:
    lineno: int
    requirements: tuple[str, ...]  # positional arguments
    options: tuple[tuple[str, str], ...]  # (option, value) for options that take a value

    def option(self, *names: str) -> list[str]:
        return [value for opt, value in self.options if opt in names]


@dataclass
class DockerImage:
    """What the final stage of a Dockerfile says about the image."""

    instructions: list[Instruction]
    base: str = ""
    entrypoint: list[str] | None = None
    entrypoint_exec_form: bool = True
    cmd: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    volumes: list[str] = field(default_factory=list)
    copies: list[tuple[int, list[str]]] = field(default_factory=list)  # (lineno, sources)
    args: dict[str, str] = field(default_factory=dict)  # ARG name -> default ("" if none)
    pip_installs: list[PipInstall] = field(default_factory=list)


def parse_instructions(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not parts):
            continue  # comments (also inside a continuation) and blank lines
        if not parts:
            start = lineno
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        keyword, _, args = " ".join(p for p in parts if p).partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
        parts = []
    if parts:
        raise ValueError(f"Dockerfile: line continuation at the end of the file (from line {start})")
    return out


def _exec_form(args: str) -> tuple[list[str], bool]:
    """(argv, is_exec_form). The shell form runs under /bin/sh -c."""
    if args.startswith("["):
        argv = json.loads(args)
        if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
            raise ValueError(f"not a JSON list of strings: {args}")
        return argv, True
    return ["/bin/sh", "-c", args], False


def _strip_flags(tokens: list[str]) -> list[str]:
    return [t for t in tokens if not t.startswith("--")]


# pip options that consume the next argument (the rest are flags or --opt=value).
_PIP_VALUE_OPTIONS = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-r", "--requirement",
    "-c", "--constraint", "-e", "--editable", "-t", "--target", "--prefix", "--root",
    "--platform", "--python-version", "--implementation", "--abi", "--trusted-host",
    "--cache-dir", "--src", "--upgrade-strategy", "--no-binary", "--only-binary",
    "-C", "--config-settings", "--progress-bar", "--report", "--log",
}
_SHELL_SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}


def _simple_commands(script: str) -> Iterator[list[str]]:
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    command: list[str] = []
    for token in lexer:
        if token in _SHELL_SEPARATORS:
            if command:
                yield command
            command = []
        else:
            command.append(token)
    if command:
        yield command


def _pip_install(argv: list[str], lineno: int) -> PipInstall | None:
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
        argv = argv[1:]  # VAR=value prefixes
    names = [Path(a).name for a in argv]
    if names[:1] and re.fullmatch(r"pip(3(\.\d+)?)?", names[0]):
        rest = argv[1:]
    elif names[:1] and re.fullmatch(r"python(3(\.\d+)?)?", names[0]) and argv[1:3] == ["-m", "pip"]:
        rest = argv[3:]
    else:
        return None
    if rest[:1] != ["install"]:
        return None
    requirements: list[str] = []
    options: list[tuple[str, str]] = []
    args = iter(rest[1:])
    for arg in args:
        if arg.startswith("-"):
            opt, eq, value = arg.partition("=")
            if eq:
                options.append((opt, value))
            elif opt in _PIP_VALUE_OPTIONS:
                options.append((opt, next(args, "")))
        else:
            requirements.append(arg)
    return PipInstall(lineno, tuple(requirements), tuple(options))


def parse_dockerfile(text: str) -> DockerImage:
    instructions = parse_instructions(text)
    froms = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    if not froms:
        raise ValueError("Dockerfile: no FROM")
    image = DockerImage(instructions=instructions)
    global_args = {}  # ARGs before the first FROM: usable in FROM lines
    for ins in instructions[: froms[0]]:
        if ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            global_args[name.strip()] = default.strip()
    image.args = dict(global_args)
    image.base = interpolate(_strip_flags(instructions[froms[-1]].args.split())[0], global_args)
    for ins in instructions[froms[-1] :]:  # only the final stage ends up in the image
        if ins.keyword == "ARG":
            name, eq, default = ins.args.partition("=")
            # a stage's bare `ARG NAME` re-declares a global one with its default
            image.args[name.strip()] = default.strip() if eq else global_args.get(name.strip(), "")
        elif ins.keyword == "ENTRYPOINT":
            image.entrypoint, image.entrypoint_exec_form = _exec_form(ins.args)
            image.cmd = None  # an ENTRYPOINT resets an inherited CMD
        elif ins.keyword == "CMD":
            image.cmd, _ = _exec_form(ins.args)
        elif ins.keyword == "ENV":
            tokens = shlex.split(ins.args)
            if all("=" in t for t in tokens):
                image.env.update(t.split("=", 1) for t in tokens)
            else:  # legacy `ENV KEY value with spaces`
                image.env[tokens[0]] = " ".join(tokens[1:])
        elif ins.keyword == "USER":
            image.user = ins.args.split(":")[0]
        elif ins.keyword == "VOLUME":
            image.volumes += json.loads(ins.args) if ins.args.startswith("[") else ins.args.split()
        elif ins.keyword in ("COPY", "ADD"):
            tokens = shlex.split(ins.args)
            if any(t.startswith("--from") for t in tokens):
                continue  # from another stage, not from the build context
            sources = _strip_flags(tokens)[:-1]
            image.copies.append((ins.lineno, sources))
        elif ins.keyword == "RUN":
            args = ins.args
            while args.startswith("--"):  # RUN --mount=... (BuildKit flags)
                args = args.split(None, 1)[1] if " " in args else ""
            script = shlex.join(json.loads(args)) if args.startswith("[") else args
            for argv in _simple_commands(script):
                # the shell expands the build arguments: check with their defaults
                argv = [a for a in (interpolate(a, image.args) for a in argv) if a]
                pip = _pip_install(argv, ins.lineno)
                if pip is not None:
                    image.pip_installs.append(pip)
    return image


def load_image(path: Path = DOCKERFILE) -> DockerImage:
    return parse_dockerfile(path.read_text())


# ---------------------------------------------------------------------------------------------
# Compose helpers: interpolation, environment, ports, healthcheck
# ---------------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose variable substitution: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}."""

    def substitute(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        if m["named"]:
            return env.get(m["named"], "")
        parsed = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", m["braced"], re.S)
        if not parsed:
            raise ValueError(f"unsupported interpolation ${{{m['braced']}}}")
        name, op, arg = parsed.groups()
        if arg and "$" in arg:
            raise ValueError(f"unsupported (nested) interpolation ${{{m['braced']}}}")
        val = env.get(name)
        is_set = bool(val) if op and op.startswith(":") else val is not None
        if op in (":-", "-"):
            return val if is_set else arg  # type: ignore[return-value]
        if op in (":?", "?"):
            if not is_set:
                raise ValueError(f"required variable {name} is not set: {arg}")
            return val  # type: ignore[return-value]
        if op in (":+", "+"):
            return arg if is_set else ""
        return val or ""

    return _INTERPOLATION.sub(substitute, value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def service_environment(service: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The service's environment as compose would pass it, interpolated against ``env``
    (default: ``COMPOSE_ENV``, i.e. the token set and every ``${VAR:-default}`` its default)."""
    env = COMPOSE_ENV if env is None else env
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # ["KEY=value", "KEY"]
        pairs = [(item.split("=", 1) + [None])[:2] for item in raw]  # type: ignore[operator]
        raw = {k: (env.get(k) if v is None else v) for k, v in pairs}
    return {k: interpolate(_scalar(v), env) for k, v in raw.items()}


@dataclass(frozen=True)
class PortMapping:
    raw: str
    container: int
    host: int | None  # None: not bound to a fixed host port
    host_ip: str = ""  # "": every interface


def parse_port(spec: Any, env: Mapping[str, str] | None = None) -> PortMapping:
    """Compose short ("[ip:][host:]container[/proto]") or long ({target, published,
    host_ip}) syntax, interpolated against ``env`` (default ``COMPOSE_ENV``)."""
    env = COMPOSE_ENV if env is None else env
    if isinstance(spec, dict):
        published = interpolate(_scalar(spec.get("published")), env)
        if "-" in published:
            raise ValueError(f"port range not supported: {spec}")
        return PortMapping(json.dumps(spec), int(spec["target"]),
                           int(published) if published else None,
                           interpolate(_scalar(spec.get("host_ip")), env))
    raw = str(spec)
    body = interpolate(raw, env).split("/", 1)[0]
    if "-" in body:
        raise ValueError(f"port range not supported: {raw}")
    head, _, container = body.rpartition(":")
    host_ip, _, host = head.rpartition(":") if head else ("", "", "")
    return PortMapping(raw, int(container), int(host) if host else None, host_ip.strip("[]"))


def published_ports(service: Mapping[str, Any]) -> list[PortMapping]:
    return [parse_port(p) for p in service.get("ports") or []]


_HEALTH_URL = re.compile(r"https?://[^\s'\"]+")


def healthcheck_argv(service: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(kind, argv) of the healthcheck test -- kind CMD or CMD-SHELL -- or None if there is
    no usable healthcheck (none, disabled, or NONE)."""
    hc = service.get("healthcheck")
    if not hc or hc.get("disable"):
        return None
    test = hc.get("test")
    if isinstance(test, str):
        return "CMD-SHELL", shlex.split(test)
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return "CMD-SHELL", shlex.split(" ".join(test[1:]))
    if test[0] == "CMD":
        return "CMD", list(test[1:])
    return "CMD", list(test)  # a bare list is an exec-form test


def healthcheck_python_code(service: Mapping[str, Any]) -> str | None:
    parsed = healthcheck_argv(service)
    if not parsed:
        return None
    argv = parsed[1]
    if len(argv) >= 3 and re.fullmatch(r"python(3(\.\d+)?)?", Path(argv[0]).name) and argv[1] == "-c":
        return argv[2]
    return None


# ---------------------------------------------------------------------------------------------
# Checkers: each returns a list of "<service>: <problem>" strings
# ---------------------------------------------------------------------------------------------


def check_command(compose: Mapping[str, Any], name: str, image: DockerImage,
                  scripts: Mapping[str, str]) -> list[str]:
    """(a) ENTRYPOINT + command == `<console script> serve <role>`."""
    svc = compose["services"][name]
    problems: list[str] = []
    builder = compose["services"].get(BUILDER, {})
    build = builder.get("build") or {}
    if isinstance(build, str):
        build = {"context": build}
    if (build.get("dockerfile") or "Dockerfile") != "deploy/Dockerfile":
        problems.append(f"{name}: its image is not built from deploy/Dockerfile ({BUILDER}'s "
                        f"build: {build!r}), so its ENTRYPOINT is unknown")
    elif svc.get("image") != builder.get("image"):
        problems.append(f"{name}: runs image {svc.get('image')!r}, not {builder.get('image')!r} "
                        f"which {BUILDER} builds from deploy/Dockerfile")
    if "entrypoint" in svc:
        ep = svc["entrypoint"]
        entrypoint = shlex.split(ep) if isinstance(ep, str) else list(ep or [])
    else:
        if not image.entrypoint_exec_form:
            problems.append(f"{name}: the Dockerfile ENTRYPOINT is in shell form, which ignores "
                            "the compose command; use ENTRYPOINT [\"twinbed\"]")
        entrypoint = list(image.entrypoint or [])
    command = svc.get("command", image.cmd)
    command = shlex.split(command) if isinstance(command, str) else list(command or [])
    argv = entrypoint + command
    if len(argv) != 3 or argv[1] != "serve":
        return problems + [f"{name}: entrypoint+command is {argv!r}, expected "
                           f"['twinbed', 'serve', '<role>']"]
    script, _, role = argv
    if script not in scripts:
        problems.append(f"{name}: {script!r} is not a console script of pyproject.toml "
                        f"(scripts: {sorted(scripts)})")
    if role not in ROLES:
        problems.append(f"{name}: role {role!r} in its command is not one of twinbed.config.ROLES "
                        f"{ROLES}")
    elif role != name:
        problems.append(f"{name}: command serves role {role!r}, but the service is named {name!r}")
    return problems


def check_environment(compose: Mapping[str, Any], name: str, image: DockerImage) -> list[str]:
    """(b) Only TWINBED_<Settings field> variables; the must-haves are present; the Redis URL
    names a compose service; the data dir is where the volume is."""
    svc = compose["services"][name]
    problems: list[str] = []
    try:
        env = service_environment(svc)
    except ValueError as exc:
        return [f"{name}: environment: {exc}"]
    for key in env:
        if key not in SETTING_VARS:
            hint = difflib.get_close_matches(key, SETTING_VARS, n=1)
            problems.append(f"{name}: environment variable {key} is not a field of "
                            f"twinbed.config.Settings" + (f" (did you mean {hint[0]}?)" if hint else "")
                            + " -- Settings ignores unknown TWINBED_* variables silently")
    for key in ("TWINBED_REDIS_URL", "TWINBED_PORT"):
        if key not in env:
            problems.append(f"{name}: environment lacks {key}")
    if "TWINBED_REDIS_URL" in env:
        host = urlsplit(env["TWINBED_REDIS_URL"]).hostname
        if host not in compose.get("services", {}):
            problems.append(f"{name}: TWINBED_REDIS_URL={env['TWINBED_REDIS_URL']} points at host "
                            f"{host!r}, which is not a compose service")
    data_dir = env.get("TWINBED_DATA_DIR", image.env.get("TWINBED_DATA_DIR"))
    for mount in svc.get("volumes") or []:
        if isinstance(mount, dict):  # long syntax
            source, target = mount.get("source", ""), mount.get("target", "")
        else:  # "source:target[:mode]"
            source, _, target = str(mount).partition(":")
            target = target.split(":")[0]
        if source.startswith("bus-key"):  # the signing keys (l), not artifacts
            continue
        if source in (compose.get("volumes") or {}) and target != data_dir:
            problems.append(f"{name}: named volume {source} is mounted at {target}, but "
                            f"TWINBED_DATA_DIR is {data_dir}")
    return problems


def check_ports(compose: Mapping[str, Any], name: str) -> list[str]:
    """(c) TWINBED_PORT == healthcheck URL port == container side of every published port."""
    svc = compose["services"][name]
    problems: list[str] = []
    raw_port = service_environment(svc).get("TWINBED_PORT")
    try:
        port = int(raw_port)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return [f"{name}: TWINBED_PORT={raw_port!r} is not a port number"]
    if name in DEFAULT_PORTS and port != DEFAULT_PORTS[name]:
        problems.append(f"{name}: TWINBED_PORT={port}, but twinbed.config.DEFAULT_PORTS says "
                        f"{DEFAULT_PORTS[name]}")
    parsed = healthcheck_argv(svc)
    if parsed is None:
        problems.append(f"{name}: has no healthcheck")
    else:
        kind, argv = parsed
        text = " ".join(argv)
        if not argv or not re.fullmatch(r"python(3(\.\d+)?)?", Path(argv[0]).name):
            problems.append(f"{name}: healthcheck runs {argv[:1]}, but the image has only python "
                            "(no curl/wget); use python -c 'import urllib.request; ...'")
        code = healthcheck_python_code(svc)
        if code is not None:
            try:
                compile(code, f"<{name} healthcheck>", "exec")
            except SyntaxError as exc:
                problems.append(f"{name}: healthcheck python code does not compile: {exc}")
        urls = _HEALTH_URL.findall(text)
        if len(urls) != 1:
            problems.append(f"{name}: healthcheck should request exactly one URL, found {urls}")
        else:
            url = urlsplit(urls[0])
            if url.hostname not in ("127.0.0.1", "localhost") or url.path != "/health":
                problems.append(f"{name}: healthcheck URL {urls[0]} is not "
                                f"http://127.0.0.1:<port>/health")
            if url.port != port:
                problems.append(f"{name}: healthcheck URL port {url.port} != TWINBED_PORT {port}")
    try:
        mappings = published_ports(svc)
    except (ValueError, KeyError) as exc:
        return problems + [f"{name}: ports: {exc}"]
    for m in mappings:
        if m.container != port:
            problems.append(f"{name}: published port {m.raw} maps to container port "
                            f"{m.container}, but the service listens on TWINBED_PORT {port}")
        if m.host_ip != "127.0.0.1":
            problems.append(f"{name}: published port {m.raw} binds {m.host_ip or 'every interface'}"
                            " by default; bind ${TWINBED_BIND:-127.0.0.1} (the network only "
                            "when the user says so)")
        if m.host in DEFAULT_PORTS.values():
            problems.append(f"{name}: host port {m.host} is a port of the local stack "
                            f"(twinbed.config.DEFAULT_PORTS); `make up` and compose would collide")
    return problems


def check_unique_host_ports(compose: Mapping[str, Any]) -> list[str]:
    """(c) No host port is published twice."""
    owners: dict[int, list[str]] = {}
    for name, svc in compose.get("services", {}).items():
        try:
            mappings = published_ports(svc)
        except (ValueError, KeyError):
            continue  # reported by check_ports
        for m in mappings:
            if m.host is not None:
                owners.setdefault(m.host, []).append(name)
    return [f"host port {p} is published by several services: {', '.join(ns)}"
            for p, ns in sorted(owners.items()) if len(ns) > 1]


def check_depends_on(compose: Mapping[str, Any], name: str) -> list[str]:
    """(d) Every dependency waits for service_healthy of a service that has a healthcheck."""
    services = compose.get("services", {})
    deps = services[name].get("depends_on") or {}
    if isinstance(deps, list):  # short syntax means condition: service_started
        return [f"{name}: depends_on {deps} uses the list form (service_started); use "
                f"{{<service>: {{condition: service_healthy}}}}"]
    problems: list[str] = []
    if "redis" not in deps:
        problems.append(f"{name}: does not depend on redis")
    for dep, spec in deps.items():
        condition = (spec or {}).get("condition", "service_started")
        if dep in ONE_SHOTS:
            if condition != "service_completed_successfully":
                problems.append(f"{name}: depends_on {dep} with condition {condition}, "
                                "expected service_completed_successfully (it runs once)")
            continue
        if condition != "service_healthy":
            problems.append(f"{name}: depends_on {dep} with condition {condition}, "
                            "expected service_healthy")
        if dep == name:
            problems.append(f"{name}: depends on itself")
        elif dep not in services:
            problems.append(f"{name}: depends on {dep}, which is not a service")
        elif healthcheck_argv(services[dep]) is None:
            problems.append(f"{name}: depends on {dep} being healthy, but {dep} has no healthcheck")
    return problems


def check_scaling(compose: Mapping[str, Any]) -> list[str]:
    """(e) Exactly the scalable roles publish no ports (and have no fixed container name)."""
    problems: list[str] = []
    for name, svc in role_services(compose).items():
        publishes = bool(svc.get("ports"))
        if name in SCALABLE:
            if publishes:
                problems.append(f"{name}: is scaled with --scale but publishes ports "
                                f"{svc['ports']}; replicas would collide on the host port")
            if "container_name" in svc:
                problems.append(f"{name}: has container_name, which prevents --scale")
        elif not publishes:
            problems.append(f"{name}: publishes no port, but only {sorted(SCALABLE)} are meant "
                            "to be unreachable from the host")
    return problems


def check_redis(compose: Mapping[str, Any]) -> list[str]:
    """(f) redis persists the streams (AOF) and reports health."""
    svc = compose.get("services", {}).get("redis")
    if svc is None:
        return ["redis: no redis service"]
    problems: list[str] = []
    command = svc.get("command") or []
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    pairs = dict(zip(argv, argv[1:]))
    if pairs.get("--appendonly") != "yes":
        problems.append(f"redis: command {argv} does not enable --appendonly yes")
    if pairs.get("--dir") != "/data":
        problems.append(f"redis: command {argv} does not put the AOF in /data (--dir /data): "
                        "only the official image starts there")
    if "--appendfsync" in pairs and pairs["--appendfsync"] not in ("everysec", "always"):
        problems.append(f"redis: --appendfsync {pairs['--appendfsync']} may lose writes")
    hc = healthcheck_argv(svc)
    if hc is None or hc[1][:1] != ["redis-cli"] or "ping" not in hc[1]:
        problems.append(f"redis: healthcheck should be redis-cli ping, is {hc}")
    if not any(str(v).split(":")[1:2] == ["/data"] for v in svc.get("volumes") or []):
        problems.append("redis: /data (the AOF) is not on a volume")
    return problems


def check_images_and_volumes(compose: Mapping[str, Any]) -> list[str]:
    """All roles share one image built from deploy/Dockerfile; named volumes are declared;
    controller and cloud keep artifacts on the twinbed-data volume."""
    problems: list[str] = []
    roles = role_services(compose)
    images = {name: svc.get("image") for name, svc in roles.items()}
    if len(set(images.values())) != 1 or None in images.values():
        problems.append(f"roles do not share one image name: {images}")
    builders = sorted(name for name, svc in roles.items() if "build" in svc)
    if builders != [BUILDER]:
        problems.append(f"services with build: {builders}, expected only [{BUILDER!r}]: each "
                        "build: builds the image again and leaves dangling copies")
    for name, svc in roles.items():
        if "build" in svc:
            build = svc["build"]
            if not isinstance(build, dict) or not (REPO / build.get("context", ".") /
                                                   build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(f"{name}: build {build!r} does not point at an existing Dockerfile")
            args = set((build.get("args") or {}) if isinstance(build, dict) else {})
            if not BUILD_ARGS <= args:
                problems.append(f"{name}: build args {sorted(args)} do not pass "
                                f"{sorted(BUILD_ARGS - args)} (a user without the default "
                                "registry or index cannot build)")
        elif svc.get("pull_policy") != "never":
            problems.append(f"{name}: pull_policy is {svc.get('pull_policy')!r}, expected never: "
                            f"the image is {BUILDER}'s build, there is nothing to pull")
    declared = compose.get("volumes") or {}
    for name, svc in compose.get("services", {}).items():
        for mount in svc.get("volumes") or []:
            source = str(mount).split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in declared:
                problems.append(f"{name}: volume {source} is not declared under top-level volumes")
    for name in ("controller", "cloud"):
        mounts = [str(m) for m in (compose["services"].get(name, {}).get("volumes") or [])]
        if "twinbed-data:/data" not in mounts:
            problems.append(f"{name}: does not mount twinbed-data at /data (volumes: {mounts})")
    return problems


def _without(var: str) -> dict[str, str]:
    return {k: v for k, v in COMPOSE_ENV.items() if k != var}


def check_redis_acl(compose: Mapping[str, Any]) -> list[str]:
    """(k) Each role is its own Redis ACL user, with a required password; redis loads the
    users file that redis-users writes from every password before redis starts."""
    services = compose.get("services", {})
    problems: list[str] = []
    for name, svc in role_services(compose).items():
        try:
            url = urlsplit(service_environment(svc).get("TWINBED_REDIS_URL", ""))
        except ValueError as exc:
            problems.append(f"{name}: environment: {exc}")
            continue
        var = f"TWINBED_REDIS_PASSWORD_{name.upper()}"
        if url.username != name or url.password != COMPOSE_ENV[var]:
            problems.append(f"{name}: TWINBED_REDIS_URL must log in as Redis user {name!r} with "
                            f"${{{var}}} (is user {url.username!r}): a shared or missing user "
                            "lets one compromised role write every key")
        try:
            service_environment(svc, _without(var))
            problems.append(f"{name}: starts without {var}: make it ${{{var}:?...}}")
        except ValueError:
            pass
    redis_svc, users = services.get("redis", {}), services.get("redis-users")
    command = redis_svc.get("command") or []
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    aclfile = dict(zip(argv, argv[1:])).get("--aclfile")
    if aclfile is None:
        problems.append("redis: no --aclfile: the default user has no password and every "
                        "client may touch every key")
    if users is None:
        return [*problems, "redis-users: no service writes Redis's users file"]
    if (redis_svc.get("depends_on") or {}).get("redis-users", {}).get("condition") \
            != "service_completed_successfully":
        problems.append("redis: must wait for redis-users (condition: "
                        "service_completed_successfully), else it starts without its users")
    ucmd = list(users.get("command") or [])
    if ucmd[:1] != ["redis-acl"] or aclfile not in ucmd:
        problems.append(f"redis-users: command {ucmd} does not write {aclfile} "
                        "(`redis-acl <file>`)")
    try:
        uenv = service_environment(users)
    except ValueError as exc:
        problems.append(f"redis-users: environment: {exc}")
        uenv = {}
    missing = [u for u in ACL_USERS if f"TWINBED_REDIS_PASSWORD_{u.upper()}" not in uenv]
    if missing:
        problems.append(f"redis-users: lacks the passwords of {missing}")
    return problems


def check_bus_keys(compose: Mapping[str, Any]) -> list[str]:
    """(l) The signing keys: written once by bus-keys from required seeds, each role waits for
    them and mounts its own private key only."""
    services = compose.get("services", {})
    writer = services.get("bus-keys")
    if writer is None:
        return ["bus-keys: no service writes the bus signing keys"]
    problems: list[str] = []
    if list(writer.get("command") or [])[:1] != ["bus-keys"]:
        problems.append(f"bus-keys: command {writer.get('command')} is not `bus-keys <dir>`")
    for role in ROLES:
        var = f"TWINBED_BUS_SEED_{role.upper()}"
        try:
            service_environment(writer, _without(var))
            problems.append(f"bus-keys: starts without {var}: make it ${{{var}:?...}}")
        except ValueError:
            pass
    for name, svc in role_services(compose).items():
        deps = svc.get("depends_on") or {}
        if not isinstance(deps, dict) or "bus-keys" not in deps:
            problems.append(f"{name}: does not wait for bus-keys: it could start before its "
                            "key is written")
        mounts = [str(m) for m in svc.get("volumes") or []]
        keyvols = sorted(m.split(":")[0] for m in mounts if m.startswith("bus-key-"))
        if keyvols != [f"bus-key-{name}"]:
            problems.append(f"{name}: mounts the private key volumes {keyvols}, expected only "
                            f"['bus-key-{name}']: a role must hold no other role's key")
        for vol, target in ((f"bus-key-{name}", f"/keys/{name}"), ("bus-keys-pub", "/keys/pub")):
            if f"{vol}:{target}:ro" not in mounts:
                problems.append(f"{name}: does not mount {vol} read-only at {target}")
        env = service_environment(svc)
        if env.get("TWINBED_BUS_KEY") != f"/keys/{name}/{name}.key" \
                or env.get("TWINBED_BUS_PUBKEYS") != "/keys/pub":
            problems.append(f"{name}: TWINBED_BUS_KEY/TWINBED_BUS_PUBKEYS are "
                            f"{env.get('TWINBED_BUS_KEY')!r}/{env.get('TWINBED_BUS_PUBKEYS')!r}, "
                            f"expected /keys/{name}/{name}.key and /keys/pub")
    return problems


def check_token_required(compose: Mapping[str, Any]) -> list[str]:
    """(i) Without TWINBED_API_TOKEN compose refuses to start every role, saying how."""
    problems: list[str] = []
    for name, svc in role_services(compose).items():
        try:
            env = service_environment(svc, _without("TWINBED_API_TOKEN"))
        except ValueError as exc:
            if "TWINBED_API_TOKEN" not in str(exc):
                problems.append(f"{name}: without a token compose fails, but not on "
                                f"TWINBED_API_TOKEN: {exc}")
            continue
        problems.append(f"{name}: starts without TWINBED_API_TOKEN (TWINBED_API_TOKEN="
                        f"{env.get('TWINBED_API_TOKEN')!r}): the mutating endpoints would be "
                        "open; use ${TWINBED_API_TOKEN:?<how to set it>}")
    return problems


def check_role_coverage(compose: Mapping[str, Any]) -> list[str]:
    names = set(role_services(compose))
    problems = [f"{r}: no compose service for role {r}" for r in ROLES if r not in names]
    problems += [f"{n}: service is not a twinbed role (ROLES: {ROLES})" for n in names - set(ROLES)]
    return problems


def check_dockerfile(image: DockerImage, pyproject_deps: list[str] | None = None) -> list[str]:
    """(g) torch==2.13.0 from the CPU index before `pip install .`; plus the image basics."""
    problems: list[str] = []
    installs = image.pip_installs

    def req_name(req: str) -> str:
        return re.split(r"[\s<>=!~;\[@]", req, maxsplit=1)[0].lower()

    def is_local_package(req: str) -> bool:
        return bool(re.fullmatch(r"\.(/)?(\[[^\]]*\])?|/[^\s\[]*(\[[^\]]*\])?", req))

    torch = [(i, p) for i, p in enumerate(installs) if any(req_name(r) == "torch" for r in p.requirements)]
    package = [(i, p) for i, p in enumerate(installs) if any(is_local_package(r) for r in p.requirements)]
    if not torch:
        problems.append(f"Dockerfile: no `pip install {TORCH_PIN} --index-url {CPU_INDEX}`")
    for _, p in torch:
        reqs = [r for r in p.requirements if req_name(r) == "torch"]
        if reqs != [TORCH_PIN]:
            problems.append(f"Dockerfile line {p.lineno}: torch requirement {reqs}, expected "
                            f"exactly {TORCH_PIN}")
        if p.option("-i", "--index-url") != [CPU_INDEX]:
            extra = p.option("--extra-index-url")
            problems.append(f"Dockerfile line {p.lineno}: torch is installed from index "
                            f"{p.option('-i', '--index-url') or 'PyPI'}"
                            + (f" (+ extra index {extra}, which does not replace PyPI)" if extra else "")
                            + f", expected --index-url {CPU_INDEX} (PyPI's torch pulls CUDA)")
    if not package:
        problems.append("Dockerfile: never installs the package (`pip install .`)")
    if torch and package and torch[0][0] > package[0][0]:
        problems.append(f"Dockerfile line {package[0][1].lineno}: `pip install .` runs before torch "
                        f"is installed from the CPU index (line {torch[0][1].lineno}); pip would "
                        "resolve torch from PyPI with CUDA")
    if pyproject_deps is not None:
        pins = [d for d in pyproject_deps if req_name(d) == "torch"]
        if pins != [TORCH_PIN]:
            problems.append(f"pyproject.toml pins torch as {pins}, the Dockerfile as {TORCH_PIN}; "
                            "`pip install .` would replace the CPU wheel")

    # Build inputs: exactly the package sources, all copied before `pip install .`.
    copied: dict[str, int] = {}
    for lineno, sources in image.copies:
        for src in sources:
            norm = src.removeprefix("./").rstrip("/") or "."
            if norm not in BUILD_INPUTS:
                problems.append(f"Dockerfile line {lineno}: COPY {src} -- copy only "
                                f"{sorted(BUILD_INPUTS)}")
            copied.setdefault(norm, lineno)
    for needed in sorted(BUILD_INPUTS - copied.keys()):
        problems.append(f"Dockerfile: {needed} is not copied into the image")
    if package:  # the last install of the package is the one with its sources
        late = sorted(s for s, ln in copied.items() if ln > package[-1][1].lineno)
        if late:
            problems.append(f"Dockerfile: {late} copied after `pip install .`")

    # Image basics.
    if image.base != BASE_IMAGE:
        problems.append(f"Dockerfile: base image {image.base} by default, expected {BASE_IMAGE}")
    base_from = [i.args for i in image.instructions if i.keyword == "FROM"][-1:]
    if base_from and "$" not in base_from[0]:
        problems.append(f"Dockerfile: FROM {base_from[0]} is fixed; make it a build argument "
                        "(ARG BASE_IMAGE=...) so the image builds without that registry")
    missing_args = sorted(BUILD_ARGS - image.args.keys())
    if missing_args:
        problems.append(f"Dockerfile: build arguments {missing_args} missing (ARG ...)")
    if image.user in (None, "", "root", "0"):
        problems.append(f"Dockerfile: runs as {image.user or 'root'}; add a non-root USER")
    for key, expected in (("TWINBED_HOST", "0.0.0.0"), ("TWINBED_DATA_DIR", "/data")):
        if image.env.get(key) != expected:
            problems.append(f"Dockerfile: ENV {key}={image.env.get(key)!r}, expected {expected}")
    for key in image.env:
        if key.startswith("TWINBED_") and key not in SETTING_VARS:
            problems.append(f"Dockerfile: ENV {key} is not a field of twinbed.config.Settings")
    if image.volumes:
        problems.append(f"Dockerfile: VOLUME {image.volumes}: every container gets an anonymous "
                        "volume that `docker compose down -v` may leave; mount named volumes "
                        "in docker-compose.yml instead")
    if image.entrypoint != ["twinbed"] or not image.entrypoint_exec_form:
        problems.append(f"Dockerfile: ENTRYPOINT {image.entrypoint}, expected [\"twinbed\"] (exec form)")
    if image.cmd != ["serve", "controller"]:
        problems.append(f"Dockerfile: CMD {image.cmd}, expected [\"serve\", \"controller\"]")
    return problems


def check_compose(compose: Mapping[str, Any], image: DockerImage,
                  scripts: Mapping[str, str]) -> list[str]:
    """Every compose check at once (used by the negative tests)."""
    problems = check_role_coverage(compose) + check_unique_host_ports(compose)
    problems += check_token_required(compose) + check_redis_acl(compose)
    problems += check_bus_keys(compose)
    problems += check_scaling(compose) + check_redis(compose) + check_images_and_volumes(compose)
    for name in role_services(compose):
        problems += check_command(compose, name, image, scripts)
        problems += check_environment(compose, name, image)
        problems += check_ports(compose, name)
        problems += check_depends_on(compose, name)
    return problems


def _report(problems: list[str]) -> str:
    return "\n".join(["", *problems])


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def image() -> DockerImage:
    return load_image()


@pytest.fixture(scope="module")
def scripts() -> dict[str, str]:
    return console_scripts()


def _service(compose: Mapping[str, Any], role: str) -> dict[str, Any]:
    if role not in compose.get("services", {}):
        pytest.fail(f"{role}: no service named {role!r} in docker-compose.yml")
    return compose["services"][role]


# ---------------------------------------------------------------------------------------------
# Tests on the real files
# ---------------------------------------------------------------------------------------------


def test_every_role_has_one_service(compose):
    assert not (problems := check_role_coverage(compose)), _report(problems)


@pytest.mark.parametrize("role", ROLES)
def test_command_resolves_to_twinbed_serve_role(compose, image, scripts, role):  # (a)
    _service(compose, role)
    assert not (problems := check_command(compose, role, image, scripts)), _report(problems)


def test_console_script_target_is_importable(scripts):  # (a)
    assert "twinbed" in scripts, f"pyproject.toml [project.scripts] has no twinbed: {scripts}"
    module_name, _, attr = scripts["twinbed"].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        pytest.fail(f"console script twinbed -> {scripts['twinbed']}: cannot import "
                    f"{module_name}: {exc!r}")
    target = getattr(module, attr, None)
    assert callable(target), f"console script twinbed -> {scripts['twinbed']}: " \
                             f"{module_name} has no callable {attr!r}"


def _twinbed(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the installed `twinbed` console script (as the image's ENTRYPOINT does)."""
    script = shutil.which("twinbed", path=str(Path(sys.executable).parent))
    argv = [script] if script else [
        sys.executable, "-c",
        "import sys; from twinbed.cli import main; sys.argv[0] = 'twinbed'; sys.exit(main())",
    ]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("role", ROLES)
def test_cli_accepts_serve_role(role):  # (a), the CLI end of each container's command
    """`twinbed serve <role> --help` exits 0 (the role parses) and documents --host/--port."""
    proc = _twinbed("serve", role, "--help")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{role}: `twinbed serve {role} --help` exited {proc.returncode}:\n{out}"
    missing = [opt for opt in ("--host", "--port") if opt not in out]
    assert not missing, f"{role}: `twinbed serve {role} --help` does not mention {missing}:\n{out}"


def test_cli_rejects_unknown_role():
    """The negative of the above: a role outside ROLES is refused before anything starts."""
    try:
        proc = _twinbed("serve", "no-such-role", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("`twinbed serve no-such-role` was still running after 60 s; "
                    "the CLI should reject roles outside twinbed.config.ROLES")
    assert proc.returncode != 0, "`twinbed serve no-such-role` exited 0"
    assert "Traceback" not in proc.stderr, \
        f"`twinbed serve no-such-role` crashed instead of rejecting the role:\n{proc.stderr}"


@pytest.mark.parametrize("role", ROLES)
def test_environment_is_settings_fields(compose, image, role):  # (b)
    _service(compose, role)
    assert not (problems := check_environment(compose, role, image)), _report(problems)


@pytest.mark.parametrize("role", ROLES)
def test_environment_validates_as_settings(compose, image, role, monkeypatch):  # (b)
    """The image ENV plus the compose environment (defaults interpolated) build a Settings."""
    env = {k: v for k, v in image.env.items() if k.startswith("TWINBED_")}
    env |= service_environment(_service(compose, role))
    for key in [k for k in os.environ if k.startswith("TWINBED_")]:
        monkeypatch.delenv(key)  # the developer's own TWINBED_* must not leak in
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        settings = Settings()
    except ValidationError as exc:
        pytest.fail(f"{role}: its environment does not validate as twinbed.config.Settings:\n{exc}")
    assert settings.port_for(role) == int(env["TWINBED_PORT"]), f"{role}: port_for mismatch"
    assert settings.host == "0.0.0.0", f"{role}: would bind {settings.host}, unreachable from outside"
    assert str(settings.data_dir) == "/data", f"{role}: data_dir is {settings.data_dir}"
    assert settings.redis_url == f"redis://{role}:pw-{role}@redis:6379/0", \
        f"{role}: redis_url is {settings.redis_url}"


@pytest.mark.parametrize("role", ROLES)
def test_ports_and_healthcheck_agree(compose, role):  # (c)
    _service(compose, role)
    assert not (problems := check_ports(compose, role)), _report(problems)


def test_host_ports_unique(compose):  # (c)
    assert not (problems := check_unique_host_ports(compose)), _report(problems)


@pytest.mark.parametrize("role", ROLES)
def test_depends_on_waits_for_healthy(compose, role):  # (d)
    _service(compose, role)
    assert not (problems := check_depends_on(compose, role)), _report(problems)


def test_only_scalable_roles_publish_no_ports(compose):  # (e)
    assert not (problems := check_scaling(compose)), _report(problems)


def test_redis_appendonly(compose):  # (f)
    assert not (problems := check_redis(compose)), _report(problems)


def test_one_image_and_declared_volumes(compose):
    assert not (problems := check_images_and_volumes(compose)), _report(problems)


def test_dockerfile(image):  # (g) and the image basics
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    assert not (problems := check_dockerfile(image, deps)), _report(problems)


def test_build_inputs_exist():
    """`docker build` fails on a COPY of a missing file (README.md is pyproject's readme)."""
    missing = sorted(name for name in BUILD_INPUTS if not (REPO / name).exists())
    assert not missing, f"Dockerfile copies {missing}, which do not exist in the repo root"


def test_dockerignore_keeps_out_venv_and_data_but_not_sources():
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")}
    missing = {".venv", ".git", "data", "**/__pycache__"} - patterns
    assert not missing, f".dockerignore does not exclude {sorted(missing)}"
    excluded = (BUILD_INPUTS | {"deploy", "deploy/wheelhouse"}) & patterns
    assert not excluded, f".dockerignore excludes build inputs {sorted(excluded)}"


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_HealthHandler]]]:
    handler = type("Handler", (_HealthHandler,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("role", ROLES)
def test_healthcheck_code_passes_on_200_and_fails_on_503(compose, role, health_server):  # (c)
    """Run the healthcheck's python code (port swapped for a local stub): exit 0 when /health
    answers 200, non-zero (= unhealthy) on 503 -- i.e. the check really can fail."""
    svc = _service(compose, role)
    code = healthcheck_python_code(svc)
    assert code, f"{role}: healthcheck is not `python -c <code>`: {svc.get('healthcheck')}"
    port, handler = health_server
    declared = service_environment(svc).get("TWINBED_PORT")
    assert f":{declared}/" in code, f"{role}: healthcheck code does not use TWINBED_PORT {declared}"
    code = code.replace(f":{declared}/", f":{port}/")
    for status, ok in ((200, True), (503, False)):
        handler.status = status
        rc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode
        assert (rc == 0) == ok, f"{role}: healthcheck exited {rc} when /health answered {status}"


# ---------------------------------------------------------------------------------------------
# Negative tests: break a copy, the checkers must notice (and name the culprit)
# ---------------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Mutation setting compose[path] (dot-separated; "-" deletes the key)."""
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[key]
        if value == "-":
            del doc[last]
        else:
            doc[last] = value
    return mutate


BROKEN_COMPOSE = {
    "role typo": (_set("services.cloud.command", ["serve", "clod"]), ["cloud:", "clod"]),
    "wrong verb": (_set("services.edge.command", ["run", "edge"]), ["edge:", "expected"]),
    "role/name mismatch": (_set("services.edge.command", ["serve", "sensor"]), ["edge:", "named"]),
    "entrypoint override": (_set("services.sensor.entrypoint", ["python"]), ["sensor:", "python"]),
    "env typo": (_set("services.controller.environment.TWINBED_REDIS_UR", "redis://redis:6379/0"),
                 ["controller:", "TWINBED_REDIS_UR", "did you mean TWINBED_REDIS_URL"]),
    "env not twinbed": (_set("services.cloud.environment.REDIS_URL", "x"), ["cloud:", "REDIS_URL"]),
    "redis host": (_set("services.edge.environment.TWINBED_REDIS_URL", "redis://localhost:6379/0"),
                   ["edge:", "localhost"]),
    "no port var": (_set("services.basestation.environment.TWINBED_PORT", "-"),
                    ["basestation:", "TWINBED_PORT"]),
    "healthcheck port": (_set("services.controller.healthcheck.test",
                              ["CMD", "python", "-c", "import urllib.request; "
                               "urllib.request.urlopen('http://127.0.0.1:8009/health')"]),
                         ["controller:", "8009"]),
    "curl healthcheck": (_set("services.cloud.healthcheck.test",
                              ["CMD", "curl", "-f", "http://127.0.0.1:8001/health"]),
                         ["cloud:", "curl"]),
    "healthcheck syntax": (_set("services.edge.healthcheck.test",
                                ["CMD", "python", "-c", "import urllib.request; urlopen('http://"
                                 "127.0.0.1:8003/health'"]), ["edge:", "compile"]),
    "container port": (_set("services.cloud.ports", ["127.0.0.1:18001:8000"]),
                       ["cloud:", "18001:8000"]),
    "duplicate host port": (_set("services.basestation.ports", ["127.0.0.1:18000:8002"]),
                            ["host port 18000", "basestation", "controller"]),
    "every interface": (_set("services.cloud.ports", ["18001:8001"]), ["cloud:", "every interface"]),
    "local stack port": (_set("services.controller.ports", ["127.0.0.1:8000:8000"]),
                         ["controller:", "local stack"]),
    "token optional": (_set("services.edge.environment.TWINBED_API_TOKEN", "${TWINBED_API_TOKEN:-}"),
                       ["edge:", "without TWINBED_API_TOKEN"]),
    "second build": (_set("services.edge.build", {"context": ".", "dockerfile": "deploy/Dockerfile"}),
                     ["build:", "edge"]),
    "pulls the image": (_set("services.sensor.pull_policy", "-"), ["sensor:", "pull_policy"]),
    "build args dropped": (_set("services.cloud.build.args", "-"), ["cloud:", "BASE_IMAGE"]),
    "depends_on list": (_set("services.sensor.depends_on", ["redis"]), ["sensor:", "list form"]),
    "service_started": (_set("services.edge.depends_on.redis.condition", "service_started"),
                        ["edge:", "service_started"]),
    "dependency without healthcheck": (_set("services.cloud.healthcheck", "-"),
                                       ["depends on cloud being healthy", "cloud has no healthcheck"]),
    "scaled with ports": (_set("services.sensor.ports", ["8004:8004"]), ["sensor:", "--scale"]),
    "container_name": (_set("services.edge.container_name", "edge"), ["edge:", "container_name"]),
    "unpublished fixed role": (_set("services.basestation.ports", "-"), ["basestation:", "publishes no port"]),
    "no appendonly": (_set("services.redis.command", ["redis-server"]), ["redis:", "appendonly"]),
    "shared redis user": (_set("services.sensor.environment.TWINBED_REDIS_URL",
                               "redis://cloud:${TWINBED_REDIS_PASSWORD_CLOUD:?x}@redis:6379/0"),
                          ["sensor:", "Redis user 'sensor'"]),
    "optional redis password": (_set("services.edge.environment.TWINBED_REDIS_URL",
                                     "redis://edge:${TWINBED_REDIS_PASSWORD_EDGE:-}@redis:6379/0"),
                                ["edge:", "TWINBED_REDIS_PASSWORD_EDGE"]),
    "no aclfile": (_set("services.redis.command", ["redis-server", "--dir", "/data",
                                                   "--appendonly", "yes"]), ["redis:", "--aclfile"]),
    "redis does not wait for its users": (_set("services.redis.depends_on", "-"),
                                          ["redis:", "redis-users"]),
    "no users writer": (_set("services.redis-users", "-"), ["redis-users:"]),
    "no key writer": (_set("services.bus-keys", "-"), ["bus-keys:"]),
    "optional key seed": (_set("services.bus-keys.environment.TWINBED_BUS_SEED_EDGE", "x"),
                          ["bus-keys:", "TWINBED_BUS_SEED_EDGE"]),
    "another role's key": (_set("services.sensor.volumes",
                                ["bus-key-sensor:/keys/sensor:ro", "bus-key-cloud:/keys/cloud:ro",
                                 "bus-keys-pub:/keys/pub:ro"]), ["sensor:", "bus-key-cloud"]),
    "key writable": (_set("services.edge.volumes", ["bus-key-edge:/keys/edge",
                                                    "bus-keys-pub:/keys/pub:ro"]),
                     ["edge:", "read-only"]),
    "keys not waited for": (_set("services.basestation.depends_on.bus-keys", "-"),
                            ["basestation:", "bus-keys"]),
    "missing role": (_set("services.sensor", "-"), ["sensor:", "no compose service"]),
    "image split": (_set("services.edge.image", "twinbed-edge:latest"), ["one image"]),
    "undeclared volume": (_set("services.cloud.volumes", ["artifacts:/data"]), ["cloud:", "artifacts"]),
}


def test_checkers_pass_on_the_real_files(compose, image, scripts):
    """Baseline for the negative tests: the unmodified files raise nothing."""
    assert not (problems := check_compose(compose, image, scripts)), _report(problems)


@pytest.mark.parametrize("case", BROKEN_COMPOSE)
def test_checkers_catch_broken_compose(compose, image, scripts, case):
    mutate, expected = BROKEN_COMPOSE[case]
    broken = json.loads(json.dumps(compose))
    mutate(broken)
    problems = check_compose(broken, image, scripts)
    hits = [p for p in problems if all(e in p for e in expected)]
    assert hits, f"{case}: no problem mentions all of {expected}; got:{_report(problems)}"


def _edit(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, f"negative test is stale: {old!r} not in deploy/Dockerfile"
        return text.replace(old, new)
    return mutate


_TORCH_LINE = ("RUN --mount=type=bind,source=deploy/wheelhouse,target=/wheelhouse \\\n"
               "    pip install ${WHEELHOUSE_ONLY:+--no-index} --find-links /wheelhouse "
               f"{TORCH_PIN} \\\n        --index-url ${{TORCH_INDEX_URL}}\n")

BROKEN_DOCKERFILE = {
    "torch unpinned": (_edit(f"{TORCH_PIN} ", "torch "), ["expected exactly torch==2.13.0"]),
    "torch wrong pin": (_edit(f"{TORCH_PIN} ", "torch==2.12.0 "), ["torch==2.12.0"]),
    "torch from PyPI": (_edit(" \\\n        --index-url ${TORCH_INDEX_URL}", ""), ["PyPI"]),
    "torch extra index": (_edit("--index-url", "--extra-index-url"), ["PyPI"]),
    "torch index default": (_edit(f"TORCH_INDEX_URL={CPU_INDEX}", "TORCH_INDEX_URL=https://pypi.org/simple"),
                            ["pypi.org"]),
    "package before torch": (lambda t: _edit(_TORCH_LINE, "")(t).replace(
        "RUN groupadd", _TORCH_LINE + "RUN groupadd"), ["runs before torch"]),
    "no package install": (_edit("--find-links /wheelhouse . \\\n", "--find-links /wheelhouse \\\n"),
                           ["never installs"]),
    "fixed base": (_edit("FROM ${BASE_IMAGE}", "FROM python:3.11-slim"), ["build argument"]),
    "base default": (_edit("BASE_IMAGE=python:3.11-slim", "BASE_IMAGE=debian:bookworm"),
                     ["debian:bookworm"]),
    "image volume": (_edit("USER twinbed", "VOLUME /data\nUSER twinbed"), ["VOLUME", "down -v"]),
    "copy everything": (_edit("COPY shared/ shared/", "COPY . ."), ["COPY ."]),
    "root user": (_edit("USER twinbed", "USER root"), ["non-root"]),
    "shell entrypoint": (_edit('ENTRYPOINT ["twinbed"]', "ENTRYPOINT twinbed"), ["ENTRYPOINT"]),
    "bad env": (_edit("TWINBED_DATA_DIR=/data", "TWINBED_DATADIR=/data"), ["TWINBED_DATADIR"]),
}


def test_dockerfile_negative_cases_are_stale_free():
    """Each Dockerfile mutation must apply to the current file (else it tests nothing)."""
    text = DOCKERFILE.read_text()
    for case, (mutate, _) in BROKEN_DOCKERFILE.items():
        assert mutate(text) != text, f"{case}: mutation changes nothing"


@pytest.mark.parametrize("case", BROKEN_DOCKERFILE)
def test_checkers_catch_broken_dockerfile(case):
    mutate, expected = BROKEN_DOCKERFILE[case]
    problems = check_dockerfile(parse_dockerfile(mutate(DOCKERFILE.read_text())), [TORCH_PIN])
    hits = [p for p in problems if all(e in p for e in expected)]
    assert hits, f"{case}: no problem mentions all of {expected}; got:{_report(problems)}"


def test_shell_entrypoint_breaks_every_command(compose, scripts):
    """A shell-form ENTRYPOINT ignores the compose command: every role must be reported."""
    image = parse_dockerfile(DOCKERFILE.read_text().replace('ENTRYPOINT ["twinbed"]', "ENTRYPOINT twinbed"))
    for role in ROLES:
        assert check_command(compose, role, image, scripts), f"{role}: shell ENTRYPOINT not caught"


def test_pyproject_torch_pin_must_match():
    problems = check_dockerfile(load_image(), ["torch>=2"])
    assert any("pyproject.toml pins torch" in p for p in problems), _report(problems)


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${TWINBED_API_TOKEN:-}", {}, ""),
        ("${TWINBED_API_TOKEN:-}", {"TWINBED_API_TOKEN": "s3cret"}, "s3cret"),
        ("${X:-info}", {"X": ""}, "info"),
        ("${X-info}", {"X": ""}, ""),
        ("a$$b", {}, "a$b"),
        ("$X/y", {"X": "p"}, "p/y"),
    ],
)
def test_interpolate(value, env, expected):
    assert interpolate(value, env) == expected


def test_interpolate_required_and_unsupported():
    with pytest.raises(ValueError, match="required"):
        interpolate("${X:?set it}", {})
    with pytest.raises(ValueError, match="unsupported"):
        interpolate("${X:-${Y}}", {})


@pytest.mark.parametrize(
    ("spec", "host", "container"),
    [("8000:8000", 8000, 8000), ("127.0.0.1:8001:8002/tcp", 8001, 8002), ("8003", None, 8003),
     ({"target": 8002, "published": "9002"}, 9002, 8002),
     ("${TWINBED_BIND:-127.0.0.1}:18001:8001", 18001, 8001)],
)
def test_parse_port(spec, host, container):
    m = parse_port(spec)
    assert (m.host, m.container) == (host, container)


def test_published_ports_bind_loopback_unless_told(compose):
    """(c) 127.0.0.1 by default; TWINBED_BIND moves every published port at once."""
    for name in ("controller", "cloud", "basestation"):
        ports = _service(compose, name)["ports"]
        assert {parse_port(p).host_ip for p in ports} == {"127.0.0.1"}, f"{name}: {ports}"
        wide = {parse_port(p, {**COMPOSE_ENV, "TWINBED_BIND": "0.0.0.0"}).host_ip for p in ports}
        assert wide == {"0.0.0.0"}, f"{name}: TWINBED_BIND ignored by {ports}"


def test_no_token_no_start(compose):  # (i)
    assert not (problems := check_token_required(compose)), _report(problems)
    with pytest.raises(ValueError, match="TWINBED_API_TOKEN"):
        service_environment(_service(compose, "controller"), _without("TWINBED_API_TOKEN"))


def test_each_role_is_its_own_redis_user(compose):  # (k)
    assert not (problems := check_redis_acl(compose)), _report(problems)
    with pytest.raises(ValueError, match="compose-env.sh"):
        service_environment(_service(compose, "sensor"), _without("TWINBED_REDIS_PASSWORD_SENSOR"))


def test_compose_env_script_writes_every_secret_once(tmp_path):
    """deploy/compose-env.sh writes the token and every password to a 0600 file, and a second
    run keeps them (a running stack's passwords must not change under it)."""
    env_file = tmp_path / "env"
    script = REPO / "deploy" / "compose-env.sh"
    subprocess.run([str(script), str(env_file)], check=True, capture_output=True)
    first = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert set(first) == {"TWINBED_API_TOKEN", *(f"TWINBED_REDIS_PASSWORD_{u.upper()}"
                                                 for u in ACL_USERS),
                          *(f"TWINBED_BUS_SEED_{r.upper()}" for r in ROLES)}
    seeds = {k: v for k, v in first.items() if k.startswith("TWINBED_BUS_SEED_")}
    assert signing.keys_from_env(seeds).keys() == set(ROLES)  # 32-byte hex seeds
    assert all(len(v) >= 32 for v in first.values()) and len(set(first.values())) == len(first)
    assert env_file.stat().st_mode & 0o777 == 0o600
    subprocess.run([str(script), str(env_file)], check=True, capture_output=True)
    assert dict(line.split("=", 1) for line in env_file.read_text().splitlines()) == first


def test_edge_replica_count_matches_its_setting(compose):
    """docker compose starts as many edge containers as each is told exist (TWINBED_REPLICAS),
    so the replica index leases 0..n-1 are all claimed and none waits."""
    edge = _service(compose, "edge")
    assert int(edge["environment"]["TWINBED_REPLICAS"]) == edge["deploy"]["replicas"] >= 2
