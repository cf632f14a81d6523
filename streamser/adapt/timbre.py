"""The per-home timbre gate: the home's own sounds told from cries by what they sound
like, not by what kind of sound they are; numpy only.

A backbone trained on AudioSet maps a mother's lullaby, a laughing sibling and a baby's
cry close together: that is what makes it a good cry detector, and why a verifier on its
rows cannot tell this home's sounds from cries of families it never heard
(``benchmarks/adapt_bound.py``). The spectral envelope of a sound's loudest frames (its
timbre: a voice, a door, a washing machine) tells them apart. Per patch that the backbone
reads (log-mel, ``frames x bands``), :func:`streamser.dsp.timbre.timbre` keeps the mean of
its loudest quarter of frames per band, less their mean over bands (so the level does not
count), and their spread per band.

The gate is a nearest-neighbour rule: ``homeness = max cos(x, home) - max cos(x, cries)``
over the home's rows and the cry set's fitting cries (centred on the cries' mean),
averaged over the last ``CONTEXT`` rows of the stream (a home's sound goes on; a cry row
that happens to sound like the home does not gate the cry). Where that exceeds ``margin``
the cry score is set to zero. ``margin`` is the ``QUANTILE`` of the same average over
the fitting cries themselves, each compared with the cries of *other* sources, so that a
cry family the gate never saw passes as theirs do. Later
rows (marked false alarms, more of the home) are appended and the margin recomputed: no
weights, nothing retrained.

Stored as one ``.npz`` (no pickles) beside the adapted graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import store
from .verifier import with_cry

FORMAT = "streamser-timbre/1"
QUANTILE = 0.995
#: Rows (0.24 s apart in the shipped robot: 1.9 s) the homeness is averaged over.
CONTEXT = 8
#: adapt refuses a home whose clips sound more like the cry set's cries than the cries'
#: other families do for more than this share of them (six homes of our benchmark:
#: 3-6 %; 40 donateacry cries taught as a home: 31 %).
MAX_CRYLIKE = 0.15
#: Fitting cries the head scores at least this high calibrate the margin.
CRY_SCORE = 0.5
EPS = 1e-6


def running_mean(values: np.ndarray, context: int, seq: np.ndarray | None = None
                 ) -> np.ndarray:
    """The mean of each value and up to ``context - 1`` before it in the same ``seq``
    (one sequence when None), as the node computes it from a fresh stream."""
    v = np.asarray(values, np.float64)
    seq = np.zeros(len(v), np.int64) if seq is None else np.asarray(seq)
    total, count = v.copy(), np.ones(len(v))
    for k in range(1, context):
        same = np.r_[np.zeros(min(k, len(v)), bool), seq[k:] == seq[:-k]]
        total[k:] += np.where(same[k:], v[:-k], 0.0)
        count += same
    return total / count


def _unit(x: np.ndarray, centre: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32) - centre
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + EPS)


@dataclass
class TimbreGate:
    """``home`` and ``cries`` timbre rows; per cry row its ``cry_source`` (an id: the
    margin compares a cry with other sources only), ``cry_seq`` (its clip, for the
    running mean) and the head's ``cry_scores``; ``centre``, ``margin``, ``context``,
    the head's cry column ``cry`` and ``meta``."""

    home: np.ndarray
    cries: np.ndarray
    cry_source: np.ndarray
    cry_seq: np.ndarray
    cry_scores: np.ndarray
    centre: np.ndarray
    margin: float = 0.0
    context: int = CONTEXT
    cry: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, home: np.ndarray, cries: np.ndarray, cry_source: np.ndarray,
            cry_seq: np.ndarray, cry_scores: np.ndarray, cry: int = 0,
            meta: dict[str, Any] | None = None) -> TimbreGate:
        """A gate for ``home`` rows against ``cries``."""
        cries = np.asarray(cries, np.float32)
        gate = cls(np.asarray(home, np.float32), cries, np.asarray(cry_source),
                   np.asarray(cry_seq), np.asarray(cry_scores, np.float32),
                   cries.mean(axis=0), cry=cry, meta=dict(meta or {}))
        gate.calibrate()
        return gate

    def append(self, home: np.ndarray, cries: np.ndarray | None = None,
               cry_source: np.ndarray | None = None, cry_seq: np.ndarray | None = None,
               cry_scores: np.ndarray | None = None) -> None:
        """More of the home (marked false alarms, more clips) and of its own baby's cries:
        kept, margin recomputed."""
        self.home = np.concatenate([self.home, np.asarray(home, np.float32)])
        if cries is not None and len(cries):
            self.cries = np.concatenate([self.cries, np.asarray(cries, np.float32)])
            self.cry_source = np.concatenate([self.cry_source, np.asarray(cry_source)])
            self.cry_seq = np.concatenate([self.cry_seq, np.asarray(cry_seq)])
            self.cry_scores = np.concatenate([self.cry_scores,
                                              np.asarray(cry_scores, np.float32)])
        self.calibrate()

    def calibrate(self) -> None:
        """``margin``: the ``QUANTILE`` of the fitting cries' running homeness."""
        self.margin = float(np.quantile(self._cry_homeness(), QUANTILE))

    def crylike_share(self) -> float:
        """The share of the fitting cries that sound more like the home than like the
        cries of other families (their running homeness above zero)."""
        return float((self._cry_homeness() > 0).mean())

    def _cry_homeness(self) -> np.ndarray:
        """The running homeness of the fitting cries the head scores at least
        ``CRY_SCORE``, each compared with the cries of other sources only."""
        c = _unit(self.cries, self.centre)
        to_home = (c @ _unit(self.home, self.centre).T).max(axis=1)
        sims = c @ c.T
        sims[self.cry_source[:, None] == self.cry_source[None, :]] = -1.0
        mean = running_mean(to_home - sims.max(axis=1), self.context, self.cry_seq)
        sure = self.cry_scores >= CRY_SCORE
        return mean[sure] if sure.any() else mean

    def homeness(self, x: np.ndarray) -> np.ndarray:
        """How much closer each timbre row is to the home than to any cry."""
        u = _unit(x, self.centre)
        return ((u @ _unit(self.home, self.centre).T).max(axis=1)
                - (u @ _unit(self.cries, self.centre).T).max(axis=1))

    def apply(self, x: np.ndarray, probs: np.ndarray,
              earlier: np.ndarray | None = None) -> np.ndarray:
        """The head's scores of consecutive rows of one stream (``earlier``: the homeness
        of the rows before them, oldest first) with the cry column zeroed where the
        running homeness says the home, the others scaled to keep the sum."""
        probs = np.asarray(probs, np.float32)
        h = self.homeness(x)
        before = np.zeros(0) if earlier is None else np.asarray(earlier)[-(self.context - 1):]
        home = running_mean(np.r_[before, h], self.context)[len(before):] > self.margin
        return with_cry(probs, self.cry, np.where(home, 0.0, probs[:, self.cry]))

    def save(self, path: str | Path) -> Path:
        return store.save(path, FORMAT, self.meta, home=self.home.astype(np.float16),
                          cries=self.cries.astype(np.float16),
                          cry_source=self.cry_source.astype(np.int64),
                          cry_seq=self.cry_seq.astype(np.int64),
                          cry_scores=self.cry_scores.astype(np.float16),
                          centre=self.centre.astype(np.float32),
                          margin=np.float32(self.margin), context=np.int32(self.context),
                          cry=np.int32(self.cry))

    @classmethod
    def load(cls, path: str | Path) -> TimbreGate:
        """A gate file; ``ValueError`` (one line) when it is not one."""
        z, meta = store.load(path, FORMAT, "a timbre gate")
        try:
            return cls(z["home"].astype(np.float32), z["cries"].astype(np.float32),
                       z["cry_source"], z["cry_seq"], z["cry_scores"].astype(np.float32),
                       z["centre"], float(z["margin"]), int(z["context"]), int(z["cry"]),
                       meta)
        except KeyError as exc:
            raise ValueError(f"{path}: not a timbre gate adapt wrote (no {exc})") from None
