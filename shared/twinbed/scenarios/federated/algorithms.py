"""Decision makers of the ``federated`` scenario, selectable by name.

Every scheme decides, per frame, the partial-DT assignment, the subcarriers per sensor and the
training rounds of every ES (:class:`Decision`); the ES-sensor associations then come from SOCF
in the scheme's framework (:func:`twinbed.scenarios.federated.world.play_frame`).

Framework baselines (Fig. 8), each run by the per-frame optimizer ``myopic``:

- ``federated-myopic``: the proposed framework (overlapping coalitions, Y_max ESs per sensor);
- ``nov``: non-overlapping coalitions (Y_max = 1, [24]);
- ``cen``: centralized upload of all sensing data to the cloud ([51], ``centralized.py``).

Algorithm baselines (Fig. 9), all in the proposed framework:

- ``greedy``: myopic gain-greedy: the most important partial-DT to the ES with the most eligible
  data, one subcarrier per sensor, as many rounds and sensors as the frame time allows, energy
  and configuration cost ignored;
- ``qlearning``: tabular Q-learning over a discretized state and a joint discrete action [52];
- ``lyapunov-bcd``: drift-plus-penalty with a virtual queue on the frame-time excess, solved by
  block coordinate descent over relaxed blocks (assignment LP, rounds, associations) [4];
- ``tabu``: tabu search over the joint decision each frame [53];
- ``bandit``: LinUCB contextual bandit over the joint discrete action [18];
- ``exhaustive``: the per-frame optimum for small instances (every assignment, subcarrier level,
  association and round count), the bound for the rest;
- ``dmo``: the paper's DRL solution, N + 2 PPO agents (``dmo.py``, needs trained agents);
  ``dmo-shared`` the same actions as heads of one PPO policy (``dmo_shared.py``, a comparison).
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple, Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.games import gale_shapley, socf, socf_init
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["ALGORITHMS", "FRAMEWORK", "Decision", "Policy", "View", "best_ell", "make_policy",
           "policy_state", "restore_policy", "utility_estimate"]


class View(NamedTuple):
    """What a decision maker sees at the start of frame t."""

    p: FederatedParams
    inst: model.Instance
    frame: model.Frame
    state: model.State
    g: np.random.Generator


class Decision(NamedTuple):
    assign: np.ndarray  # (K,)
    z: np.ndarray  # (N,)
    ell: np.ndarray  # (N,)
    Y: np.ndarray | None = None  # set when the scheme chose the associations itself


class Policy(Protocol):
    def act(self, v: View) -> Decision: ...

    def learn(self, v: View, d: Decision, reward: float) -> None: ...


def utility_estimate(v: View, ell: int | None = None) -> np.ndarray:
    """(K, N) estimate of what ES n would earn creating partial-DT k this frame: the gain with
    its best eligible sensors up to capacity (one subcarrier each) minus their training energy."""
    p, inst, fr, st = v.p, v.inst, v.frame, v.state
    ell = p.ell_max // 2 if ell is None else ell
    r = model.rates_bps(p, fr, np.ones(p.N, dtype=int))
    elig = r >= p.r_min_bps  # (M, N)
    cap = p.Z_max
    e_bit = ell * p.kappa * p.C_cycles_per_bit * inst.f_hz ** 2  # (N,)
    best = -np.sort(-(fr.d_bits.T[:, :, None] * elig[None]), axis=1)[:, :cap]  # (K, cap, N)
    if p.N > 1:  # the best cap sensors' data per (k, n), added in row order
        top = best.sum(axis=1)
    else:  # numpy adds a single column pairwise: sum each partial-DT's column on its own
        top = np.stack([best[k].sum(axis=0) for k in range(p.K)])
    Q = model.quality(p, st.D_bits[:, None] + top, ell)
    mig = np.where(st.assign[:, None] == np.arange(p.N)[None, :], 0.0,
                   (st.D_bits / p.r_fiber_bps * p.P_es_w)[:, None])
    return p.lambda1 * fr.omega[:, None] * Q - p.lambda2 * (e_bit[None, :] * top + mig)


def best_ell(p: FederatedParams, inst: model.Instance, frame: model.Frame, state: model.State,
             assign: np.ndarray, z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per ES, the round count maximizing U_n (with the frame-time penalty) for coalitions Y."""
    grid = np.arange(1, p.ell_max + 1)
    U = np.stack([model.es_utilities(p, model.frame_ctx(p, inst, frame, state, assign, z,
                                                        np.full(p.N, ell)), Y) for ell in grid])
    return grid[np.argmax(U, axis=0)]


def _assign_gs(v: View) -> np.ndarray:
    est = utility_estimate(v)
    return gale_shapley(est, est.T)


def _coordinate(v: View, assign: np.ndarray, p_inner: FederatedParams | None = None,
                z_levels: list[int] | None = None) -> Decision:
    """Search z (uniform over ESs), rounds (per ES) and SOCF associations for one frame."""
    p = v.p if p_inner is None else p_inner
    best: tuple[float, Decision] | None = None
    for zl in z_levels or list(range(1, p.z_levels + 1)):
        z = np.full(p.N, zl)
        ell = np.full(p.N, max(1, p.ell_max // 2))
        Y = np.zeros((p.M, p.N), dtype=bool)  # SOCF's, from the first sweep on
        for _ in range(2):
            fc = model.frame_ctx(p, v.inst, v.frame, v.state, assign, z, ell)
            Y = socf(p, fc, socf_init(p, fc, v.g), v.g).Y
            ell = best_ell(p, v.inst, v.frame, v.state, assign, z, Y)
        fc = model.frame_ctx(p, v.inst, v.frame, v.state, assign, z, ell)
        score = float(model.es_utilities(p, fc, Y).sum())
        if best is None or score > best[0]:
            best = (score, Decision(assign, z, ell, Y))
    if best is None:
        raise ValueError("expected at least one subcarrier level to search, got none")
    return best[1]


class Myopic:
    """Per-frame best response: GS on utility estimates, then z, rounds and SOCF by
    coordinate search on the frame's sum of ES utilities. Used for the framework baselines."""

    def act(self, v: View) -> Decision:
        d = _coordinate(v, _assign_gs(v))
        return d._replace(Y=None)  # the frame's SOCF runs again on the chosen (assign, z, l)

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass


class Greedy:
    """GRD: prioritizes the ES with the most eligible feature data for the most important
    partial-DT and maximizes the gain, ignoring energy and configuration cost."""

    def act(self, v: View) -> Decision:
        p = v.p
        r = model.rates_bps(p, v.frame, np.ones(p.N, dtype=int))
        data = (v.frame.d_bits.sum(axis=1)[:, None] * (r >= p.r_min_bps)).sum(axis=0)  # (N,)
        assign = np.empty(p.K, dtype=int)
        assign[np.argsort(-v.frame.omega, kind="stable")] = np.argsort(-data, kind="stable")[:p.K]
        inner = p.model_copy(update={"lambda2": 0.0, "c_config": 0.0})
        return _coordinate(v, assign, inner, z_levels=[1])

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass


# -- discrete joint actions shared by the tabular and bandit learners ------------------------
_RULES = ("gs", "fastest", "previous", "weight-data")


def _joint_actions(p: FederatedParams) -> list[tuple[str, int, int]]:
    ells = sorted({max(1, p.ell_max // 3), max(1, 2 * p.ell_max // 3), p.ell_max})
    return [(r, e, z) for r in _RULES for e in ells for z in range(1, p.z_levels + 1)]


def _decode(v: View, action: tuple[str, int, int]) -> Decision:
    p = v.p
    rule, ell, zl = action
    if rule == "gs":
        assign = _assign_gs(v)
    elif rule == "fastest":
        assign = np.empty(p.K, dtype=int)
        assign[np.argsort(-v.frame.omega, kind="stable")] = np.argsort(-v.inst.f_hz)[:p.K]
    elif rule == "previous" and (v.state.assign >= 0).all():
        assign = v.state.assign.copy()
    else:
        est = utility_estimate(v)
        assign = np.empty(p.K, dtype=int)
        free = list(range(p.N))
        for k in np.argsort(-v.frame.omega, kind="stable"):
            n = max(free, key=lambda n: est[k, n])
            assign[k] = n
            free.remove(n)
    return Decision(assign, np.full(p.N, zl), np.full(p.N, ell))


def _context(v: View) -> np.ndarray:
    p = v.p
    return np.concatenate([[1.0], v.frame.omega, np.log1p(v.state.D_bits * p.varpi_per_bit),
                           [v.state.t / max(1, p.frames)]])


class QLearning:
    """Tabular Q-learning: state = (most important partial-DT, data level, frame bucket)."""

    def __init__(self, p: FederatedParams, alpha: float = 0.2, gamma: float = 0.9,
                 eps: float = 0.2) -> None:
        self.actions = _joint_actions(p)
        self.Q: dict[tuple[int, ...], np.ndarray] = {}
        self.alpha, self.gamma, self.eps = alpha, gamma, eps
        self.last: tuple[tuple[int, ...], int] | None = None

    def _state(self, v: View) -> tuple[int, ...]:
        lvl = int(np.clip(np.log1p(v.state.D_bits.mean() * v.p.varpi_per_bit) * 2, 0, 9))
        return (int(np.argmax(v.frame.omega)), lvl, min(4, 5 * v.state.t // max(1, v.p.frames)))

    def _row(self, s: tuple[int, ...]) -> np.ndarray:
        return self.Q.setdefault(s, np.zeros(len(self.actions)))

    def act(self, v: View) -> Decision:
        s = self._state(v)
        row = self._row(s)
        a = int(v.g.integers(len(self.actions))) if v.g.random() < self.eps else int(np.argmax(row))
        if self.last is not None and self.pending is not None:
            ps, pa, r = self.pending
            prow = self._row(ps)
            prow[pa] += self.alpha * (r + self.gamma * row.max() - prow[pa])
        self.last = (s, a)
        self.pending = None
        return _decode(v, self.actions[a])

    pending: tuple[tuple[int, ...], int, float] | None = None

    def learn(self, v: View, d: Decision, reward: float) -> None:
        if self.last is not None:
            self.pending = (*self.last, reward)

    def get_state(self) -> dict[str, Any]:
        """Everything learned so far, as JSON (floats round-trip exactly)."""
        return {"Q": [[list(s), row.tolist()] for s, row in self.Q.items()],
                "last": None if self.last is None else [list(self.last[0]), self.last[1]],
                "pending": None if self.pending is None
                else [list(self.pending[0]), self.pending[1], self.pending[2]]}

    def set_state(self, st: dict[str, Any]) -> None:
        self.Q = {tuple(int(x) for x in s): np.asarray(row, dtype=float) for s, row in st["Q"]}
        self.last = None if st["last"] is None else (tuple(st["last"][0]), int(st["last"][1]))
        self.pending = None if st["pending"] is None else (
            tuple(st["pending"][0]), int(st["pending"][1]), float(st["pending"][2]))


class Bandit:
    """LinUCB over the joint discrete actions, context = (1, omega, log data, t/T)."""

    def __init__(self, p: FederatedParams, alpha: float = 1.0) -> None:
        self.actions = _joint_actions(p)
        dim = 2 + 2 * p.K
        self.A = np.stack([np.eye(dim)] * len(self.actions))
        self.b = np.zeros((len(self.actions), dim))
        self.alpha = alpha
        self.last: tuple[np.ndarray, int] | None = None

    def act(self, v: View) -> Decision:
        x = _context(v)
        Ainv = np.linalg.inv(self.A)
        theta = np.einsum("aij,aj->ai", Ainv, self.b)
        ucb = theta @ x + self.alpha * np.sqrt(np.einsum("i,aij,j->a", x, Ainv, x))
        a = int(np.argmax(ucb))
        self.last = (x, a)
        return _decode(v, self.actions[a])

    def learn(self, v: View, d: Decision, reward: float) -> None:
        if self.last is not None:
            x, a = self.last
            self.A[a] += np.outer(x, x)
            self.b[a] += reward * x

    def get_state(self) -> dict[str, Any]:
        """The LinUCB statistics (A, b per action) and the last (context, action), as JSON."""
        return {"A": self.A.tolist(), "b": self.b.tolist(),
                "last": None if self.last is None else [self.last[0].tolist(), self.last[1]]}

    def set_state(self, st: dict[str, Any]) -> None:
        self.A = np.asarray(st["A"], dtype=float)
        self.b = np.asarray(st["b"], dtype=float)
        self.last = None if st["last"] is None else (np.asarray(st["last"][0], dtype=float),
                                                     int(st["last"][1]))


class LyapunovBCD:
    """Drift-plus-penalty: maximize V U_n - q T_n per frame with a virtual queue q on the frame
    time excess (q <- max(0, q + T - tau)); blocks solved in turn: assignment (linear assignment
    on the relaxed estimate), associations (relaxed scores rounded to capacity), rounds."""

    def __init__(self, p: FederatedParams, V: float = 1.0) -> None:
        self.V, self.q = V, 0.0

    def act(self, v: View) -> Decision:

        p = v.p
        est = utility_estimate(v)
        rows, cols = linear_sum_assignment(-est)
        assign = np.empty(p.K, dtype=int)
        assign[rows] = cols
        z = np.ones(p.N, dtype=int)
        ell = np.full(p.N, max(1, p.ell_max // 2))
        Y = np.zeros((p.M, p.N), dtype=bool)
        for _ in range(2):  # BCD sweeps
            fc = model.frame_ctx(p, v.inst, v.frame, v.state, assign, z, ell)
            U, U_tog = model.toggle_utilities(p, fc, np.zeros_like(Y))
            score = self.V * (U_tog - U) - self.q * fc.t_sen  # relaxed per-sensor value
            score = np.where(fc.eligible & (fc.dk > 0), score, -np.inf)
            Y = np.zeros_like(Y)
            for n in range(p.N):
                top = np.argsort(-score[:, n])[: fc.cap[n]]
                Y[top[np.isfinite(score[top, n]) & (score[top, n] > 0)], n] = True
            over = Y.sum(axis=1) > p.Y_max  # repair (8): keep the best memberships
            for m in np.flatnonzero(over):
                keep = np.argsort(-np.where(Y[m], score[m], -np.inf))[: p.Y_max]
                Y[m] = False
                Y[m, keep] = True
            ell = best_ell(p, v.inst, v.frame, v.state, assign, z, Y)
        return Decision(assign, z, ell, Y)

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass

    def observe_time(self, T: float, tau: float) -> None:
        self.q = max(0.0, self.q + T - tau)

    def get_state(self) -> dict[str, Any]:
        """The virtual queue."""
        return {"q": self.q}

    def set_state(self, st: dict[str, Any]) -> None:
        self.q = float(st["q"])


class Tabu:
    """Tabu search over (assignment, uniform z, uniform rounds) each frame; every candidate's
    associations come from SOCF; the best non-tabu neighbour is taken even if worse."""

    def __init__(self, p: FederatedParams, iters: int = 6, neighbours: int = 5, tenure: int = 4
                 ) -> None:
        self.iters, self.neighbours, self.tenure = iters, neighbours, tenure

    def _score(self, v: View, assign: np.ndarray, zl: int, ell: int) -> tuple[float, Decision]:
        p = v.p
        z, el = np.full(p.N, zl), np.full(p.N, ell)
        fc = model.frame_ctx(p, v.inst, v.frame, v.state, assign, z, el)
        Y = socf(p, fc, socf_init(p, fc, v.g), v.g).Y
        return float(model.es_utilities(p, fc, Y).sum()), Decision(assign, z, el, Y)

    def act(self, v: View) -> Decision:
        p = v.p
        cur = (tuple(_assign_gs(v)), 1, max(1, p.ell_max // 2))
        cur_s, cur_d = self._score(v, np.array(cur[0]), cur[1], cur[2])
        best_s, best_d = cur_s, cur_d
        tabu: list[tuple[tuple[int, ...], int, int]] = [cur]
        for _ in range(self.iters):
            cands = []
            for _j in range(self.neighbours):
                a, zl, el = list(cur[0]), cur[1], cur[2]
                move = v.g.integers(3)
                if move == 0:
                    k = int(v.g.integers(p.K))
                    n = int(v.g.integers(p.N))
                    if n in a:
                        j = a.index(n)
                        a[j], a[k] = a[k], a[j]
                    else:
                        a[k] = n
                elif move == 1:
                    zl = int(np.clip(zl + v.g.choice([-1, 1]), 1, p.z_levels))
                else:
                    el = int(np.clip(el + v.g.choice([-2, 2]), 1, p.ell_max))
                cand = (tuple(a), zl, el)
                if cand not in tabu:
                    cands.append(cand)
            if not cands:
                continue
            scored = [(*self._score(v, np.array(c[0]), c[1], c[2]), c) for c in set(cands)]
            s, d, c = max(scored, key=lambda x: x[0])
            cur = c
            tabu = (tabu + [c])[-self.tenure:]
            if s > best_s:
                best_s, best_d = s, d
        return best_d

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass


class Exhaustive:
    """The per-frame optimum for small instances: every assignment, uniform z level, every
    association pattern (each sensor joins any set of at most Y_max ESs) and per-ES rounds,
    maximizing sum_n U_n (the frame's performance whenever the frame time holds)."""

    LIMIT = 200_000

    def act(self, v: View) -> Decision:
        p = v.p
        patterns = [s for r in range(p.Y_max + 1) for s in itertools.combinations(range(p.N), r)]
        n_comb = len(patterns) ** p.M
        if n_comb > self.LIMIT:
            raise ValueError(f"exhaustive search needs small instances: {len(patterns)}^{p.M} = "
                             f"{n_comb} association patterns > {self.LIMIT}; use M <= 6, N <= 3")
        pat = np.zeros((len(patterns), p.N), dtype=bool)
        for i, s in enumerate(patterns):
            pat[i, list(s)] = True
        idx = np.array(list(itertools.product(range(len(patterns)), repeat=p.M)))
        Ys = pat[idx]  # (C, M, N)
        best: tuple[float, Decision] | None = None
        for assign in itertools.permutations(range(p.N), p.K):
            a = np.array(assign)
            for zl in range(1, p.z_levels + 1):
                z = np.full(p.N, zl)
                per_l = []
                for ell in range(1, p.ell_max + 1):
                    fc = model.frame_ctx(p, v.inst, v.frame, v.state, a, z, np.full(p.N, ell))
                    ok = (~Ys | fc.eligible[None]).all(axis=(1, 2)) & (
                        Ys.sum(axis=1) <= fc.cap[None]).all(axis=1) & (
                        ~Ys | fc.active[None, None]).all(axis=(1, 2))
                    dD = np.einsum("cmn,mn->cn", Ys, fc.dk)
                    E = np.einsum("cmn,mn->cn", Ys, fc.e_sen)
                    T = np.max(np.where(Ys, fc.t_sen[None], 0.0), axis=1)
                    ch = (Ys != fc.Y_prev[None]).sum(axis=1)
                    U = model.coalition_utility(p, fc, dD, E, T, ch)
                    per_l.append(np.where(ok[:, None], U, -np.inf))
                U_l = np.stack(per_l)  # (L, C, N)
                tot = U_l.max(axis=0).sum(axis=1)
                c = int(np.argmax(tot))
                if best is None or tot[c] > best[0]:
                    ell = np.argmax(U_l[:, c, :], axis=0) + 1
                    best = (float(tot[c]), Decision(a, z, ell, Ys[c].copy()))
        if best is None:
            raise ValueError(f"expected K <= N to assign the partial-DTs, got K={p.K}, N={p.N}")
        return best[1]

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass


# name -> framework the scheme runs in
FRAMEWORK: dict[str, str] = {
    "federated-myopic": "federated", "dmo": "federated", "dmo-shared": "federated",
    "nov": "nov", "cen": "cen",
    "greedy": "federated", "qlearning": "federated", "lyapunov-bcd": "federated",
    "tabu": "federated", "bandit": "federated", "exhaustive": "federated",
}
ALGORITHMS: tuple[str, ...] = tuple(FRAMEWORK)


def policy_state(policy: Policy) -> dict[str, Any] | None:
    """What ``policy`` carries from frame to frame (JSON), or None if it carries nothing.

    The live controller is stateless: this state travels with the cloud's carried state (in
    Redis, committed with the frame's integration) and comes back in the next frame's request,
    so a killed controller or cloud resumes the learning exactly where it was.
    """
    get = getattr(policy, "get_state", None)
    return get() if get is not None else None


def restore_policy(policy: Policy, state: dict[str, Any] | None) -> Policy:
    """Load ``state`` (from :func:`policy_state`) into a fresh ``policy``; returns it."""
    if state is not None:
        set_ = getattr(policy, "set_state", None)
        if set_ is None:
            raise ValueError(f"{type(policy).__name__} carries no state, got {sorted(state)}")
        set_(state)
    return policy


def make_policy(name: str, p: FederatedParams) -> Policy:
    """A fresh decision maker for the scheme ``name``; the learned ones (``dmo``,
    ``dmo-shared``) need their trained agents: :func:`.policies.make_scheme`."""
    if name in ("federated-myopic", "nov", "cen"):
        return Myopic()
    if name == "greedy":
        return Greedy()
    if name == "qlearning":
        return QLearning(p)
    if name == "bandit":
        return Bandit(p)
    if name == "lyapunov-bcd":
        return LyapunovBCD(p)
    if name == "tabu":
        return Tabu(p)
    if name == "exhaustive":
        return Exhaustive()
    if name in ("dmo", "dmo-shared"):
        raise ValueError(f"{name!r} plays trained agents: build it with "
                         "twinbed.scenarios.federated.policies.make_scheme")
    raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
