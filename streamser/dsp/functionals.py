"""Utterance-level statistics of frame features, and a streaming speaker normalizer
(numpy only: the runtime's ``classify.utterance`` node and training share them).

- :func:`utterance_stats`: IS09-style functionals of each feature column over a clip.
- :class:`RunningNorm`: per-column mean and variance that start from corpus statistics
  (worth ``prior_frames`` frames) and absorb every utterance of a stream, so a speaker's
  own statistics take over as they speak, with no enrolment and no file of test speakers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Functionals per feature column, in the order :func:`utterance_stats` concatenates them.
FUNCTIONALS = ("mean", "std", "min", "max", "argmin", "argmax", "slope", "skewness",
               "kurtosis")


def utterance_stats(x: np.ndarray) -> np.ndarray:
    """Functionals of each feature over the clip (``(T, D)`` -> ``(9 D,)``): mean,
    standard deviation, minimum, maximum, relative positions of the extremes,
    linear-regression slope, skewness and kurtosis."""
    x = x.reshape(len(x), -1).astype(np.float64)
    t = np.linspace(-1, 1, len(x)) if len(x) > 1 else np.zeros(1)
    mean, std = x.mean(0), x.std(0) + 1e-8
    z = (x - mean) / std
    slope = (t[:, None] * (x - mean)).sum(0) / max(float((t ** 2).sum()), 1e-8)
    pos = np.array([x.argmin(0), x.argmax(0)]) / max(len(x) - 1, 1)
    return np.concatenate([mean, std, x.min(0), x.max(0), *pos, slope, (z ** 3).mean(0),
                           (z ** 4).mean(0)]).astype(np.float32)


@dataclass
class RunningNorm:
    """Streaming per-column standardization: a running mean and variance that start at
    corpus statistics counted as ``prior_frames`` frames, updated with each utterance's
    frames (Chan's parallel update). ``apply`` standardizes with the current estimate;
    std is floored at ``floor``."""

    mean: np.ndarray
    var: np.ndarray
    count: float
    floor: float = 1e-5

    @classmethod
    def from_corpus(cls, mean: np.ndarray, std: np.ndarray, prior_frames: float
                    ) -> RunningNorm:
        mean = np.asarray(mean, np.float64)
        return cls(mean.copy(), np.asarray(std, np.float64) ** 2, float(prior_frames))

    def update(self, frames: np.ndarray) -> None:
        """Absorb an utterance's ``(T, D)`` frames."""
        x = np.asarray(frames, np.float64).reshape(-1, len(self.mean))
        n = len(x)
        if not n:
            return
        m = x.mean(0)
        v = x.var(0)
        total = self.count + n
        delta = m - self.mean
        self.var = (self.count * self.var + n * v + delta ** 2 * self.count * n / total) / total
        self.mean = self.mean + delta * n / total
        self.count = total

    def apply(self, frames: np.ndarray) -> np.ndarray:
        std = np.maximum(np.sqrt(self.var), self.floor)
        return ((frames - self.mean) / std).astype(np.float32)
