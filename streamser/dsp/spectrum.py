"""Short-time spectra of framed audio (rows of ``Framer`` output), in float64."""
from __future__ import annotations

import numpy as np


def periodic_hann(n: int) -> np.ndarray:
    """The periodic ("DFT-even") Hann window of ``n`` samples, as VGGish uses."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def rfft_frames(frames: np.ndarray, window: np.ndarray, n_fft: int) -> np.ndarray:
    """``(n, win)`` frames -> ``(n, n_fft // 2 + 1)`` complex spectra of the windowed frames.

    A frame shorter than ``n_fft`` is zero-padded. A longer one is time-aliased (its
    ``n_fft``-sample segments are summed) before the FFT, so the result is still the
    windowed frame's DTFT sampled at ``k * rate / n_fft``: the same numbers as every
    ``m``-th bin of an ``m * n_fft``-point FFT, not a spectrum of a truncated frame.
    """
    x = frames * window  # float64 window: the product is float64
    win = x.shape[1]
    if win > n_fft:
        folds = -(-win // n_fft)
        x = np.pad(x, ((0, 0), (0, folds * n_fft - win)))
        x = x.reshape(len(x), folds, n_fft).sum(axis=1)
    return np.fft.rfft(x, n_fft, axis=1)


def power_fs(frames: np.ndarray, window: np.ndarray, n_fft: int) -> np.ndarray:
    """Power spectrum scaled so that a full-scale sine centred on a bin reads 1 (0 dBFS)."""
    return np.abs(rfft_frames(frames, window, n_fft)) ** 2 / (window.sum() / 2) ** 2
