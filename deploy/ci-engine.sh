#!/usr/bin/env bash
# A Docker engine for the container tests (tests/deploy/test_containers.py) on a machine that
# has none: CI, or a developer's machine of the same kind. A user with Docker installed needs
# none of this: the tests use whatever engine `docker` reaches.
#
#   deploy/ci-engine.sh start        # install, start, prepare images; idempotent (~1 min cached)
#   eval "$(deploy/ci-engine.sh env)"   # DOCKER_HOST, DOCKER_CONFIG and the build settings
#   deploy/ci-engine.sh stop         # stops exactly the dockerd `start` started (its pid)
#   deploy/ci-engine.sh run CMD...   # start, CMD with the environment above, stop
#
# What `start` does, each step skipped when already done:
# 1. `apt-get install docker.io debootstrap` (Debian bookworm's engine, 20.10).
# 2. Compose v2 and buildx: bookworm packages only Compose v1, which rejects docker-compose.yml.
#    Debian trixie's `docker-compose` and `docker-buildx` packages are fetched with
#    `apt-get download` against a sources/lists/cache folder of our own (the system's apt
#    sources stay untouched) and unpacked as CLI plugins under $DOCKER_CONFIG/cli-plugins.
# 3. dockerd started by hand with its own --data-root under $ROOT (kept, so a second run finds
#    its images and build cache) and its own socket; its pid is recorded in $RUN/dockerd.pid.
# 4. No image registry is reachable here: the base image is `debootstrap --variant=minbase
#    bookworm` (+ python3, python3-venv, redis-server) imported as $BASE_IMAGE; it is the
#    Dockerfile's BASE_IMAGE and compose's redis image (TWINBED_BASE_IMAGE/TWINBED_REDIS_IMAGE).
# 5. The wheelhouse: every wheel the image installs, built on the host (`pip wheel`, the local
#    torch 2.13.0 CPU wheel included) and hard-linked into deploy/wheelhouse/, so the image
#    builds with TWINBED_WHEELHOUSE_ONLY=1 and no network inside a container.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${TWINBED_ENGINE_ROOT:-/var/lib/twinbed-engine}   # kept between runs (the cache)
RUN=${TWINBED_ENGINE_RUN:-/run/twinbed-engine}         # socket, pid, env of the running engine
SOCK=$RUN/docker.sock
PIDFILE=$RUN/dockerd.pid
BASE_IMAGE=twinbed-base:bookworm
PIP=${TWINBED_ENGINE_PIP:-python3 -m pip}

export DOCKER_HOST=unix://$SOCK
export DOCKER_CONFIG=$ROOT/config

log() { echo "ci-engine: $*" >&2; }

# The Debian mirror the system already uses (the same host serves trixie).
mirror() {
  local uri
  uri=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' \
          /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -oE 'https?://[^ ]+' | head -1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

install_packages() {
  if command -v dockerd >/dev/null && command -v debootstrap >/dev/null \
     && command -v docker >/dev/null; then
    return
  fi
  log "installing docker.io and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io debootstrap >/dev/null
}

install_plugins() {
  local plugins=$DOCKER_CONFIG/cli-plugins
  if [ -x "$plugins/docker-compose" ] && [ -x "$plugins/docker-buildx" ]; then
    return
  fi
  log "fetching Compose v2 and buildx (Debian trixie's docker-compose, docker-buildx)"
  local apt=$ROOT/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$plugins"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) trixie main" \
    > "$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
              -o "APT::Get::List-Cleanup=0")
  apt-get "${opts[@]}" update -qq
  rm -f "$apt/debs/"*.deb
  (cd "$apt/debs" && apt-get "${opts[@]}" download docker-compose docker-buildx)
  local x=$apt/x
  rm -rf "$x" && mkdir -p "$x"
  for deb in "$apt/debs/"*.deb; do dpkg-deb -x "$deb" "$x"; done
  for name in docker-compose docker-buildx; do
    local bin
    bin=$(find "$x" -path "*/cli-plugins/$name" \( -type f -o -type l \) | head -1)
    [ -n "$bin" ] || { log "no cli-plugins/$name in the trixie package"; exit 1; }
    install -m 0755 "$(readlink -f "$bin")" "$plugins/$name"
  done
  rm -rf "$x"
}

engine_up() { docker version >/dev/null 2>&1; }

# the pid recorded by `start`, if that process is still a dockerd (not a reused pid)
our_dockerd() {
  local pid
  [ -f "$PIDFILE" ] && pid=$(cat "$PIDFILE") && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] \
    && echo "$pid"
}

start_dockerd() {
  if engine_up; then
    return
  fi
  mkdir -p "$RUN" "$ROOT/docker"
  if [ -n "$(our_dockerd)" ]; then
    log "dockerd $(our_dockerd) is running but does not answer; see $ROOT/dockerd.log"
    exit 1
  fi
  log "starting dockerd (data root $ROOT/docker, socket $SOCK)"
  setsid dockerd --data-root "$ROOT/docker" --exec-root "$RUN/exec" \
    --pidfile "$RUN/dockerd.own.pid" -H "unix://$SOCK" \
    >>"$ROOT/dockerd.log" 2>&1 </dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 120); do
    engine_up && return
    [ -n "$(our_dockerd)" ] || break
    sleep 0.5
  done
  log "dockerd did not come up; the end of $ROOT/dockerd.log:"
  tail -20 "$ROOT/dockerd.log" >&2
  exit 1
}

base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    return
  fi
  log "building $BASE_IMAGE (debootstrap --variant=minbase bookworm)"
  local rootfs=$ROOT/rootfs
  rm -rf "$rootfs"
  nice -n 10 debootstrap --variant=minbase --include=python3,python3-venv,redis-server,passwd \
    bookworm "$rootfs" "$(mirror)" >"$ROOT/debootstrap.log" 2>&1 \
    || { tail -20 "$ROOT/debootstrap.log" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

wheelhouse() {
  # The wheels must suit the image's python (its markers: bookworm's 3.11.2 needs wheels that
  # the host's 3.11.x may not), so the set is keyed by that version and the dependency list.
  local pyver reqs key
  pyver=$(docker run --rm "$BASE_IMAGE" python3 -c 'import platform; print(platform.python_version())')
  reqs=$ROOT/requirements.txt
  python3 - "$REPO/pyproject.toml" >"$reqs" <<'PY'
import sys, tomllib
print("\n".join(["torch==2.13.0", "setuptools>=68", "wheel",
                 *tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]]))
PY
  key=$( (echo "$pyver"; cat "$reqs") | sha256sum | cut -c1-16)
  local wh=$ROOT/wheelhouse/$key
  if [ ! -f "$wh/.complete" ]; then
    log "building the wheelhouse for python $pyver ($wh)"
    rm -rf "$wh" && mkdir -p "$wh"
    # pip wheel resolves with the host python's markers; the requirements whose markers hold
    # for the image's python but not the host's (async-timeout below 3.11.3) are added after
    { nice -n 10 $PIP wheel --quiet --wheel-dir "$wh" -r "$reqs" \
      && python3 - "$wh" "$pyver" >"$ROOT/marker-reqs.txt" <<'PY' \
      && { [ ! -s "$ROOT/marker-reqs.txt" ] || nice -n 10 $PIP wheel --quiet --wheel-dir "$wh" \
             --find-links "$wh" -r "$ROOT/marker-reqs.txt"; }; } >"$ROOT/wheelhouse.log" 2>&1 \
      || { tail -20 "$ROOT/wheelhouse.log" >&2; exit 1; }
import email, pathlib, sys, zipfile
from pip._vendor.packaging.markers import default_environment
from pip._vendor.packaging.requirements import Requirement
wh, pyver = pathlib.Path(sys.argv[1]), sys.argv[2]
host = {**default_environment(), "extra": ""}
image = {**host, "python_full_version": pyver, "python_version": ".".join(pyver.split(".")[:2])}
for whl in sorted(wh.glob("*.whl")):
    with zipfile.ZipFile(whl) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        for line in email.message_from_bytes(z.read(meta)).get_all("Requires-Dist") or []:
            req = Requirement(line)
            if req.marker and req.marker.evaluate(image) and not req.marker.evaluate(host):
                req.marker = None
                print(req)
PY
    touch "$wh/.complete"
  fi
  local dest=$REPO/deploy/wheelhouse
  find "$dest" -name '*.whl' -delete
  cp -l "$wh"/*.whl "$dest/" 2>/dev/null || cp "$wh"/*.whl "$dest/"
}

print_env() {
  cat <<EOF
export DOCKER_HOST=$DOCKER_HOST
export DOCKER_CONFIG=$DOCKER_CONFIG
export TWINBED_BASE_IMAGE=$BASE_IMAGE
export TWINBED_REDIS_IMAGE=$BASE_IMAGE
export TWINBED_WHEELHOUSE_ONLY=1
EOF
}

start() {
  install_packages
  install_plugins
  start_dockerd
  base_image
  wheelhouse
  # for tests run without the environment (a developer's `make test` on this machine)
  print_env > "$RUN/env"
  log "engine up: $(docker version --format '{{.Server.Version}}'), compose" \
      "$(docker compose version --short)"
}

stop() {
  rm -f "$RUN/env"
  local pid
  pid=$(our_dockerd) || true
  if [ -n "$pid" ]; then
    log "stopping dockerd $pid"
    kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd $pid still running after 30 s: SIGKILL"
      kill -KILL "$pid"
    fi
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  run)
    shift
    start
    trap stop EXIT
    eval "$(print_env)"  # the build settings too, not only the engine's address
    "$@"
    ;;
  *) echo "usage: $0 start|stop|env|run CMD..." >&2; exit 2 ;;
esac
