"""features.lld45: the 45 frame-level LLDs of DBL-MM's Table I (F3, for M2)."""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from streamser.dsp.lld import (
    AMIN,
    DeltaStack,
    cepstrum,
    hamming,
    next_pow2,
    rms,
    rowwise,
    samples,
    slaney_mel,
    spectral_shape,
    zcr,
)

from .base import FramedFeatures, StreamState

N_MELS, N_MFCC = 40, 13
MFCC = [f"mfcc{i}" for i in range(N_MFCC)]
NAMES = (MFCC + [f"d_{m}" for m in MFCC] + [f"dd_{m}" for m in MFCC] +
         ["zcr", "rms", "centroid", "bandwidth", "flatness", "rolloff"])


class Tables(NamedTuple):
    window: np.ndarray
    n_fft: int
    freqs: np.ndarray
    mel: np.ndarray
    dct: np.ndarray


@lru_cache(maxsize=8)
def tables(rate: int) -> Tables:
    win = samples(0.025, rate)
    n_fft = next_pow2(win)
    return Tables(hamming(win, periodic=True), n_fft, np.fft.rfftfreq(n_fft, 1 / rate),
                  slaney_mel(rate, n_fft, N_MELS).T, cepstrum(N_MELS, 0, N_MFCC - 1))


def static_llds(frames: np.ndarray, rate: int) -> np.ndarray:
    """(n, win) frames -> (n, 19): mfcc0..12, zcr, rms, centroid, bandwidth, flatness,
    rolloff (the columns that are not deltas)."""
    t = tables(rate)
    x = np.asarray(frames, dtype=np.float64)
    mag = np.abs(np.fft.rfft(x * t.window, t.n_fft, axis=1))
    mfcc = rowwise(10 * np.log10(np.maximum(AMIN, rowwise(mag ** 2, t.mel))), t.dct)
    return np.column_stack([mfcc, zcr(x), rms(x), spectral_shape(mag, t.freqs)])


class Lld45(FramedFeatures):
    """DBL-MM's 45 LLDs every 10 ms: MFCC 0-12, deltas, delta-deltas, ZCR, RMS, 4 spectral.

    Table I of DBL-MM: MFCC 0-12 with deltas and delta-deltas, zero-crossing rate, RMS
    energy, spectral centroid, bandwidth, flatness and roll-off of 25 ms Hamming frames.
    Any input rate: the frame is ``round(0.025 rate)`` samples every ``round(0.010 rate)``
    (halves rounded up), FFT size the next power of two. Per frame, librosa's definitions
    with ``center=False``: MFCC = orthonormal DCT-II of ``10 log10(max(mel, 1e-10))`` of
    the power spectrum through 40 Slaney mel bands 0..rate/2 (no ``top_db`` clipping);
    ZCR and RMS of the raw frame; centroid, bandwidth, roll-off (85 %) of the magnitude
    spectrum, flatness of the power spectrum. Deltas: regression over +-2 frames with the
    edge frames replicated (``librosa.feature.delta(width=5, mode='nearest')``), and the
    delta-delta is the delta of the delta; rows are held back 4 frames for that look-ahead
    and the last ones come out at end of stream, so streaming equals offline.
    """

    def window(self, sample_rate: int) -> tuple[int, int]:
        return samples(0.025, sample_rate), samples(0.010, sample_rate)

    def column_names(self) -> list[str]:
        return NAMES

    def compute(self, frames: np.ndarray, state: StreamState) -> np.ndarray:
        if not len(frames):
            return np.zeros((0, len(NAMES)))
        stack = state.extra.setdefault("deltas", DeltaStack(order=2))
        return self._arrange(stack.push(static_llds(frames, state.sample_rate)))

    def finish(self, state: StreamState) -> np.ndarray | None:
        stack = state.extra.get("deltas")
        rows = stack.finish() if stack else None
        return None if rows is None else self._arrange(rows)

    @staticmethod
    def _arrange(stacked: np.ndarray) -> np.ndarray:
        """[static, d static, dd static] (19 columns each) -> the 45 columns of NAMES."""
        s, d, dd = np.split(stacked, 3, axis=1)
        return np.column_stack([s[:, :N_MFCC], d[:, :N_MFCC], dd[:, :N_MFCC], s[:, N_MFCC:]])
