"""The learned schemes' artifacts, declared once as :class:`ArtifactSpec`.

* ``dmo``: the N + 2 PPO agents (:mod:`.dmo`), one file ``federated-dmo[-<digest>].zip``: an
  uncompressed zip holding ``agent-<i>.zip`` (SB3's own files, already compressed), so the team
  is one artifact with one checksum and one record ``federated-dmo[-<digest>].json``;
* ``dmo-shared``: the one multi-head PPO (:mod:`.dmo_shared`), ``federated-dmo-shared[-<digest>]
  .zip``.

Both depend on every parameter (``ALL_PARAMS``: the digest names the non-default ones; none for
the defaults), since the reward weights, sizes and frames all shape what the agents learned. The
core resolves each file (the user's ``<data>/agents/<file>`` wins over the one shipped in
``artifacts/`` beside this module), checks its checksum, and names the train command when there
is none (:mod:`twinbed.artifacts`).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.agents import copy_record, drop_optimizer_state, load, read_record
from twinbed.artifacts import ALL_PARAMS, ArtifactSpec, PaperBudget
from twinbed.scenarios.federated.env import action_nvec, obs_size
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["DMO", "DMO_SHARED", "SHIPPED_DIR", "DmoAgents", "agent_slices", "load_team",
           "read_team", "write_team"]

SHIPPED_DIR = Path(__file__).parent / "artifacts"
# loading an agent to play it: its training schedules are not needed (nor unpickled)
_PLAY_ONLY = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0}



def agent_slices(p: FederatedParams) -> list[np.ndarray]:
    """Indices into the joint action of each of the N + 2 agents (ES 0..N-1, A_K, A_N)."""
    N, K = p.N, p.K
    return ([np.array([n, N + n]) for n in range(N)]
            + [np.arange(2 * N, 2 * N + K), np.arange(2 * N + K, 3 * N + K)])


class DmoAgents(list):  # type: ignore[type-arg]
    """The N + 2 trained PPO models (ES 0..N-1, A_K, A_N) and the number of Stage-1 iterations
    ``J`` they were trained with (the policy plays them with the same J)."""

    def __init__(self, models: list[Any], stage1_iters: int = 1) -> None:
        super().__init__(models)
        self.stage1_iters = int(stage1_iters)

def write_team(models: Sequence[Any], path: Path) -> None:
    """Save the agents as ``agent-<i>.zip`` members of the one file ``path``, atomically (a
    temporary file renamed at the end: a crash never leaves half a team)."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        for i, m in enumerate(models):
            buf = io.BytesIO()
            m.save(buf)
            z.writestr(zipfile.ZipInfo(f"agent-{i}.zip", date_time=(1980, 1, 1, 0, 0, 0)),
                       buf.getvalue())
    tmp.replace(path)


def read_team(path: Path, custom_objects: dict[str, Any] | None = None,
              env: Any = None) -> list[Any]:
    """The PPO agents saved by :func:`write_team`, in order."""
    from stable_baselines3 import PPO

    with zipfile.ZipFile(path) as z:
        names = sorted((n for n in z.namelist() if n.startswith("agent-")),
                       key=lambda n: int(n[len("agent-"):-len(".zip")]))
        if not names:
            raise ValueError("no agent-<i>.zip inside")
        envs = env if isinstance(env, list) else [env] * len(names)
        return [PPO.load(io.BytesIO(z.read(n)), env=e, device="cpu",
                         custom_objects=custom_objects or _PLAY_ONLY)
                for n, e in zip(names, envs, strict=False)]


def save_team_play_only(src: Path, dest: Path) -> Path:
    """The team at ``src`` saved to ``dest`` without the agents' optimizer state
    (:func:`twinbed.agents.drop_optimizer_state`), its record copied: the shipped file."""

    dest.parent.mkdir(parents=True, exist_ok=True)
    write_team([drop_optimizer_state(m) for m in read_team(src)], dest)
    copy_record(src, dest)
    return dest


def load_team(path: Path, p: FederatedParams) -> Any:
    """The N + 2 DMO agents at ``path`` (a :class:`DmoAgents`, with the Stage-1
    iterations they were trained with); a team of another N or K is refused."""

    models = read_team(path)
    nvec = np.asarray(action_nvec(p))
    slices = agent_slices(p)
    if len(models) != len(slices):
        raise ValueError(f"{len(models)} agents inside: trained for another N or K, not "
                         f"N={p.N}, K={p.K} ({len(slices)} agents)")
    for m, sl in zip(models, slices, strict=True):
        if (m.observation_space.shape != (obs_size(p),)
                or list(getattr(m.action_space, "nvec", [])) != nvec[sl].tolist()):
            raise ValueError(f"trained for another N or K, not N={p.N}, K={p.K}")
    meta = read_record(path).get("meta", {})
    return DmoAgents(models, int(meta.get("stage1_iters", 1)))


def load_shared(path: Path, p: FederatedParams) -> Any:
    """The one multi-head PPO at ``path``; one of another N or K is refused."""

    model = load(path)
    have = (model.observation_space.shape[0], list(model.action_space.nvec))
    if have != (obs_size(p), action_nvec(p)):
        raise ValueError(f"trained for another N or K, not N={p.N}, K={p.K}")
    return model


# the text keeps only "I is the maximum number of training steps" (its formulas and settings
# were lost); the reconstruction proposes 2e5 from the cited PPO defaults: not the paper's
PAPER_BUDGET = PaperBudget(None, "I, the maximum number of training steps, has no value in "
                                 "the text; seeds/001-reconstruction.md proposes 2e5")

DMO: ArtifactSpec[FederatedParams, Any] = ArtifactSpec(
    name="federated-dmo", train="twinbed train federated-dmo", load=load_team,
    depends_on=ALL_PARAMS, folder="agents", suffix=".zip", shipped_dir=SHIPPED_DIR,
    description="DMO: the N + 2 PPO agents (Algorithm 2)", paper_budget=PAPER_BUDGET)
DMO_SHARED: ArtifactSpec[FederatedParams, Any] = ArtifactSpec(
    name="federated-dmo-shared", train="twinbed train federated-dmo-shared", load=load_shared,
    depends_on=ALL_PARAMS, folder="agents", suffix=".zip", shipped_dir=SHIPPED_DIR,
    description="dmo-shared: DMO's actions as heads of one PPO policy",
    paper_budget=PAPER_BUDGET)

ARTIFACTS: dict[str, ArtifactSpec[FederatedParams, Any]] = {"dmo": DMO, "dmo-shared": DMO_SHARED}


def artifact_specs(p: FederatedParams, algorithm: str) -> list[ArtifactSpec[Any, Any]]:
    """The artifact a run of ``algorithm`` needs (none for the schemes that learn online)."""
    return [ARTIFACTS[algorithm]] if algorithm in ARTIFACTS else []
