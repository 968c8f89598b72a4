"""The Docker engine the container tests and `twinbed bench containers` talk to.

A user's own engine (``DOCKER_HOST`` set, or docker's default socket) is used as is. Where the
caller names none, the one ``deploy/ci-engine.sh start`` runs is found through the file it
writes (``$TWINBED_ENGINE_RUN/env``: ``DOCKER_HOST``, ``DOCKER_CONFIG`` and the build settings).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["ENGINE_ENV_FILE", "SECRET_VARS", "engine_env"]

ENGINE_ENV_FILE = Path(os.environ.get("TWINBED_ENGINE_RUN", "/run/twinbed-engine")) / "env"
# compose's secrets: they come from the caller's env file, never from the ambient environment
SECRET_VARS = re.compile(r"^TWINBED_(API_TOKEN|REDIS_PASSWORD_\w+)$")


def engine_env() -> dict[str, str]:
    """The environment for ``docker``: the caller's, plus ci-engine.sh's file if the caller
    names no engine; compose's secrets removed."""
    env = {k: v for k, v in os.environ.items() if not SECRET_VARS.match(k)}
    if "DOCKER_HOST" not in env and ENGINE_ENV_FILE.is_file():
        for line in ENGINE_ENV_FILE.read_text().splitlines():
            m = re.match(r"^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
            if m:
                env.setdefault(m.group(1), m.group(2).strip("'\""))
    return env
