"""Offline checks of the Kubernetes manifests (deploy/k8s) -- no cluster needed.

Both kustomizations are rendered (``deploy/k8s/base``, and ``overlays/redis-single`` with a
token file in a temporary copy) with the real kustomize when there is one (``kubectl
kustomize`` or ``kustomize build``), else with :func:`load_kustomization`, a small loader of
exactly the features the manifests use (a ``resources`` list, a ``secretGenerator`` without
name hashing), which refuses anything else rather than render it differently. Where a real
kustomize exists, the loader's output is checked equal to it.

Every rendered object is validated against the OpenAPI schemas of Kubernetes ``K8S_VERSION``
(the ``kubernetes-validate`` package, strict: unknown fields are errors), then the checkers
below (``check_*``, each returning a list of problems, run on the real files and on broken
copies) check what the schemas cannot, the invariants tests/deploy/test_compose.py checks of
docker-compose.yml:

(a) one Deployment per role of ``twinbed.config.ROLES``, running the image's ENTRYPOINT
    (``twinbed``, a console script) with ``args: [serve, <role>]``;
(b) every variable (the ConfigMap's, each container's) is ``TWINBED_<field>`` of
    ``twinbed.config.Settings`` and the values validate; the token comes from the Secret only;
(c) TWINBED_PORT == the container port == ``twinbed.config.DEFAULT_PORTS[role]``; the
    startup, readiness and liveness probes GET ``/health`` on that port, a route the role's
    app serves; a Service for each published role (controller, cloud, basestation) selects
    exactly that role's pods on that port;
(d) the scalable roles (edge, sensor) have no Service and a HorizontalPodAutoscaler on their
    Deployment (with a CPU request, which a utilization target needs); the edge count, its
    TWINBED_REPLICAS and TWINBED_EDGE_REPLICAS agree;
(e) Redis is external in the base (no Redis object); the overlay's StatefulSet runs it with
    ``--appendonly yes`` behind the Service TWINBED_REDIS_URL names, on its port;
(f) controller and cloud mount the data claim at TWINBED_DATA_DIR;
(g) each role mounts its own bus key Secret (``twinbed-bus-key-<role>``) at /keys/<role> and
    the public keys (``twinbed-bus-pubkeys``) at /keys/pub, read-only, and no other role's
    key; TWINBED_BUS_KEY / TWINBED_BUS_PUBKEYS point there; the overlay renders the Secrets
    from ``keys/`` (``twinbed bus-keys --new``), which git ignores.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from fastapi.routing import APIRoute
from pydantic import ValidationError

from twinbed import signing
from twinbed.config import DEFAULT_PORTS, ROLES, Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = Path("base")
OVERLAY = Path("overlays") / "redis-single"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
PYPROJECT = REPO / "pyproject.toml"

K8S_VERSION = "1.32.0"  # the schemas validated against (kubectl on the dev machines is 1.32)
PUBLISHED = frozenset({"controller", "cloud", "basestation"})  # have a Service
SCALABLE = frozenset({"edge", "sensor"})  # have an HPA, no Service
SETTING_VARS = frozenset("TWINBED_" + name.upper() for name in Settings.model_fields)
TOKEN_SECRET, TOKEN_KEY = "twinbed-api-token", "TWINBED_API_TOKEN"
KEY_SECRET, PUBKEYS_SECRET = "twinbed-bus-key", "twinbed-bus-pubkeys"  # -<role> for the first
SETTINGS_CONFIGMAP = "twinbed-settings"
DATA_CLAIM = "twinbed-data"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")

Obj = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def kustomize_command() -> list[str] | None:
    """The real kustomize: ``kustomize build`` or ``kubectl kustomize`` (built in since 1.14)."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render_with_kustomize(path: Path) -> list[Obj]:
    cmd = kustomize_command()
    assert cmd is not None
    out = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise ValueError(f"{' '.join(cmd)} {path} failed: {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


_LOADER_KEYS = frozenset({"apiVersion", "kind", "resources", "secretGenerator"})
_SECRET_GENERATOR_KEYS = frozenset({"name", "envs", "files", "literals", "options"})


def _env_pairs(lines: Iterable[str], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{where}: expected KEY=VALUE, got {line!r}")
        out[key] = value
    return out


def _b64(value: str) -> str:
    """A Secret value as kustomize writes it: base64, wrapped at 70 characters (with a final
    newline) once longer than that."""
    text = base64.b64encode(value.encode()).decode()
    if len(text) <= 70:
        return text
    return "".join(text[i:i + 70] + "\n" for i in range(0, len(text), 70))


def load_kustomization(path: Path) -> list[Obj]:
    """Render a kustomization without kustomize, for the features the manifests use only:

    * ``resources``: YAML files (every document, in order) and kustomization directories;
    * ``secretGenerator`` with ``envs`` files, ``files`` (each file one key, its name) and
      ``literals`` and
      ``options: {disableNameSuffixHash: true}`` (no hash suffix, so no name references to
      rewrite), emitted as kustomize does: an ``Opaque`` Secret, values base64-encoded.

    Any other key raises ValueError: a loader that silently skipped a patch or a
    transformer would check manifests other than the ones a user applies.
    """
    kfile = path / "kustomization.yaml"
    if not kfile.is_file():
        raise ValueError(f"{path}: no kustomization.yaml")
    spec = yaml.safe_load(kfile.read_text()) or {}
    unsupported = set(spec) - _LOADER_KEYS
    if unsupported:
        raise ValueError(f"{kfile}: the fallback loader does not support {sorted(unsupported)}; "
                         "render with kustomize (kubectl kustomize) or extend load_kustomization")
    objs: list[Obj] = []
    for res in spec.get("resources", []):
        target = (path / res).resolve()
        if target.is_dir():
            objs += load_kustomization(target)
        elif target.is_file():
            objs += [d for d in yaml.safe_load_all(target.read_text()) if d]
        else:
            raise ValueError(f"{kfile}: resource {res!r} does not exist")
    for gen in spec.get("secretGenerator", []):
        if set(gen) - _SECRET_GENERATOR_KEYS or gen.get("options") != {"disableNameSuffixHash": True}:
            raise ValueError(f"{kfile}: secretGenerator {gen.get('name')!r}: the fallback loader "
                             "supports name, envs, files, literals and disableNameSuffixHash: "
                             "true only")
        data: dict[str, str] = {}
        for env_file in gen.get("envs", []):
            src = path / env_file
            if not src.is_file():
                raise ValueError(f"{kfile}: env source file {env_file!r} does not exist ({src})")
            data.update(_env_pairs(src.read_text().splitlines(), str(src)))
        for file in gen.get("files", []):
            src = path / file
            if not src.is_file():
                raise ValueError(f"{kfile}: file source {file!r} does not exist ({src})")
            data[src.name] = src.read_text()
        data.update(_env_pairs(gen.get("literals", []), f"{kfile} literals"))
        objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": gen["name"]},
                     "type": "Opaque",
                     "data": {k: _b64(v) for k, v in data.items()}})
    return objs


def render(path: Path) -> list[Obj]:
    return render_with_kustomize(path) if kustomize_command() else load_kustomization(path)


def by_kind(objs: Iterable[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def _key(o: Obj) -> tuple[str, str]:
    return o["kind"], o["metadata"]["name"]


# ---------------------------------------------------------------------------------------------
# Reading the objects
# ---------------------------------------------------------------------------------------------


def deployment_of(objs: Iterable[Obj], role: str) -> Obj | None:
    for d in by_kind(objs, "Deployment").values():
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        if labels.get("app.kubernetes.io/component") == role:
            return d
    return None


def container(d: Obj) -> Obj:
    return d["spec"]["template"]["spec"]["containers"][0]


def container_env(objs: list[Obj], d: Obj) -> dict[str, str | None]:
    """The container's TWINBED_* environment: ConfigMaps of envFrom, then env (which wins).
    A value from a secretKeyRef is None (never a literal in the manifests)."""
    c = container(d)
    env: dict[str, str | None] = {}
    maps = by_kind(objs, "ConfigMap")
    for src in c.get("envFrom", []):
        ref = src.get("configMapRef", {}).get("name")
        if ref in maps:
            env.update(maps[ref].get("data", {}))
    for e in c.get("env", []):
        env[e["name"]] = e.get("value") if "valueFrom" not in e else None
    return env


def container_port(c: Obj, ref: Any) -> int | None:
    """A probe's or Service's port (a number or a container port's name) as a number."""
    if isinstance(ref, int):
        return ref
    for p in c.get("ports", []):
        if p.get("name") == ref:
            return int(p["containerPort"])
    return None


def role_app_routes(role: str) -> set[tuple[str, str]]:
    """(method, path) of every route the role's app serves (no lifespan: nothing starts)."""
    import importlib

    app = importlib.import_module(f"twinbed_services.{role}.main").create()
    return {(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods}


def image_entrypoint(path: Path = DOCKERFILE) -> list[str] | None:
    """The exec-form ENTRYPOINT of the Dockerfile's last stage."""
    entry = None
    for line in path.read_text().splitlines():
        if line.startswith("FROM "):
            entry = None
        m = re.match(r"ENTRYPOINT\s+(\[.*\])\s*$", line)
        if m:
            entry = json.loads(m.group(1))
    return entry


# ---------------------------------------------------------------------------------------------
# Checkers: each returns a list of problems naming the object
# ---------------------------------------------------------------------------------------------


def check_validates(objs: list[Obj], version: str = K8S_VERSION) -> list[str]:
    problems = []
    for o in objs:
        try:
            got = kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.append(f"{o['kind']}/{o['metadata']['name']}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"{o['kind']}/{o['metadata']['name']}: {e.message}")
        else:
            if got != ".".join(version.split(".")[:2]):
                problems.append(f"validated against {got}, expected {version}")
    return problems


def check_selectors(objs: list[Obj]) -> list[str]:
    """What the API server rejects but the schemas allow: a selector its pods do not match."""
    problems = []
    for kind in ("Deployment", "StatefulSet"):
        for name, d in by_kind(objs, kind).items():
            sel = d["spec"]["selector"].get("matchLabels", {})
            labels = d["spec"]["template"]["metadata"].get("labels", {})
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                problems.append(f"{kind}/{name}: selector {sel} does not match its pods {labels}")
    return problems


def check_commands(objs: list[Obj], entrypoint: list[str] | None,
                   scripts: Mapping[str, str]) -> list[str]:  # (a)
    problems = []
    if entrypoint != ["twinbed"] or "twinbed" not in scripts:
        problems.append(f"Dockerfile: ENTRYPOINT {entrypoint}, expected [\"twinbed\"], a console "
                        "script of pyproject.toml")
    deployments = by_kind(objs, "Deployment")
    for role in ROLES:
        d = deployment_of(objs, role)
        if d is None:
            problems.append(f"{role}: no Deployment (pods labelled app.kubernetes.io/component={role})")
            continue
        c = container(d)
        name = d["metadata"]["name"]
        if "command" in c:
            problems.append(f"{name}: sets command {c['command']}, replacing the image's "
                            "ENTRYPOINT; set args only")
        if c.get("args") != ["serve", role]:
            problems.append(f"{name}: args {c.get('args')}, expected ['serve', '{role}']")
        if c.get("image", "").rsplit(":", 1)[0] != "twinbed":
            problems.append(f"{name}: image {c.get('image')}, expected the one image twinbed")
    roles = {d["metadata"]["name"] for r in ROLES if (d := deployment_of(objs, r)) is not None}
    if extra := set(deployments) - roles:
        problems.append(f"Deployments that run no role: {sorted(extra)}")
    return problems


def check_environment(objs: list[Obj]) -> list[str]:  # (b)
    problems = []
    for name, cm in by_kind(objs, "ConfigMap").items():
        for var in sorted(set(cm.get("data", {})) - SETTING_VARS):
            problems.append(f"ConfigMap/{name}: {var} is not a twinbed setting "
                            "(a field of twinbed.config.Settings)")
    for role in ROLES:
        d = deployment_of(objs, role)
        if d is None:
            continue
        name, c = d["metadata"]["name"], container(d)
        maps = by_kind(objs, "ConfigMap")
        for src in c.get("envFrom", []):
            ref = src.get("configMapRef", {}).get("name")
            if ref not in maps:
                problems.append(f"{name}: envFrom names ConfigMap {ref!r}, which is not rendered")
        for e in c.get("env", []):
            if e["name"] not in SETTING_VARS:
                problems.append(f"{name}: {e['name']} is not a twinbed setting")
        token = [e for e in c.get("env", []) if e["name"] == TOKEN_KEY]
        ref = token[0].get("valueFrom", {}).get("secretKeyRef", {}) if token else {}
        if (ref.get("name"), ref.get("key")) != (TOKEN_SECRET, TOKEN_KEY) or ref.get("optional"):
            problems.append(f"{name}: {TOKEN_KEY} must come from Secret {TOKEN_SECRET} key "
                            f"{TOKEN_KEY} (not optional); got {token}")
        if any(TOKEN_KEY in m.get("data", {}) for m in maps.values()):
            problems.append(f"{TOKEN_KEY} in a ConfigMap: the token belongs in the Secret")
        env = container_env(objs, d)
        values = {k[len("TWINBED_"):].lower(): v for k, v in env.items()
                  if k in SETTING_VARS and v is not None}
        try:
            Settings(**values)
        except ValidationError as exc:
            problems.append(f"{name}: settings do not validate: {exc}")
    return problems


def check_ports_and_probes(objs: list[Obj],
                           routes: Callable[[str], set[tuple[str, str]]]) -> list[str]:  # (c)
    problems = []
    for role in ROLES:
        d = deployment_of(objs, role)
        if d is None:
            continue
        name, c = d["metadata"]["name"], container(d)
        port = DEFAULT_PORTS[role]
        env = container_env(objs, d)
        if env.get("TWINBED_PORT") != str(port):
            problems.append(f"{name}: TWINBED_PORT {env.get('TWINBED_PORT')}, expected {port} "
                            "(twinbed.config.DEFAULT_PORTS)")
        declared = [p["containerPort"] for p in c.get("ports", [])]
        if declared != [port]:
            problems.append(f"{name}: container ports {declared}, expected [{port}]")
        for probe in PROBES:
            get = c.get(probe, {}).get("httpGet")
            if not get:
                problems.append(f"{name}: no {probe} GET /health")
                continue
            if container_port(c, get.get("port")) != port or get.get("path") != "/health":
                problems.append(f"{name}: {probe} GETs {get.get('path')} on {get.get('port')}, "
                                f"expected /health on {port}")
        if ("GET", "/health") not in routes(role):
            problems.append(f"{name}: the {role} app serves no GET /health")
    services = by_kind(objs, "Service")
    for role in ROLES:
        d = deployment_of(objs, role)
        if d is None:
            continue
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        selecting = [s for s in services.values()
                     if s["spec"].get("selector")
                     and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())]
        if role in SCALABLE and selecting:
            problems.append(f"{role}: scalable, reached through the bus only, yet Service "
                            f"{selecting[0]['metadata']['name']} selects it")
        if role in PUBLISHED:
            if len(selecting) != 1:
                problems.append(f"{role}: published, expected one Service selecting its pods, "
                                f"got {len(selecting)}")
                continue
            svc = selecting[0]
            others = [r for r in ROLES if r != role and (o := deployment_of(objs, r)) and all(
                o["spec"]["template"]["metadata"].get("labels", {}).get(k) == v
                for k, v in svc["spec"]["selector"].items())]
            if others:
                problems.append(f"Service/{svc['metadata']['name']} also selects {others}")
            for p in svc["spec"]["ports"]:
                target = container_port(container(d), p.get("targetPort", p["port"]))
                if target != DEFAULT_PORTS[role] or p["port"] != DEFAULT_PORTS[role]:
                    problems.append(f"Service/{svc['metadata']['name']}: port {p['port']} -> "
                                    f"{p.get('targetPort')} ({target}), expected "
                                    f"{DEFAULT_PORTS[role]} -> the container's {DEFAULT_PORTS[role]}")
    return problems


def check_scaling(objs: list[Obj]) -> list[str]:  # (d)
    problems = []
    hpas = by_kind(objs, "HorizontalPodAutoscaler")
    for role in sorted(SCALABLE):
        d = deployment_of(objs, role)
        if d is None:
            continue
        name = d["metadata"]["name"]
        mine = [h for h in hpas.values() if h["spec"]["scaleTargetRef"]
                == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
        if len(mine) != 1:
            problems.append(f"{name}: expected one HorizontalPodAutoscaler on it, got {len(mine)}")
            continue
        hpa = mine[0]["spec"]
        cpu_target = any(m.get("resource", {}).get("name") == "cpu" for m in hpa.get("metrics", []))
        if cpu_target and "cpu" not in container(d).get("resources", {}).get("requests", {}):
            problems.append(f"{name}: the HPA targets CPU utilization but the container "
                            "requests no cpu (utilization is relative to the request)")
        if role == "edge":
            env = container_env(objs, d)
            counts = {"replicas": d["spec"].get("replicas", 1),
                      "TWINBED_REPLICAS": int(env.get("TWINBED_REPLICAS") or 1),
                      "TWINBED_EDGE_REPLICAS": int(env.get("TWINBED_EDGE_REPLICAS") or 2),
                      "HPA minReplicas": hpa.get("minReplicas", 1),
                      "HPA maxReplicas": hpa["maxReplicas"]}
            if len(set(counts.values())) != 1:
                problems.append(f"{name}: each edge pod holds one replica index, so these must "
                                f"agree: {counts}")
    return problems


def check_redis(objs: list[Obj], overlay: bool) -> list[str]:  # (e)
    problems = []
    urls = {m["data"].get("TWINBED_REDIS_URL") for m in by_kind(objs, "ConfigMap").values()} - {None}
    if len(urls) != 1:
        return [f"expected one TWINBED_REDIS_URL in the ConfigMaps, got {sorted(urls)}"]
    url = urlsplit(urls.pop())
    redis_sets = [s for s in by_kind(objs, "StatefulSet").values()
                  if container(s)["name"] == "redis"]
    if not overlay:
        if redis_sets:
            problems.append("base: Redis is an external dependency, yet a Redis StatefulSet renders")
        return problems
    if len(redis_sets) != 1 or redis_sets[0]["spec"].get("replicas", 1) != 1:
        return [f"overlay: expected one single-instance Redis StatefulSet, got {len(redis_sets)}"]
    sts = redis_sets[0]
    argv = [*container(sts).get("command", []), *container(sts).get("args", [])]
    if "--appendonly" not in argv or argv[argv.index("--appendonly") + 1] != "yes":
        problems.append(f"StatefulSet/{sts['metadata']['name']}: runs {argv}, expected "
                        "--appendonly yes (stream entries survive a restart)")
    svc = by_kind(objs, "Service").get(url.hostname or "")
    if svc is None:
        return problems + [f"TWINBED_REDIS_URL host {url.hostname!r} is no Service"]
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    if any(pod_labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        problems.append(f"Service/{url.hostname} does not select the Redis pod")
    port = url.port or 6379
    if not any(p["port"] == port and container_port(container(sts), p.get("targetPort", port))
               == 6379 for p in svc["spec"]["ports"]):
        problems.append(f"Service/{url.hostname}: no port {port} -> the Redis container's 6379")
    if sts["spec"].get("serviceName") != svc["metadata"]["name"] or svc["spec"].get("clusterIP") != "None":
        problems.append(f"StatefulSet/{sts['metadata']['name']}: its serviceName must be the "
                        "headless Service in front of it")
    return problems


def check_data_volume(objs: list[Obj]) -> list[str]:  # (f)
    problems = []
    if DATA_CLAIM not in by_kind(objs, "PersistentVolumeClaim"):
        problems.append(f"no PersistentVolumeClaim {DATA_CLAIM}")
    for role in ("controller", "cloud"):
        d = deployment_of(objs, role)
        if d is None:
            continue
        pod = d["spec"]["template"]["spec"]
        vols = {v["name"] for v in pod.get("volumes", [])
                if v.get("persistentVolumeClaim", {}).get("claimName") == DATA_CLAIM}
        data_dir = container_env(objs, d).get("TWINBED_DATA_DIR")
        if not any(m["name"] in vols and m["mountPath"] == data_dir
                   for m in container(d).get("volumeMounts", [])):
            problems.append(f"{d['metadata']['name']}: claim {DATA_CLAIM} not mounted at "
                            f"TWINBED_DATA_DIR ({data_dir})")
    return problems


def check_token_secret(objs: list[Obj], overlay: bool) -> list[str]:
    secrets = by_kind(objs, "Secret")
    if not overlay:
        return [f"base: renders Secret {n}: no token is committed" for n in secrets]
    s = secrets.get(TOKEN_SECRET)
    if s is None or TOKEN_KEY not in s.get("data", {}):
        return [f"overlay: expected Secret {TOKEN_SECRET} with key {TOKEN_KEY}"]
    return []


def check_bus_keys(objs: list[Obj], overlay: bool) -> list[str]:  # (g)
    """Each role mounts its own key Secret at /keys/<role> and the public keys at /keys/pub,
    read-only, and no other role's key; the overlay renders the Secrets with those files."""
    problems = []
    for role in ROLES:
        d = deployment_of(objs, role)
        if d is None:
            continue
        name, pod = d["metadata"]["name"], d["spec"]["template"]["spec"]
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod.get("volumes", [])
                   if "secret" in v}
        keys_held = sorted(s for s in secrets.values() if s.startswith(KEY_SECRET + "-"))
        if keys_held != [f"{KEY_SECRET}-{role}"]:
            problems.append(f"{name}: mounts the key Secrets {keys_held}, expected only "
                            f"{KEY_SECRET}-{role}: a role must hold no other role's key")
        mounts = {(secrets.get(m["name"]), m["mountPath"], m.get("readOnly", False))
                  for m in container(d).get("volumeMounts", [])}
        for secret, path in ((f"{KEY_SECRET}-{role}", f"/keys/{role}"),
                             (PUBKEYS_SECRET, "/keys/pub")):
            if (secret, path, True) not in mounts:
                problems.append(f"{name}: Secret {secret} not mounted read-only at {path}")
        env = container_env(objs, d)
        if (env.get("TWINBED_BUS_KEY"), env.get("TWINBED_BUS_PUBKEYS")) != (
                f"/keys/{role}/{role}.key", "/keys/pub"):
            problems.append(f"{name}: TWINBED_BUS_KEY/TWINBED_BUS_PUBKEYS do not point at the "
                            "mounted key files")
    if overlay:
        rendered = by_kind(objs, "Secret")
        want = {f"{KEY_SECRET}-{r}": {f"{r}.key"} for r in ROLES}
        want[PUBKEYS_SECRET] = {f"{r}.pub" for r in ROLES}
        for secret, files in want.items():
            if set(rendered.get(secret, {}).get("data", {})) != files:
                problems.append(f"overlay: Secret {secret} lacks {sorted(files)}")
    return problems


def check_manifests(objs: list[Obj], *, overlay: bool,
                    routes: Callable[[str], set[tuple[str, str]]] = role_app_routes) -> list[str]:
    scripts = tomllib.loads(PYPROJECT.read_text())["project"].get("scripts", {})
    return [*check_selectors(objs), *check_commands(objs, image_entrypoint(), scripts),
            *check_environment(objs), *check_ports_and_probes(objs, routes),
            *check_scaling(objs), *check_redis(objs, overlay), *check_data_volume(objs),
            *check_token_secret(objs, overlay), *check_bus_keys(objs, overlay)]


def _report(problems: list[str]) -> str:
    return "".join(f"\n  - {p}" for p in problems)


# ---------------------------------------------------------------------------------------------
# Fixtures: the manifests copied to a temporary directory with a token file for the overlay
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, root, ignore=shutil.ignore_patterns("token.env", "keys"))
    (root / OVERLAY / "token.env").write_text(f"{TOKEN_KEY}=test-token\n")
    signing.write_keys(root / OVERLAY / "keys", signing.new_seeds())
    return root


@pytest.fixture(scope="module")
def rendered(tree) -> dict[str, list[Obj]]:
    return {"base": render(tree / BASE), "overlay": render(tree / OVERLAY)}


@pytest.fixture(scope="module")
def routes() -> Callable[[str], set[tuple[str, str]]]:
    cache: dict[str, set[tuple[str, str]]] = {}
    return lambda role: cache.setdefault(role, role_app_routes(role))


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", [BASE, OVERLAY], ids=["base", "overlay"])
def test_loader_renders_what_kustomize_renders(tree, which):
    """The fallback loader is only trusted because it agrees with the real tool."""
    if kustomize_command() is None:
        pytest.skip("no kustomize binary (kubectl kustomize / kustomize build) to compare with; "
                    "the manifests are rendered with the fallback loader")
    real = {_key(o): o for o in render_with_kustomize(tree / which)}
    ours = {_key(o): o for o in load_kustomization(tree / which)}
    assert ours == real


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_every_object_validates_against_the_pinned_schemas(rendered, which):
    objs = rendered[which]
    assert {o["kind"] for o in objs} >= {"Deployment", "Service", "ConfigMap",
                                         "PersistentVolumeClaim", "HorizontalPodAutoscaler"}
    assert not (problems := check_validates(objs)), _report(problems)


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_invariants_hold(rendered, routes, which):
    problems = check_manifests(rendered[which], overlay=which == "overlay", routes=routes)
    assert not problems, _report(problems)


def test_overlay_adds_only_redis_and_the_token(rendered):
    base = {_key(o) for o in rendered["base"]}
    overlay = {_key(o) for o in rendered["overlay"]}
    assert base <= overlay
    assert overlay - base == {("Service", "redis"), ("StatefulSet", "redis"),
                              ("Secret", TOKEN_SECRET), ("Secret", PUBKEYS_SECRET),
                              *(("Secret", f"{KEY_SECRET}-{r}") for r in ROLES)}
    secret = by_kind(rendered["overlay"], "Secret")[TOKEN_SECRET]
    assert base64.b64decode(secret["data"][TOKEN_KEY]).decode() == "test-token"


def test_no_token_file_no_render(tree, tmp_path):
    """As compose refuses to start without TWINBED_API_TOKEN, the overlay refuses to render
    without its token file (with the real tool and with the loader)."""
    bare = tmp_path / "k8s"
    shutil.copytree(tree, bare, ignore=shutil.ignore_patterns("token.env"))
    with pytest.raises(ValueError, match="token.env"):
        load_kustomization(bare / OVERLAY)
    if kustomize_command():
        with pytest.raises(ValueError, match="token.env"):
            render_with_kustomize(bare / OVERLAY)


def test_token_file_is_not_committed():
    ignore = (K8S / OVERLAY / ".gitignore").read_text().split()
    assert "token.env" in ignore
    tracked = subprocess.run(["git", "ls-files", str(K8S)], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    assert not [t for t in tracked if t.endswith("token.env")]


def test_loader_refuses_what_it_does_not_render(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches:\n  - path: p.yaml\n")
    with pytest.raises(ValueError, match="does not support"):
        load_kustomization(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "secretGenerator:\n  - name: s\n    literals: [A=b]\n")  # hashed name: refused
    with pytest.raises(ValueError, match="disableNameSuffixHash"):
        load_kustomization(tmp_path)


# --- negative cases: each breakage must be reported (a checker that cannot fail checks nothing)


def _deploy(role: str, objs: list[Obj]) -> Obj:
    d = deployment_of(objs, role)
    assert d is not None
    return d


def _env(role: str, name: str, value: Any) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        env = container(_deploy(role, objs))["env"]
        env[:] = [e for e in env if e["name"] != name]
        if value is not None:
            env.append({"name": name, "value": value})
    return mutate


def _container(role: str, **changes: Any) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        container(_deploy(role, objs)).update(changes)
    return mutate


def _probe(role: str, probe: str, **get: Any) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        container(_deploy(role, objs))[probe]["httpGet"].update(get)
    return mutate


def _drop(kind: str, name: str) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        objs[:] = [o for o in objs if _key(o) != (kind, name)]
    return mutate


def _configmap(key: str, value: str) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        by_kind(objs, "ConfigMap")[SETTINGS_CONFIGMAP]["data"][key] = value
    return mutate


def _hpa_max(name: str, n: int) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        by_kind(objs, "HorizontalPodAutoscaler")[name]["spec"]["maxReplicas"] = n
    return mutate


def _service_port(name: str, target: Any) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        by_kind(objs, "Service")[name]["spec"]["ports"][0]["targetPort"] = target
    return mutate


def _redis_args(args: list[str]) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        container(by_kind(objs, "StatefulSet")["redis"])["args"] = args
    return mutate


def _replicas(role: str, n: int) -> Callable[[list[Obj]], None]:
    def mutate(objs: list[Obj]) -> None:
        _deploy(role, objs)["spec"]["replicas"] = n
    return mutate


BROKEN = {
    "unknown setting": (_env("cloud", "TWINBED_REDIS_HOST", "redis"), ["TWINBED_REDIS_HOST", "not a twinbed setting"]),
    "unknown configmap key": (_configmap("TWINBED_LOGLEVEL", "info"), ["TWINBED_LOGLEVEL"]),
    "invalid value": (_configmap("TWINBED_LOG_LEVEL", "loud"), ["do not validate", "loud"]),
    "literal token": (_env("controller", "TWINBED_API_TOKEN", "s3cret"), ["twinbed-controller", "Secret"]),
    "token in configmap": (_configmap("TWINBED_API_TOKEN", "s3cret"), ["ConfigMap", "Secret"]),
    "wrong port env": (_env("basestation", "TWINBED_PORT", "9002"), ["twinbed-basestation", "TWINBED_PORT"]),
    "wrong probe path": (_probe("sensor", "livenessProbe", path="/healthz"), ["livenessProbe", "/healthz"]),
    "wrong probe port": (_probe("edge", "readinessProbe", port=8000), ["readinessProbe", "8000"]),
    "no startup probe": (lambda o: container(_deploy("cloud", o)).pop("startupProbe"), ["no startupProbe"]),
    "command replaces entrypoint": (_container("cloud", command=["python", "-m", "twinbed"]), ["ENTRYPOINT"]),
    "wrong role": (_container("edge", args=["serve", "sensor"]), ["twinbed-edge", "args"]),
    "missing role": (_drop("Deployment", "twinbed-sensor"), ["sensor", "no Deployment"]),
    "missing service": (_drop("Service", "twinbed-cloud"), ["cloud", "published"]),
    "service target": (_service_port("twinbed-controller", 8001), ["Service/twinbed-controller"]),
    "missing hpa": (_drop("HorizontalPodAutoscaler", "twinbed-sensor"), ["twinbed-sensor", "HorizontalPodAutoscaler"]),
    "edge count split": (_hpa_max("twinbed-edge", 4), ["twinbed-edge", "agree"]),
    "edge replicas": (_replicas("edge", 3), ["twinbed-edge", "agree"]),
    "edge index count": (_configmap("TWINBED_EDGE_REPLICAS", "3"), ["twinbed-edge", "agree"]),
    "no cpu request": (lambda o: container(_deploy("sensor", o))["resources"].pop("requests"), ["requests no cpu"]),
    "data not mounted": (lambda o: container(_deploy("controller", o)).pop("volumeMounts"), ["twinbed-controller", "TWINBED_DATA_DIR"]),
    "no appendonly": (_redis_args(["redis-server"]), ["appendonly"]),
    "redis url elsewhere": (_configmap("TWINBED_REDIS_URL", "redis://cache:6379/0"), ["'cache'", "no Service"]),
    "redis port": (_configmap("TWINBED_REDIS_URL", "redis://redis:6380/0"), ["6380"]),
    "no token secret": (_drop("Secret", TOKEN_SECRET), ["Secret twinbed-api-token"]),
    "no key secret": (_drop("Secret", f"{KEY_SECRET}-edge"), ["Secret twinbed-bus-key-edge"]),
    "another role's key": (lambda o: _deploy("sensor", o)["spec"]["template"]["spec"]["volumes"]
                           .append({"name": "stolen", "secret": {
                               "secretName": f"{KEY_SECRET}-cloud"}}),
                           ["twinbed-sensor", "twinbed-bus-key-cloud"]),
    "key writable": (lambda o: container(_deploy("edge", o))["volumeMounts"][0].pop("readOnly"),
                     ["twinbed-edge", "read-only at /keys/edge"]),
    "selector mismatch": (lambda o: _deploy("cloud", o)["spec"]["selector"]["matchLabels"].update(
        {"app.kubernetes.io/component": "clouds"}), ["selector"]),
}


@pytest.mark.parametrize("case", BROKEN)
def test_checkers_catch_broken_manifests(rendered, routes, case):
    mutate, expected = BROKEN[case]
    broken = copy.deepcopy(rendered["overlay"])
    mutate(broken)
    problems = check_manifests(broken, overlay=True, routes=routes)
    hits = [p for p in problems if all(e in p for e in expected)]
    assert hits, f"{case}: no problem mentions all of {expected}; got:{_report(problems)}"


def test_base_with_a_redis_or_a_secret_is_caught(rendered, routes):
    """Redis and the token are the user's in the base: adding either is reported."""
    extra = [o for o in rendered["overlay"] if o["kind"] in ("StatefulSet", "Secret")]
    problems = check_manifests(rendered["base"] + extra, overlay=False, routes=routes)
    assert any("external dependency" in p for p in problems), _report(problems)
    assert any("no token is committed" in p for p in problems), _report(problems)


def test_schema_validation_catches_a_typo(rendered):
    broken = copy.deepcopy(by_kind(rendered["base"], "Deployment")["twinbed-edge"])
    container(broken)["readinessProbe"]["httpGet"]["paht"] = "/health"
    assert check_validates([broken]), "strict validation accepted an unknown field"
    hpa = copy.deepcopy(by_kind(rendered["base"], "HorizontalPodAutoscaler")["twinbed-sensor"])
    hpa["spec"]["maxReplicas"] = "8"
    assert check_validates([hpa]), "validation accepted a string replica count"
