"""Timbre per log-mel patch: the spectral envelope of its loudest frames and their spread.

What a sound is like rather than what kind of sound it is: a backbone trained on AudioSet
maps a lullaby, a laughing sibling and a baby's cry close together; their timbre does
not. Read by the cry head beside YAMNet's logits (``features.yamnet`` output
``timbre``) and by ``streamser adapt``'s timbre gate. :func:`envelope` adds how the
patch's loudness moves: the rhythm of a cry's bursts, of syllables, of a song
(``features.yamnet`` output ``envelope``).
"""
from __future__ import annotations

import numpy as np

CHUNK = 4096     # patches at a time: a training cache holds some 10^5 of them
ENVELOPE_BINS = 32


def timbre(patches: np.ndarray) -> np.ndarray:
    """``(n, 2 * bands)`` per ``(n, frames, bands)`` log-mel patches: the loudest quarter of
    frames' mean per band less its mean over bands, then their spread per band."""
    p = np.asarray(patches)
    if p.ndim == 2:
        p = p[None]
    if not len(p):
        return np.zeros((0, 2 * (p.shape[-1] if p.ndim == 3 else 0)), np.float32)
    if len(p) > CHUNK:
        return np.concatenate([timbre(p[i:i + CHUNK]) for i in range(0, len(p), CHUNK)])
    p = p.astype(np.float32, copy=False)
    k = max(1, p.shape[1] // 4)
    loud = np.argsort(p.mean(axis=2), axis=1)[:, -k:]
    top = np.take_along_axis(p, loud[:, :, None], axis=1)
    env = top.mean(axis=1)
    env -= env.mean(axis=1, keepdims=True)
    return np.concatenate([env, top.std(axis=1)], axis=1).astype(np.float32)


def envelope(patches: np.ndarray) -> np.ndarray:
    """``(n, ENVELOPE_BINS + 1)`` per ``(n, frames, bands)`` log-mel patches: the magnitude
    spectrum of the patch's loudness envelope (its mean over bands, less its mean), bins
    1 to ``ENVELOPE_BINS`` (cycles per patch), divided by the frames; then its spread."""
    p = np.asarray(patches)
    if p.ndim == 2:
        p = p[None]
    if not len(p):
        return np.zeros((0, ENVELOPE_BINS + 1), np.float32)
    if len(p) > CHUNK:
        return np.concatenate([envelope(p[i:i + CHUNK]) for i in range(0, len(p), CHUNK)])
    e = p.astype(np.float32, copy=False).mean(axis=2)
    e = e - e.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(e, axis=1))[:, 1:ENVELOPE_BINS + 1] / p.shape[1]
    return np.concatenate([spec, e.std(axis=1, keepdims=True)], axis=1).astype(np.float32)
