"""Frame-wise F0 and voicing probability: YIN's difference function, in numpy.

For a frame x of L samples (mean removed), integration length W = L - tau_max and lags
tau = 0..tau_max (tau_max = rate / fmin):

- difference  d(tau) = sum_{j<W} (x_j - x_{j+tau})^2 = e_0 + e_tau - 2 r(tau), with
  r(tau) = sum_{j<W} x_j x_{j+tau} (one FFT per frame) and e_tau = sum_{j<W} x_{j+tau}^2;
- YIN's cumulative-mean-normalised difference d'(tau) = d(tau) tau / sum_{k=1..tau} d(k);
- period: the first local minimum of d' in [rate/fmax, tau_max] below ``threshold``, or
  the lowest d' in that range when none is below; refined by a parabola through d'
  around it (YIN steps 2-5, de Cheveigne & Kawahara 2002);
- voicing probability p = 1 - d(tau)/(e_0 + e_tau) = 2 r(tau)/(e_0 + e_tau), clipped to
  [0, 1]: the normalised cross-correlation of the frame with itself one period later
  (1 for a perfectly periodic frame, about 0 for noise, 0 for silence).

Each frame is computed on its own, so a frame's result never depends on its batch.
"""
from __future__ import annotations

import numpy as np

from .lld import next_pow2


def yin(frames: np.ndarray, rate: int, fmin: float, fmax: float, threshold: float = 0.1
        ) -> tuple[np.ndarray, np.ndarray]:
    """(n, L) frames -> (f0 in Hz, voicing probability), each ``(n,)`` float64.
    Needs L > 2 rate/fmin (two periods of the lowest F0)."""
    n, length = frames.shape
    tau_max = int(rate / fmin)
    tau_min = max(2, int(rate / fmax))
    width = length - tau_max
    if width < tau_max:
        raise ValueError(f"frames of {length} samples are too short for fmin={fmin} Hz")
    x = frames - frames.sum(axis=1, keepdims=True) / length
    nfft = next_pow2(length)
    both = np.zeros((2 * n, nfft))        # the first W samples and the whole frame: one FFT
    both[:n, :width] = x[:, :width]
    both[n:, :length] = x
    spectra = np.fft.rfft(both, axis=1)
    r = np.fft.irfft(np.conj(spectra[:n]) * spectra[n:], nfft)[:, :tau_max + 1]
    sq = x * x                            # e_tau: e_0, then one sample in, one out per lag
    e_tau = np.empty((n, tau_max + 1))
    e_tau[:, 0] = sq[:, :width].sum(axis=1)
    e_tau[:, 1:] = sq[:, width:width + tau_max] - sq[:, :tau_max]
    np.cumsum(e_tau, axis=1, out=e_tau)
    e_sum = e_tau[:, :1] + e_tau
    d = np.maximum(0.0, e_sum - 2 * r)
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = np.ones_like(d)
    np.divide(d[:, 1:] * np.arange(1, tau_max + 1), cum, out=dn[:, 1:], where=cum > 0)

    inner = dn[:, tau_min:tau_max]                      # lags tau_min .. tau_max-1
    is_min = (inner <= dn[:, tau_min - 1:tau_max - 1]) & (inner < dn[:, tau_min + 1:])
    good = is_min & (inner < threshold)
    idx = np.where(good.any(axis=1), np.argmax(good, axis=1), np.argmin(inner, axis=1))
    tau = idx + tau_min
    rows = np.arange(n)
    left, mid, right = dn[rows, tau - 1], dn[rows, tau], dn[rows, tau + 1]
    curve = left - 2 * mid + right
    shift = np.divide(0.5 * (left - right), curve, out=np.zeros(n), where=curve > 0)
    f0 = rate / (tau + np.clip(shift, -0.5, 0.5))
    e_at, d_at = e_sum[rows, tau], d[rows, tau]
    prob = np.divide(e_at - d_at, e_at, out=np.zeros(n), where=e_at > 0)
    return f0, np.clip(prob, 0.0, 1.0)
