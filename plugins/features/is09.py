"""features.is09: IS09-style LLDs and their deltas, 32 per frame (F4, for M1)."""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from pydantic import Field, model_validator

from streamser.dsp.lld import (
    CenteredFir,
    DeltaStack,
    cepstrum,
    hamming,
    htk_mel,
    next_pow2,
    rms,
    rowwise,
    samples,
    zcr,
)
from streamser.dsp.pitch import yin
from streamser.node import Params

from .base import FramedFeatures, StreamState

N_BANDS, N_MFCC, LIFTER, PREEMPHASIS, MEL_FLOOR = 26, 12, 22.0, 0.97, 1e-8
LLDS = ["zcr", "rms", "f0", "voicing"] + [f"mfcc{i}" for i in range(1, N_MFCC + 1)]
NAMES = LLDS + [f"d_{name}" for name in LLDS]


class Is09Params(Params):
    f0_min: float = Field(60.0, ge=50, le=400, description="Lowest F0 searched (Hz).")
    f0_max: float = Field(1000.0, ge=100, le=2000, description="Highest F0 searched (Hz; "
                          "IS09 stops at 500, infant cries reach about 1000).")
    voicing: float = Field(0.6, ge=0, le=1, description="Voicing probability below which "
                           "a frame is unvoiced and its f0 is 0.")
    smooth: bool = Field(True, description="3-frame moving average of every LLD before "
                         "the deltas (openSMILE's '_sma' contours, as IS09 does).")

    @model_validator(mode="after")
    def _ordered(self) -> Is09Params:
        if self.f0_max <= self.f0_min:
            raise ValueError("f0_max must be above f0_min")
        return self


class Tables(NamedTuple):
    win: int
    hop: int
    window: np.ndarray
    n_fft: int
    mel: np.ndarray
    dct: np.ndarray


@lru_cache(maxsize=8)
def tables(rate: int) -> Tables:
    win, hop = samples(0.025, rate), samples(0.010, rate)
    n_fft = next_pow2(win)
    mel = htk_mel(rate, n_fft, N_BANDS, 0.0, min(8000.0, rate / 2))
    return Tables(win, hop, hamming(win, periodic=False), n_fft, mel.T,
                  cepstrum(N_BANDS, 1, N_MFCC, LIFTER))


def raw_llds(frames: np.ndarray, rate: int, f0_min: float, f0_max: float, voicing: float
             ) -> np.ndarray:
    """(n, win + 2 hop) analysis frames -> (n, 16) unsmoothed LLDs in ``LLDS`` order."""
    t = tables(rate)
    x = np.asarray(frames, dtype=np.float64)
    core = x[:, t.hop:t.hop + t.win]
    emph = np.concatenate((core[:, :1] * (1 - PREEMPHASIS),
                           core[:, 1:] - PREEMPHASIS * core[:, :-1]), axis=1) * t.window
    mag = np.abs(np.fft.rfft(emph, t.n_fft, axis=1))
    mfcc = rowwise(np.log(np.maximum(MEL_FLOOR, rowwise(mag, t.mel))), t.dct)
    f0, prob = yin(x, rate, f0_min, f0_max)
    f0 = np.where(prob >= voicing, f0, 0.0)
    return np.column_stack([zcr(core), rms(emph), f0, prob, mfcc])


class Is09(FramedFeatures):
    """IS09-style LLDs and their deltas every 10 ms: ZCR, RMS, F0, voicing, MFCC 1-12 (32).

    Any input rate. Row k describes the 25 ms frame starting at ``k hop + hop`` samples;
    F0 and voicing use the 45 ms around it (one hop either side), so a row's window
    (``t`` and meta ``win``) is those 45 ms. As openSMILE's IS09_emotion.conf: ZCR of the
    raw 25 ms frame; the frame pre-emphasised per frame (y0 = 0.03 x0, y_i = x_i - 0.97
    x_{i-1}) and symmetric-Hamming windowed; RMS of that; MFCC 1-12 = HTK-liftered (22)
    orthonormal DCT-II of ``ln(max(mel, 1e-8))`` of the magnitude spectrum through 26 HTK
    mel bands 0..min(8 kHz, rate/2). F0 and voicing probability: :func:`yin` (f0 is 0 below
    ``voicing``). With ``smooth``, each LLD is averaged over 3 frames (edges replicated);
    deltas regress over +-2 frames (edges replicated, ``librosa.feature.delta(width=5,
    mode='nearest')``). Rows come out 3 frames late (2 without ``smooth``) and the last
    ones at end of stream, so streaming equals offline.
    """

    Params = Is09Params
    params: Is09Params

    def window(self, sample_rate: int) -> tuple[int, int]:
        t = tables(sample_rate)
        return t.win + 2 * t.hop, t.hop

    def column_names(self) -> list[str]:
        return NAMES

    def compute(self, frames: np.ndarray, state: StreamState) -> np.ndarray:
        if not len(frames):
            return np.zeros((0, len(NAMES)))
        p = self.params
        llds = raw_llds(frames, state.sample_rate, p.f0_min, p.f0_max, p.voicing)
        if p.smooth:
            llds = state.extra.setdefault("sma", CenteredFir(np.full(3, 1 / 3))).push(llds)
        return state.extra.setdefault("deltas", DeltaStack(order=1)).push(llds)

    def finish(self, state: StreamState) -> np.ndarray | None:
        sma, stack = state.extra.get("sma"), state.extra.get("deltas")
        if stack is None:
            return None
        tail = sma.finish() if sma else None
        rows = stack.push(tail) if tail is not None else np.zeros((0, 2 * len(LLDS)))
        rest = stack.finish()
        return rows if rest is None else np.concatenate((rows, rest))
