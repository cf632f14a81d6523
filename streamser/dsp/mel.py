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


class Filterbank:
    """Applies ``(bins, bands)`` weights to ``(n, bins)`` spectra using only the nonzero
    weights (a mel band covers a few bins), summing each band's bins in a fixed order.

    About ten times fewer operations than a dense product, and a row's result does not
    depend on how many rows share the call (BLAS blocks differently for different row
    counts, so a dense matmul would make the last bits depend on the stream's blocking).
    """

    def __init__(self, weights: np.ndarray) -> None:
        self.bands = weights.shape[1]
        cols, gains, starts, used = [], [], [], []
        for band in range(self.bands):
            nz = np.flatnonzero(weights[:, band])
            if len(nz):
                used.append(band)
                starts.append(len(cols))
                cols.extend(nz.tolist())
                gains.extend(weights[nz, band].tolist())
        self._cols, self._gains = np.array(cols), np.array(gains)
        self._starts, self._used = np.array(starts), np.array(used)
        self._dense = len(used) == self.bands

    def __call__(self, spectrum: np.ndarray) -> np.ndarray:
        summed = np.add.reduceat(spectrum[:, self._cols] * self._gains, self._starts, axis=1)
        if self._dense:
            return summed
        out = np.zeros((len(spectrum), self.bands), summed.dtype)
        out[:, self._used] = summed
        return out
