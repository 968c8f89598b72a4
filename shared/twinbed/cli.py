"""The ``twinbed`` command.

    twinbed up [--detach]            start Redis + the five services locally (what `make up` runs)
    twinbed down                     stop what `twinbed up` started
    twinbed status [--json]          what is running and healthy
    twinbed serve ROLE               run one service (what each container runs)
    twinbed run SCENARIO ...         start a live run through the controller and follow it
    twinbed simulate SCENARIO ...    the same rounds in-process, no services
    twinbed bench NAME               run a benchmark from bench/
    twinbed reproduce SCENARIO ...   a paper's figure: CSV + PNG + the paper's numbers beside ours
    twinbed claims [--json]          every scenario's computed verdicts: holds / explained / differs
    twinbed artifacts [--json]       the learned artifacts that ship, which the data dir overrides,
                                     checksums verified (exit 1 on a mismatch)
    twinbed train TARGET ...         train an agent or learned model (checkpoint in the data dir)
    twinbed solve SCENARIO ...       solve one instance
    twinbed calibrate SCENARIO ...   measure real components, fit the paper's model
    twinbed new-scenario NAME        a working minimal scenario folder (contract, world, one
                                     algorithm, roles, env, one figure, README, tests)

Errors are one line on stderr and exit code 2 (bad input) or 1 (failure), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from twinbed import acl, signing
from twinbed.artifact_store import inventory
from twinbed.artifacts import ArtifactError
from twinbed.budgets import budget_rows
from twinbed.claims import converted_scenarios, summarize, summary_json, summary_text
from twinbed.commands import VERBS, Command, CommandError, all_commands
from twinbed.config import ROLES, get_settings
from twinbed.contract.cliparams import (
    ParamError,
    add_param_options,
    param_table,
    parse_overrides,
    scenario_help_action,
    validate_params,
)
from twinbed.scaffold import ScaffoldError, new_scenario, next_steps
from twinbed.scenarios import AnyScenario, UnknownScenarioError, get_scenario, scenario_names
from twinbed.stack import Stack, StackError

__all__ = ["main"]


class CliError(Exception):
    """A problem the user can fix; printed as one line."""

    def __init__(self, msg: str, code: int = 2) -> None:
        super().__init__(msg)
        self.code = code


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    try:
        return parse_overrides(args.param, args.params)
    except ParamError as exc:
        raise CliError(str(exc)) from None


def _scenario(name: str) -> AnyScenario:
    try:
        return get_scenario(name)
    except UnknownScenarioError as exc:
        raise CliError(str(exc)) from None


def _scenario_params(name: str) -> str:
    """The parameter table ``twinbed run|simulate SCENARIO --help`` prints."""
    try:
        spec = get_scenario(name)
    except UnknownScenarioError as exc:
        return str(exc)
    return param_table(spec.params, title=f"{spec.name} parameters")


# -- stack ---------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    stack = Stack(args.data_dir)
    print("starting redis and the services ...", flush=True)
    try:
        info = stack.start()
    except StackError as exc:
        raise CliError(str(exc), 1) from None
    print("\ntwinbed is up")
    for name in info.names:
        print(f"  {name:<12} {info.url(name)}   (docs: {info.url(name)}/docs)")
    if info.redis_pid:
        print(f"  redis        {acl.redacted(info.redis_url)}"
              f"   (an ACL user per role; passwords in {stack.state_file}, mode 0600)")
    else:
        print(f"  redis        {acl.redacted(info.redis_url)}"
              "   (external: TWINBED_STACK_REDIS_URL)")
    print(f"\n  dashboard    {info.url('controller')}/ui/   (paste the API token there once)")
    print(f"  API token    {info.token}")
    print(f"  logs         {Path(info.data_dir) / 'logs'}")
    print(f"\n  start a run: curl -X POST {info.url('controller')}/runs "
          f"-H 'Authorization: Bearer {info.token}' -H 'Content-Type: application/json' "
          "-d '{\"scenario\": \"compression\", \"algorithm\": \"fixed-bf\", \"rounds\": 5}'")
    print(f"  twins:       curl {info.url('cloud')}/twins")
    if args.detach:
        print("\n  stop with:   make down   (or: twinbed down)")
        return 0
    print("\n  stop with:   Ctrl-C here, or `make down` from another shell", flush=True)
    stopping = {"now": False}

    def _stop(*_: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping["now"] and stack.state_file.exists():
            time.sleep(0.5)
    finally:
        stopped = stack.stop()
        if stopped:
            print(f"\nstopped: {', '.join(stopped)}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = Stack(args.data_dir).stop()
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def cmd_redis_acl(args: argparse.Namespace) -> int:
    """Write Redis's users file from TWINBED_REDIS_PASSWORD_<USER> (compose's one-shot
    ``redis-users`` service; the local stack writes its own)."""
    try:
        passwords = acl.passwords_from_env()
        lines = acl.acl_lines(passwords, redis_major=args.redis_major)
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    out = Path(args.file)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")  # digests only: readable by the Redis server
    tmp.replace(out)
    print(f"wrote {len(lines) - 1} Redis users to {out}")
    return 0


def cmd_bus_keys(args: argparse.Namespace) -> int:
    """Write the bus signing keys from TWINBED_BUS_SEED_<ROLE> (compose's one-shot
    ``bus-keys`` service; the local stack writes its own), or fresh ones with ``--new``:
    ``DIR/<role>/<role>.key`` (0600) and ``DIR/pub/<role>.pub``."""
    out = Path(args.dir)
    if args.new:
        if out.exists() and any(out.iterdir()):
            raise CliError(f"{out} is not empty: --new writes fresh keys into a new folder", 2)
        out.mkdir(parents=True, exist_ok=True)
        seeds = signing.new_seeds()
    else:
        try:
            seeds = signing.keys_from_env()
        except ValueError as exc:
            raise CliError(str(exc), 2) from None
    if not out.is_dir():
        raise CliError(f"{out} is not a folder", 2)
    signing.write_keys(out, seeds)
    print(f"wrote the bus keys of {len(seeds)} roles under {out} (private 0600, public in "
          f"{signing.pub_dir(out)})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    rows = Stack(args.data_dir).status()
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print(f"no local stack recorded in {Path(args.data_dir) / 'stack.json'}")
    else:
        for name, row in rows.items():
            alive = "running" if row["alive"] else "DOWN"
            print(f"{name:<12} pid {row['pid']!s:<8} {alive:<8} {row.get('health', '')!s:<12} "
                  f"{row['url']}")
    healthy = bool(rows) and all(
        r["alive"] and r.get("health", "ok") == "ok" for r in rows.values())
    return 0 if healthy else 1


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    s = get_settings()
    try:  # the service loads them again; here a missing key is one line, not a traceback
        signing.load(s.bus_key, s.bus_pubkeys, args.role)
    except ValueError as exc:
        raise CliError(f"{args.role}: {exc}", 2) from None
    uvicorn.run(f"twinbed_services.{args.role}.main:create", factory=True,
                host=args.host or s.host, port=args.port or s.port_for(args.role),
                log_level=s.log_level, access_log=False)
    return 0


# -- runs ----------------------------------------------------------------------------------
def _stack_url_token(args: argparse.Namespace) -> tuple[str, str]:
    if args.url:
        return args.url.rstrip("/"), args.token or get_settings().api_token
    info = Stack(args.data_dir).load()
    if info is None:
        raise CliError("no local stack is running (start one with `make up`), or pass --url", 1)
    return info.url("controller"), args.token or info.token


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    url, token = _stack_url_token(args)
    spec = _scenario(args.scenario)
    algorithm = args.algorithm or spec.algorithms[0]
    body = {"scenario": args.scenario, "algorithm": algorithm, "seed": args.seed,
            "rounds": args.rounds, "params": _overrides(args)}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.post(f"{url}/runs", json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise CliError(f"controller unreachable at {url}: {exc}", 1) from None
    if resp.status_code >= 400:
        raise CliError(f"controller refused the run ({resp.status_code}): "
                       f"{resp.json().get('detail', resp.text)}")
    cfg = resp.json()["config"]
    run_id = cfg["id"]
    print(f"run {run_id} started: {url}/runs/{run_id}", flush=True)
    for a in cfg.get("artifacts", []):
        print(f"  uses {a['file']} (version {a['version'] or '-'}, {a['origin']})", flush=True)
    with tqdm(total=args.rounds, unit="round", disable=not sys.stderr.isatty()) as bar:
        while True:
            view = httpx.get(f"{url}/runs/{run_id}", timeout=30).json()
            bar.update(view["status"]["rounds_done"] - bar.n)
            if view["status"]["status"] != "running":
                break
            time.sleep(0.2)
    status = view["status"]["status"]
    rounds = view["rounds"] or []
    print(f"run {run_id}: {status}, {len(rounds)} rounds")
    for rec in rounds[-5:]:
        print(f"  round {rec['round']:>4}: {spec.duration_key} {rec.get(spec.duration_key)!s:<22} "
              f"wall {rec.get('wall_s', 0):.3f}s missing {len(rec.get('missing', []))}"
              + _headline(spec, rec))
    return 0 if status == "completed" else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    spec = _scenario(args.scenario)
    algorithm = args.algorithm or spec.algorithms[0]
    if algorithm not in spec.algorithms:
        raise CliError(f"unknown algorithm {algorithm!r}; known: {', '.join(spec.algorithms)}")
    try:
        p = validate_params(spec.params, _overrides(args))
        # the artifacts the run needs, from --data-dir (else shipped): the one clear error
        spec.preflight(p, algorithm, args.seed, Path(args.data_dir))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    recs = spec.simulate(p, algorithm, args.seed, args.rounds, Path(args.data_dir))
    if args.json:
        print(json.dumps(recs))
    else:
        key = spec.duration_key
        for rec in recs:
            extra = f"  beta {[f'{b:.3f}' for b in rec['beta']]}" if "beta" in rec else ""
            print(f"round {rec['round']:>4}: {key.removesuffix('_s')} {rec[key]:.6f}s{extra}"
                  + _headline(spec, rec))
    return 0


def _headline(spec: AnyScenario, rec: dict[str, Any]) -> str:
    """The scenario's headline metrics of one round record, as `  name value` pairs."""
    parts = []
    for name in spec.headline:
        v = rec.get(name)
        parts.append(f"{name} {v:.6g}" if isinstance(v, float) else f"{name} {v}")
    return ("  " + "  ".join(parts)) if parts else ""


def cmd_bench(args: argparse.Namespace) -> int:
    root = Path(__file__).resolve().parents[2] / "bench"
    script = root / f"bench_{args.name.replace('-', '_')}.py"  # `bench network-twin`
    if not script.exists():
        known = sorted(p.stem.removeprefix("bench_") for p in root.glob("bench_*.py"))
        raise CliError(f"unknown benchmark {args.name!r}; known: {', '.join(known) or 'none'}")
    sys.argv = [str(script), *args.rest]
    sys.path.insert(0, str(root))  # as `python bench/bench_x.py` would: shared bench helpers
    runpy.run_path(str(script), run_name="__main__")
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    figures = Path(args.figures) if args.figures else Path(args.data_dir) / "figures"
    if args.figures and not figures.is_dir():
        raise CliError(f"--figures {figures}: no such directory")
    summaries = summarize(figures, scenario_names(), converted_scenarios())
    if args.json:
        print(json.dumps(summary_json(summaries), indent=1))
    else:
        print(f"claims files under {figures} (written by `twinbed reproduce SCENARIO ...`)\n")
        print(summary_text(summaries))
    return 0


def _natural(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    data_dir_help = "where the local stack keeps Redis data, logs and artifacts"
    ap = argparse.ArgumentParser(prog="twinbed", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("TWINBED_DATA_DIR", "data"),
                    help=data_dir_help)
    # --data-dir is accepted after the subcommand too (`twinbed status --data-dir D`)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_dir_help)
    sub = ap.add_subparsers(dest="cmd", required=True)
    _add = sub.add_parser

    def add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        return _add(name, parents=[common], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    p = sub.add_parser("up", help="start Redis and the five services locally")
    p.add_argument("--detach", action="store_true", help="return once everything is healthy")
    p.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop the local stack").set_defaults(fn=cmd_down)
    p = sub.add_parser("status", help="what is running and healthy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_status)

    p = sub.add_parser("redis-acl", help="write Redis's users file (a user per role) from "
                       "TWINBED_REDIS_PASSWORD_<USER> variables (compose)")
    p.add_argument("file")
    p.add_argument("--redis-major", type=int, default=7,
                   help="the Redis server's major version (7: shared keys read-only)")
    p.set_defaults(fn=cmd_redis_acl)

    p = sub.add_parser("bus-keys", help="write every role's bus signing key pair from "
                       "TWINBED_BUS_SEED_<ROLE> variables (compose)")
    p.add_argument("dir", help="DIR/<role>/<role>.key (0600) and DIR/pub/<role>.pub")
    p.add_argument("--new", action="store_true",
                   help="fresh random keys into a new or empty DIR (Kubernetes Secrets), "
                   "instead of the TWINBED_BUS_SEED_<ROLE> variables")
    p.set_defaults(fn=cmd_bus_keys)

    p = sub.add_parser("serve", help="run one service in the foreground")
    p.add_argument("role", choices=ROLES)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(fn=cmd_serve)

    for name, fn, help_ in (("run", cmd_run, "start a live run and follow it"),
                            ("simulate", cmd_simulate, "run the rounds in-process")):
        p = sub.add_parser(name, help=help_, add_help=False)
        p.add_argument("-h", "--help", action=scenario_help_action(_scenario_params))
        p.add_argument("scenario", help="scenario name (with --help: lists its parameters)")
        p.add_argument("--algorithm", default=None,
                       help="decision maker (default: the scenario's first)")
        p.add_argument("--seed", type=_natural(0), default=0)
        p.add_argument("--rounds", type=_natural(1), default=5)
        add_param_options(p)
        if name == "run":
            p.add_argument("--url", help="controller URL (default: the local stack's)")
            p.add_argument("--token", help="API token (default: the local stack's)")
        else:
            p.add_argument("--json", action="store_true")
        p.set_defaults(fn=fn)

    p = sub.add_parser("bench", help="run a benchmark (bench/bench_NAME.py)")
    p.add_argument("name")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_bench)

    p = sub.add_parser("claims", help="count every scenario's computed verdicts (holds / "
                                      "differs-explained / differs) with links to the reasons")
    p.add_argument("--figures", metavar="DIR",
                   help="where the figures are (default: <data-dir>/figures)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_claims)

    p = sub.add_parser("artifacts", help="list the shipped learned artifacts and the data "
                                         "directory's overrides; verify every checksum")
    p.add_argument("--json", action="store_true")
    p.add_argument("--budgets", action="store_true",
                   help="the shipped agents' training steps beside their papers' budgets, "
                        "and how their learning curves ended")
    p.set_defaults(fn=cmd_artifacts)

    p = sub.add_parser("new-scenario", help="create a working minimal scenario folder that "
                                            "passes the contract tests (a new paper)")
    p.add_argument("name", help="the scenario's kebab-case name (its module: snake_case)")
    p.add_argument("--into", type=Path, default=None, metavar="DIR",
                   help="write DIR/<module>/ (default: the package's scenarios folder; "
                        "discovery finds DIR when it is on TWINBED_SCENARIO_PATH)")
    p.add_argument("--title", default=None, help="a one-line title for docstrings and README")
    p.set_defaults(fn=cmd_new_scenario)

    _add_scenario_commands(sub)
    return ap


def cmd_new_scenario(args: argparse.Namespace) -> int:
    try:
        made = new_scenario(args.name, args.into, args.title)
    except ScaffoldError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write the scenario: {exc}", 1) from None
    print(next_steps(made))
    return 0


def _print_budgets(as_json: bool) -> int:
    """The shipped agents' training budgets beside their papers' (twinbed.budgets)."""
    rows = list(budget_rows())
    if as_json:
        print(json.dumps([r.as_json() for r in rows], indent=1))
        return 0
    print(f"{'scenario':<13} {'artifact':<44} {'steps':>7} {'paper':>8} {'share':>6} "
          f"{'last quarter':>12}")
    sources: dict[str, str] = {}
    for r in rows:
        paper = "-" if r.paper is None or r.paper.steps is None else f"{r.paper.steps:,}"
        share = "-" if r.fraction is None else f"{100 * r.fraction:.0f}%"
        tail = "-" if r.tail_change_pct is None else f"{r.tail_change_pct:+.1f}%"
        mark = ""
        if r.paper is not None:
            mark = sources.setdefault(r.paper.source, f"[{len(sources) + 1}]")
        steps = "-" if r.steps is None else f"{r.steps:,}"
        print(f"{r.scenario:<13} {r.file:<44} {steps:>7} {paper:>8} {share:>6} {tail:>12} {mark}")
    print("\nlast quarter: the change of the training curve (moving mean episode reward) "
          "across its last quarter of steps, fitted by least squares, in % of its end level; "
          "positive: still rising when training stopped")
    for source, mark in sources.items():
        print(f"{mark} paper: {source}")
    return 0


def cmd_artifacts(args: argparse.Namespace) -> int:
    """What ships (scenario, name, version, size), what ``--data-dir`` overrides (the user's
    file wins), and whether every file matches the checksum its record states."""
    if args.budgets:
        return _print_budgets(args.json)
    rows = inventory(Path(args.data_dir))
    if args.json:
        print(json.dumps([{"scenario": r.scenario, "name": r.name, "file": r.file,
                           "version": r.version, "size_bytes": r.size_bytes,
                           "shipped": str(r.shipped), "shipped_problem": r.shipped_problem,
                           "user": None if r.user is None else str(r.user),
                           "user_problem": r.user_problem, "used": r.used, "ok": r.ok}
                          for r in rows], indent=1))
    else:
        print(f"{'scenario':<14} {'artifact':<28} {'ver':>3} {'size':>9}  {'used':<8} check")
        for r in rows:
            check = "ok" if r.ok else "; ".join(
                f"{which} {where}: {prob}" for which, where, prob in (
                    ("shipped", r.shipped, r.shipped_problem), ("user", r.user, r.user_problem))
                if prob)
            print(f"{r.scenario:<14} {r.file:<28} {r.version:>3} {r.size_bytes / 1024:8.0f}K  "
                  f"{r.used:<8} {check}")
            if r.user is not None:
                print(f"{'':<14}   overridden by {r.user}")
        total = sum(r.size_bytes for r in rows)
        print(f"{len(rows)} shipped artifacts, {total / 2**20:.2f} MiB; "
              f"{sum(r.user is not None for r in rows)} overridden in {args.data_dir}")
    bad = [r for r in rows if not r.ok]
    if bad:
        print(f"twinbed: error: {len(bad)} artifact(s) fail their checksum", file=sys.stderr)
        return 1
    return 0


def _add_scenario_commands(sub: Any) -> None:
    """``twinbed VERB TARGET`` for every command a scenario's ``commands.py`` declares."""
    commands = all_commands()
    for verb, help_ in VERBS.items():
        mine = [c for c in commands if c.verb == verb]
        p = sub.add_parser(verb, help=help_)
        targets = p.add_subparsers(dest="target", required=True, metavar="TARGET",
                                   title="targets" if mine else "targets (none yet)")
        for c in mine:
            tp = targets.add_parser(c.target, help=c.help, description=c.help)
            tp.add_argument("--data-dir", default=argparse.SUPPRESS,
                            help="where artifacts are read and written (default: ./data)")
            c.add_arguments(tp)
            tp.set_defaults(fn=_run_command(c))


def _run_command(c: Command) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(c.run(args) or 0)
        except CommandError as exc:
            raise CliError(str(exc), exc.code) from None
        except (ParamError, ArtifactError) as exc:  # a bad --param, a missing/corrupt artifact
            raise CliError(str(exc)) from None

    return run


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except CliError as exc:
        print(f"twinbed: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
