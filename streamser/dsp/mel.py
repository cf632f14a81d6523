"""Mel filterbanks as VGGish defines them (tensorflow/models ``mel_features.py``).

HTK mel scale, ``mel = 1127 ln(1 + f / 700)``. Band ``i`` is a triangle between mel edges
``i`` and ``i + 2`` of ``n_mels + 2`` edges spaced evenly in mel from ``fmin`` to
``fmax``, peaking at 1 on edge ``i + 1``; the triangles are interpolated in *mel* over
the FFT bins' frequencies (HTK and Kaldi do the same; librosa's ``htk=True`` filterbank
interpolates in Hz instead), no area normalization, and the DC bin gets no weight.
"""
from __future__ import annotations

import numpy as np


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(n_mels: int, n_fft: int, sample_rate: int, fmin: float,
               fmax: float) -> np.ndarray:
    """``(n_fft // 2 + 1, n_mels)`` weights: spectrum rows ``@`` matrix -> mel bands."""
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= {sample_rate / 2} Hz, got {fmin}, {fmax}")
    bins_mel = hz_to_mel(np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1))[:, None]
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (centre - lower)
    falling = (upper - bins_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def apply_filterbank(spectrum: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(n, bins) @ (bins, bands)``, with each row's sum order independent of ``n``.

    BLAS matmul blocks differently for different row counts, so a row's last bits would
    depend on how the stream was cut into blocks; einsum's plain loop does not.
    """
    return np.einsum("nk,km->nm", spectrum, weights)
