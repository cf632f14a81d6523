"""Timbre per log-mel patch: the spectral envelope of its loudest frames and their spread.

What a sound is like rather than what kind of sound it is: a backbone trained on AudioSet
maps a lullaby, a laughing sibling and a baby's cry close together; their timbre does
not. Read by the cry head beside YAMNet's logits (``features.yamnet`` output
``timbre``) and by ``streamser adapt``'s timbre gate.
"""
from __future__ import annotations

import numpy as np


def timbre(patches: np.ndarray) -> np.ndarray:
    """``(n, 2 * bands)`` per ``(n, frames, bands)`` log-mel patches: the loudest quarter of
    frames' mean per band less its mean over bands, then their spread per band."""
    p = np.asarray(patches, np.float32)
    if p.ndim == 2:
        p = p[None]
    if not len(p):
        return np.zeros((0, 2 * (p.shape[-1] if p.ndim == 3 else 0)), np.float32)
    k = max(1, p.shape[1] // 4)
    loud = np.argsort(p.mean(axis=2), axis=1)[:, -k:]
    top = np.take_along_axis(p, loud[:, :, None], axis=1)
    env = top.mean(axis=1)
    env -= env.mean(axis=1, keepdims=True)
    return np.concatenate([env, top.std(axis=1)], axis=1).astype(np.float32)
