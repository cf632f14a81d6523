"""The per-home verifier: a standardized logistic regression over the backbone's row and
the head's log-scores that tells this home's sounds from cries; numpy only.

The cry score the smoother sees becomes ``p' = p * min(1, g / tau)``: ``g`` is the
verifier's probability that the row is a cry rather than the home's sound, ``tau`` a
level that nearly every cry row of the fitting cries reaches, so cries pass untouched
and the home's own sounds are pushed under the smoother's start threshold.

Stored as one ``.npz`` (no pickles): weights, standardization, ``tau``, the home's rows
(so later false alarms are appended and the fit goes on from these weights, not from
scratch) and a JSON ``meta`` (backbone signature, head, what it was fitted on).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import store

FORMAT = "streamser-verifier/1"
EPS = 1e-6


def features(rows: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The verifier's input: the backbone row and the head's log-scores."""
    return np.concatenate([np.asarray(rows, np.float32),
                           np.log(np.clip(np.asarray(probs, np.float32), EPS, 1.0))], axis=1)


def with_cry(probs: np.ndarray, cry: int, new: np.ndarray) -> np.ndarray:
    """``probs`` with column ``cry`` set to ``new`` and the others scaled to keep each
    row's sum."""
    old = probs[:, cry]
    scale = np.where(old < 1.0, (1.0 - new) / np.maximum(1.0 - old, EPS), 1.0)
    out = probs * scale[:, None]
    out[:, cry] = new
    return out.astype(np.float32)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


@dataclass
class Verifier:
    """Weights ``w`` over standardized features (``mean``, ``std``), bias ``b``, gate
    ``tau``, the cry column ``cry`` of the head's scores; ``home_rows``/``home_probs``/
    ``home_y`` (1 a home cry, 0 a home sound) and ``meta``."""

    w: np.ndarray
    b: float
    mean: np.ndarray
    std: np.ndarray
    tau: float
    cry: int
    home_rows: np.ndarray
    home_probs: np.ndarray
    home_y: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def g(self, rows: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """P(cry rather than this home's sound) per row."""
        z = (features(rows, probs) - self.mean) / self.std
        return sigmoid(z @ self.w + self.b)

    def cry_score(self, rows: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """The verified cry score per row."""
        p = np.asarray(probs, np.float32)[:, self.cry]
        return (p * np.minimum(1.0, self.g(rows, probs) / self.tau)).astype(np.float32)

    def apply(self, rows: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """The head's scores with the cry column verified and the others scaled to keep
        the sum."""
        probs = np.asarray(probs, np.float32)
        return with_cry(probs, self.cry, self.cry_score(rows, probs))

    def save(self, path: str | Path) -> Path:
        return store.save(path, FORMAT, self.meta, w=self.w.astype(np.float32),
                          b=np.float32(self.b), mean=self.mean.astype(np.float32),
                          std=self.std.astype(np.float32), tau=np.float32(self.tau),
                          cry=np.int32(self.cry), home_rows=self.home_rows.astype(np.float16),
                          home_probs=self.home_probs.astype(np.float16),
                          home_y=self.home_y.astype(np.int8))

    @classmethod
    def load(cls, path: str | Path) -> Verifier:
        """A verifier file; ``ValueError`` (one line) when it is not one."""
        z, meta = store.load(path, FORMAT, "a verifier")
        try:
            return cls(z["w"], float(z["b"]), z["mean"], z["std"], float(z["tau"]),
                       int(z["cry"]), z["home_rows"].astype(np.float32),
                       z["home_probs"].astype(np.float32), z["home_y"], meta)
        except KeyError as exc:
            raise ValueError(f"{path}: not a verifier adapt wrote (no {exc})") from None


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float,
                 steps: int, w0: np.ndarray | None = None, b0: float = 0.0,
                 lr: float = 0.05) -> tuple[np.ndarray, float]:
    """Weighted L2-regularized logistic regression on standardized ``x`` by full-batch
    Adam from ``(w0, b0)`` (zeros by default); returns ``(w, b)``."""
    n, d = x.shape
    w = np.zeros(d, np.float64) if w0 is None else w0.astype(np.float64).copy()
    b = float(b0)
    wt = weight / weight.sum()
    m, v = np.zeros(d + 1), np.zeros(d + 1)
    xd = x.astype(np.float64)
    for t in range(1, steps + 1):
        r = (sigmoid(xd @ w + b) - y) * wt
        grad = np.concatenate([xd.T @ r + l2 * w, [r.sum()]])
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad ** 2
        step = lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        w -= step[:d]
        b -= float(step[d])
    return w.astype(np.float32), b
