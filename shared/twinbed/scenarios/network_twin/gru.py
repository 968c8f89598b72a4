"""The cloud twin's GRU predictor (Section III-A/B of the seed), in torch.

Input: the last M twin states ``S'_t`` (M x 2U coordinates); output: the next state. The GRU
is eqs. (6)-(9) (``torch.nn.GRU`` is exactly those gates, plus biases) with N^h hidden units;
eq. (10) ``W^o h_t`` is the output layer. Two implementation choices, recorded in README.md:
the input is scaled by the area's half side (coordinates in [-1, 1]) and ``W^o h_t`` predicts
the step from the newest state in units of the step length (``s_hat = s_t + dl * W^o h_t``),
so the network learns the movement, not the absolute map. The loss is eq. (11),
``1/(2U) ||s_hat - s||^2``, minimised by mini-batch SGD (eq. 12; momentum 0.9).

    record = train_gru(params, path, trajectories=2000, length=30, epochs=8, seed=0)
    predictor = load_gru(path)            # .predict(history (M, U, 2)) -> (U, 2)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import simdkalman

from twinbed.artifact_store import stamp
from twinbed.artifacts import MissingArtifactError
from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.seeding import rng

__all__ = [
    "GRUPredictor",
    "HoldPredictor",
    "KalmanPredictor",
    "gru_path",
    "load_gru",
    "per_user_mse",
    "train_gru",
    "trajectories",
]

TRAIN_COMMAND = "twinbed train network-twin-gru"


def gru_path(data_dir: str | Path, U: int) -> Path:
    """``<data>/models/network-twin-gru-U<U>.pt`` (the GRU's input size is 2U): where
    ``twinbed train network-twin-gru`` saves it, ahead of the shipped one (:data:`learned.GRU`)."""
    return Path(data_dir) / "models" / f"network-twin-gru-U{U}.pt"


def trajectories(p: NetworkTwinParams, n: int, length: int, seed: int, name: str = "train"
                 ) -> np.ndarray:
    """(n, length, U, 2) user trajectories of ``p.mobility`` (eq. 1 by default) from random
    starts (Section IV)."""
    g = rng(seed, "gru-trajectories", name)
    flat = NetworkTwinParams(**{**p.model_dump(), "U": p.U * n})
    probs = np.tile(p.move_probs(), (n, 1))
    pos = model.initial_positions(flat, g)
    before = None
    out = np.empty((length, n * p.U, 2))
    for t in range(length):
        out[t] = pos
        pos, before = model.move(flat, pos, g, probs, before), pos
    return out.reshape(length, n, p.U, 2).transpose(1, 0, 2, 3)


def _module(U: int, hidden: int) -> Any:  # a torch.nn.Module (torch loads lazily)
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(2 * U, hidden, batch_first=True)  # eqs. (6)-(9)
            self.out = torch.nn.Linear(hidden, 2 * U, bias=False)  # eq. (10), W^o

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, _ = self.gru(x)
            return self.out(h[:, -1])

    return Net()


class HoldPredictor:
    """No model: the twin keeps its newest state (the reference a predictor must beat)."""

    def predict(self, history: np.ndarray) -> np.ndarray:
        return np.array(history[-1], dtype=float)


def _inputs(w: np.ndarray, how: str, half: float, step: float) -> np.ndarray:
    """The GRU's input for windows (B, M, U, 2) as (B, M, 2U) float32: ``absolute``, the
    positions scaled by the area's half side (in [-1, 1]); ``relative``, each window minus its
    newest state, in steps (a displacement of one step is 1: what motion there is shows at the
    scale of 1, where absolute inputs show it at step / half = 0.02)."""
    x = (w - w[:, -1:]) / step if how == "relative" else w / half
    return np.asarray(x.reshape(w.shape[0], w.shape[1], -1), dtype=np.float32)


class GRUPredictor:
    """A trained GRU; ``predict`` maps (M, U, 2) twin states to the next (U, 2)."""

    def __init__(self, net: Any, U: int, M: int, half: float, step: float,
                 record: dict[str, Any] | None = None, inputs: str = "absolute") -> None:
        self.net, self.U, self.M, self.half, self.step = net, U, M, half, step
        self.record = record or {}
        self.inputs = inputs

    def predict_batch(self, windows: np.ndarray) -> np.ndarray:
        """(B, M, U, 2) -> (B, U, 2)."""
        import torch

        w = np.asarray(windows, dtype=np.float32)
        if w.shape[1:] != (self.M, self.U, 2):
            raise ValueError(f"expected windows of shape (B, {self.M}, {self.U}, 2), got "
                             f"{w.shape}")
        with torch.no_grad():
            x = torch.from_numpy(_inputs(w, self.inputs, self.half, self.step))
            d = self.net(x).numpy().astype(np.float64)
        return w[:, -1].astype(np.float64) + self.step * d.reshape(-1, self.U, 2)

    def predict(self, history: np.ndarray) -> np.ndarray:
        return self.predict_batch(np.asarray(history)[None])[0]


class KalmanPredictor:
    """A model-based baseline (beyond the paper): a Kalman filter over the twin's last M
    states with a constant-velocity model whose velocity has memory, per coordinate
    x' = x + v', v' = a v + e, e ~ N(0, q_u); positions observed with a tiny noise (the twin's
    states are exact when synced). ``a`` and each user's q_u are fitted by least squares on
    training trajectories (:meth:`fit`): under eq. (1)'s i.i.d. moves a ~ 0 and the filter
    holds the last position; under a Gauss-Markov mobility it extrapolates the velocity.
    The filtering is simdkalman's (vectorized over every window and coordinate)."""

    OBS_VAR = 1e-6  # blocks^2

    def __init__(self, a: float, q: np.ndarray) -> None:
        self.a, self.q = float(a), np.asarray(q, dtype=float)

    @classmethod
    def fit(cls, traj: np.ndarray) -> KalmanPredictor:
        """Fit a (pooled over users and coordinates) and q_u (per user) on (n, T, U, 2)."""
        d = np.diff(np.asarray(traj, dtype=float), axis=1)  # (n, T-1, U, 2) displacements
        prev, nxt = d[:, :-1], d[:, 1:]
        den = float(np.sum(prev * prev))
        a = float(np.sum(prev * nxt) / den) if den > 0 else 0.0
        q = np.mean((nxt - a * prev) ** 2, axis=(0, 1, 3))  # (U,)
        return cls(a, np.maximum(q, 1e-12))

    def predict_batch(self, windows: np.ndarray) -> np.ndarray:
        """(B, M, U, 2) -> (B, U, 2)."""
        w = np.asarray(windows, dtype=float)
        B, M, U, _ = w.shape
        if U != len(self.q):
            raise ValueError(f"fitted for {len(self.q)} users, got windows of {U}")
        F = np.array([[1.0, self.a], [0.0, self.a]])
        H = np.array([[1.0, 0.0]])
        out = np.empty((B, U, 2))
        for u in range(U):  # one filter per user: each has its own process noise
            kf = simdkalman.KalmanFilter(
                state_transition=F, process_noise=self.q[u] * np.ones((2, 2)),
                observation_model=H, observation_noise=self.OBS_VAR)
            series = w[:, :, u, :].transpose(0, 2, 1).reshape(B * 2, M)  # (B*2, M)
            start = np.stack([series[:, 0], np.zeros(B * 2)], axis=1)[:, :, None]
            cov = np.diag([self.OBS_VAR, 10.0 * self.q[u] + 1e-9])
            res = kf.predict(series, 1, initial_value=start, initial_covariance=cov,
                             states=False, covariances=False)
            out[:, u, :] = res.observations.mean[:, 0].reshape(B, 2)
        return out

    def predict(self, history: np.ndarray) -> np.ndarray:
        return self.predict_batch(np.asarray(history)[None])[0]


def _windows(traj: np.ndarray, M: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows of M states and the state after each: (K, M, U, 2), (K, U, 2)."""
    n, T = traj.shape[:2]
    idx = np.arange(M)[None, :] + np.arange(T - M)[:, None]  # (T-M, M)
    X = traj[:, idx].reshape(n * (T - M), M, *traj.shape[2:])
    Y = traj[:, M:].reshape(n * (T - M), *traj.shape[2:])
    return X, Y


def per_user_mse(pred: GRUPredictor | HoldPredictor | KalmanPredictor, traj: np.ndarray,
                 M: int) -> np.ndarray:
    """(U,) one-step prediction MSE per user, mean over its two coordinates (blocks^2)."""
    X, Y = _windows(traj, M)
    if isinstance(pred, GRUPredictor | KalmanPredictor):
        Yhat = np.concatenate([pred.predict_batch(X[i:i + 4096])
                               for i in range(0, len(X), 4096)])
    else:
        Yhat = X[:, -1]
    return np.mean((Yhat - Y) ** 2, axis=(0, 2))


def train_gru(
    p: NetworkTwinParams,
    path: str | Path,
    *,
    n_trajectories: int = 2000,
    length: int = 30,
    epochs: int = 8,
    batch: int = 64,
    lr: float = 0.05,
    seed: int = 0,
    test_trajectories: int = 200,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on ``n_trajectories`` trajectories of ``length`` slots, save to ``path`` (plus a
    JSON record beside it: parameters, loss per epoch, per-user test MSE) and return the record.
    """
    import torch
    from tqdm import tqdm

    if length <= p.M:
        raise ValueError(f"expected trajectories longer than M={p.M} slots, got {length}")
    torch.set_num_threads(1)
    torch.manual_seed(int(rng(seed, "gru-init").integers(2**31)))
    X, Y = _windows(trajectories(p, n_trajectories, length, seed, "train"), p.M)
    X_t = torch.from_numpy(_inputs(X, p.gru_input, p.half_blocks, p.step_blocks))
    D_t = torch.from_numpy(((Y - X[:, -1]).reshape(len(X), 2 * p.U) / p.step_blocks)
                           .astype(np.float32))
    net = _module(p.U, p.hidden)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    order = np.random.default_rng(rng(seed, "gru-batches").integers(2**32))
    losses: list[float] = []
    t0 = time.perf_counter()
    bar = tqdm(total=epochs * ((len(X) + batch - 1) // batch), desc="gru", unit="batch",
               disable=not progress, mininterval=1.0, file=sys.stderr)
    for _ in range(epochs):
        perm = torch.from_numpy(order.permutation(len(X)))
        total = 0.0
        for i in range(0, len(X), batch):
            j = perm[i:i + batch]
            # eq. (11) in blocks^2: 1/(2U) ||s_hat - s||^2 = step^2 * mean((d_hat - d)^2)
            loss = p.step_blocks**2 * torch.mean((net(X_t[j]) - D_t[j]) ** 2)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(j)
            bar.update(1)
        losses.append(total / len(X))
        bar.set_postfix(loss=f"{losses[-1]:.4g}")
    bar.close()
    wall = time.perf_counter() - t0
    net.eval()
    pred = GRUPredictor(net, p.U, p.M, p.half_blocks, p.step_blocks, inputs=p.gru_input)
    test = trajectories(p, test_trajectories, length, seed, "test")
    mse = per_user_mse(pred, test, p.M)
    hold = per_user_mse(HoldPredictor(), test, p.M)
    record = {
        "params": p.model_dump(mode="json"), "n_trajectories": n_trajectories, "length": length,
        "epochs": epochs, "batch": batch, "lr": lr, "seed": seed, "wall_s": wall,
        "loss_per_epoch": losses, "test_mse_per_user": mse.tolist(),
        "test_mse_hold_per_user": hold.tolist(),
        "move_prob_per_user": (1.0 - p.move_probs()[:, 0]).tolist(),
        "command": " ".join(["twinbed", *sys.argv[1:]]), "created_wall": time.time(),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.pt")
    torch.save({"state_dict": net.state_dict(), "U": p.U, "hidden": p.hidden, "M": p.M,
                "half": p.half_blocks, "step": p.step_blocks, "mobility": p.mobility,
                "gm_memory": p.gm_memory, "inputs": p.gru_input}, tmp)
    tmp.replace(path)
    record = stamp(record, path)
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    pred.record = record
    return record


def load_gru(path: str | Path, p: NetworkTwinParams | None = None) -> GRUPredictor:
    """The GRU saved at ``path``; raises MissingArtifactError naming the train command, or
    ValueError if it was trained for other U, M, N^h, area, step length or mobility than
    ``p``."""
    import torch

    path = Path(path)
    if not path.exists():
        raise MissingArtifactError(path, TRAIN_COMMAND + (f" --param U={p.U}" if p else ""))
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if p is not None:
        want = {"U": p.U, "hidden": p.hidden, "M": p.M, "half": p.half_blocks,
                "step": p.step_blocks, "mobility": p.mobility, "inputs": p.gru_input}
        if p.mobility != "walk":
            want["gm_memory"] = p.gm_memory
        # files from before the mobility choice were all trained on eq. (1)'s walk
        saved = {"mobility": "walk", "gm_memory": None, "inputs": "absolute", **ck}
        diff = {k: (saved[k], v) for k, v in want.items() if saved[k] != v}
        if diff:
            raise ValueError(f"GRU at {path} was trained for other parameters "
                             f"(saved, wanted): {diff}; retrain with `{TRAIN_COMMAND}`")
    torch.set_num_threads(1)
    net = _module(ck["U"], ck["hidden"])
    net.load_state_dict(ck["state_dict"])
    net.eval()
    rec_path = path.with_suffix(".json")
    record = json.loads(rec_path.read_text()) if rec_path.exists() else {}
    return GRUPredictor(net, ck["U"], ck["M"], ck["half"], ck["step"], record,
                        inputs=ck.get("inputs", "absolute"))
