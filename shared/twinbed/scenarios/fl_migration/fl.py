"""Real federated learning on scikit-learn's digits (8 x 8 images, 10 classes, no download).

The paper trains ResNet-18 on MNIST; here a small torch MLP (64 -> 32 -> 10) on digits, with
the paper's procedure per slot (Section II-B): every edge server trains the global model on
its twins' data for ``E_s`` epochs of SGD (rate chi), the cloud aggregates with eq. (4)
(weights D_{s,t}), then each twin fine-tunes on its own data for ``E_us`` epochs (step 6).

Non-i.i.d. users: a user's label distribution is the global one mixed with a one-hot on its
dominant class, P_u = (1 - lam) P_all + lam e_y, which has EMD (eq. 10, L1)
phi = 2 lam (1 - P_all(y)); counts are rounded so that the *realized* EMD is within 10 / n of
the target. Samples are drawn without replacement while a class lasts, then with replacement
(digits has ~180 images per class).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from twinbed.seeding import rng

__all__ = ["Digits", "MLP_SIZES", "accuracy", "emd_of", "fedavg", "fl_accuracy", "load_digits",
           "new_model", "sha256", "state_bytes", "state_from_bytes", "train_epochs", "user_counts",
           "user_indices"]

MLP_SIZES = (64, 32, 10)
BATCH = 32


@dataclass(frozen=True)
class Digits:
    x_train: np.ndarray  # (n, 64) float32 in [0, 1]
    y_train: np.ndarray  # (n,) int64
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def p_all(self) -> np.ndarray:
        return np.bincount(self.y_train, minlength=10) / self.y_train.size


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> Digits:
    """The digits data set, split (stratified, seeded) into a training pool and a test set."""
    from sklearn.datasets import load_digits as sk_load
    from sklearn.model_selection import train_test_split

    d = sk_load()
    x = (d.data / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, d.target.astype(np.int64), test_size=test_fraction,
                                          stratify=d.target, random_state=seed)
    return Digits(xtr, ytr, xte, yte)


def emd_of(labels: np.ndarray, p_all: np.ndarray) -> float:
    """Eq. (10): sum_y |P_u(y) - P_all(y)| of a label multiset."""
    p_u = np.bincount(labels, minlength=p_all.size) / max(1, labels.size)
    return float(np.abs(p_u - p_all).sum())


def user_counts(n: int, emd: float, dominant: int, p_all: np.ndarray) -> np.ndarray:
    """Per-class sample counts of a user with ``n`` samples and EMD ``emd`` (see module doc)."""
    lam = emd / (2.0 * (1.0 - p_all[dominant]))
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"EMD {emd} is not reachable with dominant class {dominant} "
                         f"(max {2 * (1 - p_all[dominant]):.3f})")
    target = n * ((1.0 - lam) * p_all + lam * np.eye(p_all.size)[dominant])
    counts = np.floor(target).astype(np.int64)
    rest = n - counts.sum()
    counts[np.argsort(-(target - counts))[:rest]] += 1  # largest remainders
    return counts


def user_indices(data: Digits, n: int, emd: float, dominant: int, g: np.random.Generator
                 ) -> np.ndarray:
    """Indices into the training pool for one user (non-i.i.d. with the given EMD)."""
    out = []
    for y, k in enumerate(user_counts(n, emd, dominant, data.p_all)):
        pool = np.flatnonzero(data.y_train == y)
        if k <= pool.size:
            out.append(g.choice(pool, size=k, replace=False))
        else:
            out.append(np.concatenate([g.permutation(pool), g.choice(pool, k - pool.size)]))
    return g.permutation(np.concatenate(out))


def new_model(seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    a, h, c = MLP_SIZES
    return torch.nn.Sequential(torch.nn.Linear(a, h), torch.nn.ReLU(), torch.nn.Linear(h, c))


def train_epochs(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, lr: float,
                 g: np.random.Generator, momentum: float = 0.9) -> Any:
    """``epochs`` passes of minibatch SGD (batch 32) over (x, y); returns the model."""
    import torch

    if epochs <= 0 or x.shape[0] == 0:
        return model
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    yt = torch.from_numpy(np.ascontiguousarray(y))
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x.shape[0]
    for _ in range(epochs):
        order = torch.from_numpy(g.permutation(n))
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model


def fedavg(states: list[dict[str, Any]], weights: np.ndarray) -> dict[str, Any]:
    """Eq. (4): omega = sum_s D_s omega_s / sum_s D_s."""
    w = np.asarray(weights, float)
    if w.sum() <= 0:
        raise ValueError("expected positive aggregation weights (data sizes)")
    w = w / w.sum()
    return {k: sum(float(wi) * s[k] for wi, s in zip(w, states, strict=False)) for k in states[0]}


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def state_bytes(state: dict[str, Any]) -> bytes:
    """A state dict as bytes (torch.save), what travels over the bus."""
    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in state.items()}, buf)
    return buf.getvalue()


def state_from_bytes(blob: bytes) -> dict[str, Any]:
    import torch

    return torch.load(io.BytesIO(blob), weights_only=True)


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def fl_accuracy(data: Digits, n: int, emd: float, seed: int, users: int = 4, edges: int = 2,
                E_s: int = 50, E_us: int = 10, lr: float = 0.007) -> dict[str, float]:
    """The Fig. 3 experiment for one (n, EMD): ``users`` twins with ``n`` samples each (EMD
    ``emd``, dominant classes spread over the labels) on ``edges`` edge servers; one slot of
    the paper's FL (local training, eq. 4, fine-tuning); the mean test accuracy of the users'
    fine-tuned models on the global test set."""
    import torch

    torch.set_num_threads(1)
    g = rng(seed, "fl", n, int(round(emd * 1000)))
    idx = [user_indices(data, n, emd, (3 * u + seed) % 10, g) for u in range(users)]
    global_model = new_model(seed)
    states, sizes = [], []
    for e in range(edges):
        mine = np.concatenate([idx[u] for u in range(users) if u % edges == e])
        m = new_model(seed)
        m.load_state_dict(global_model.state_dict())
        train_epochs(m, data.x_train[mine], data.y_train[mine], E_s, lr, g)
        states.append(m.state_dict())
        sizes.append(mine.size)
    avg = fedavg(states, np.asarray(sizes))
    accs, realized = [], []
    for u in range(users):
        m = new_model(seed)
        m.load_state_dict(avg)
        train_epochs(m, data.x_train[idx[u]], data.y_train[idx[u]], E_us, lr, g)
        accs.append(accuracy(m, data.x_test, data.y_test))
        realized.append(emd_of(data.y_train[idx[u]], data.p_all))
    global_model.load_state_dict(avg)
    return {"n": n, "emd": emd, "accuracy": float(np.mean(accs)),
            "global_accuracy": accuracy(global_model, data.x_test, data.y_test),
            "emd_realized": float(np.mean(realized))}
