"""Frame-level low-level descriptors (LLDs) in numpy, and streaming delta regression.

Every function takes a batch of frames ``(n, win)`` (or spectra ``(n, bins)``) and returns
one value (or vector) per frame, computed in float64, so one frame's result never depends
on which other frames share its batch. Definitions follow librosa (``zcr``, ``rms``,
``spectral_shape``, ``slaney_mel``) and HTK/openSMILE (``htk_mel``, ``cepstrum``).
"""
from __future__ import annotations

import numpy as np

AMIN = 1e-10  # floor of power values before a log (librosa's amin)


def samples(seconds: float, rate: int) -> int:
    """Seconds -> samples, rounded half up (openSMILE's rule: 10 ms at 22.05 kHz = 221)."""
    return int(seconds * rate + 0.5)


def next_pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def hamming(n: int, periodic: bool) -> np.ndarray:
    """Hamming window: periodic (scipy/librosa ``'hamming'``) or symmetric (openSMILE)."""
    return np.hamming(n + 1)[:-1] if periodic else np.hamming(n)


def rowwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` with each row's sum order independent of the number of rows (BLAS blocks
    differently per batch size, which would make a row's last bits depend on how the
    stream was cut into blocks; einsum's plain loop does not)."""
    return np.einsum("nk,k...->n...", a, b)


def zcr(frames: np.ndarray) -> np.ndarray:
    """Zero crossings per sample: sign changes between neighbours / frame length, with
    |x| <= 1e-10 counted as positive (librosa ``zero_crossing_rate``, ``center=False``)."""
    neg = np.signbit(np.where(np.abs(frames) <= 1e-10, 0.0, frames))
    return np.count_nonzero(neg[:, 1:] != neg[:, :-1], axis=1) / frames.shape[1]


def rms(frames: np.ndarray) -> np.ndarray:
    """Root mean square of each frame."""
    return np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))


def spectral_shape(mag: np.ndarray, freqs: np.ndarray, roll_percent: float = 0.85
                   ) -> np.ndarray:
    """(n, 4): centroid, bandwidth (Hz, p=2), flatness (of the power spectrum, floored at
    1e-10) and roll-off (Hz: the first bin where the cumulative magnitude reaches
    ``roll_percent`` of the total) of magnitude spectra, as librosa defines them. A silent
    frame has centroid, bandwidth and roll-off 0 and flatness 1."""
    total = mag.sum(axis=1, keepdims=True)
    weights = mag / np.where(total > 0, total, 1.0)
    centroid = rowwise(weights, freqs)
    bandwidth = np.sqrt(np.sum(weights * (freqs - centroid[:, None]) ** 2, axis=1))
    power = np.maximum(AMIN, mag ** 2)
    flatness = np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1)
    reached = np.cumsum(mag, axis=1) >= roll_percent * total
    rolloff = freqs[np.argmax(reached, axis=1)]
    return np.stack([centroid, bandwidth, flatness, rolloff], axis=1)


def _triangles(freqs: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(bands, bins) triangular filters, linear in Hz, band i spanning edges[i]..[i+2]."""
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs - lo) / (mid - lo)
    fall = (hi - freqs) / (hi - mid)
    return np.maximum(0.0, np.minimum(rise, fall))


def slaney_mel(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, bins) Slaney mel filterbank 0..rate/2 with area normalisation (equals
    ``librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels)``)."""
    def to_mel(f: np.ndarray) -> np.ndarray:
        return np.where(f < 1000, f * 3 / 200, 15 + np.log(np.maximum(f, 1e-9) / 1000) *
                        27 / np.log(6.4))

    def to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m < 15, m * 200 / 3, 1000 * np.exp((m - 15) * np.log(6.4) / 27))

    edges = to_hz(np.linspace(0, to_mel(np.array(rate / 2)), n_mels + 2))
    fb = _triangles(np.fft.rfftfreq(n_fft, 1 / rate), edges)
    return fb * (2 / (edges[2:] - edges[:-2]))[:, None]


def htk_mel(rate: int, n_fft: int, n_bands: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_bands, bins) unnormalised triangles with centres equally spaced on the HTK mel
    scale 1127 ln(1 + f/700) (``librosa.filters.mel(htk=True, norm=None)``)."""
    mels = np.linspace(np.log1p(fmin / 700), np.log1p(fmax / 700), n_bands + 2)
    return _triangles(np.fft.rfftfreq(n_fft, 1 / rate), 700 * np.expm1(mels))


def cepstrum(n_in: int, first: int, last: int, lifter: float = 0.0) -> np.ndarray:
    """(n_in, last-first+1) matrix: log filterbank energies @ it = cepstral coefficients
    c_first..c_last by the orthonormal DCT-II (c_i = sqrt(2/N) sum_m x_m cos(pi i (m+.5)/N),
    c_0 scaled by sqrt(1/N)), then HTK liftering 1 + L/2 sin(pi i / L) when ``lifter`` > 0."""
    i = np.arange(first, last + 1)
    basis = np.cos(np.pi * np.outer(np.arange(n_in) + 0.5, i) / n_in) * np.sqrt(2 / n_in)
    basis[:, i == 0] /= np.sqrt(2)
    if lifter > 0:
        basis *= 1 + lifter / 2 * np.sin(np.pi * i / lifter)
    return basis


def delta_weights(n: int) -> np.ndarray:
    """Regression delta over +-n frames (HTK, openSMILE ``cDeltaRegression``):
    d_t = sum_k k (x_{t+k} - x_{t-k}) / (2 sum_k k^2), as weights on x_{t-n..t+n}."""
    k = np.arange(-n, n + 1, dtype=np.float64)
    return k / np.sum(k * k)


class CenteredFir:
    """A centred FIR filter along time (rows), with the first and last rows replicated
    beyond the edges (``mode='nearest'``), computed as rows arrive.

    Output row t needs input rows up to t + n (n = len(weights) // 2), so it comes out n
    rows late; :meth:`finish` emits the last n rows. Pushing rows in any split yields the
    same numbers as one push of all rows followed by :meth:`finish`.
    """

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.n = len(self.weights) // 2
        self._held: np.ndarray | None = None   # last 2n (padded) input rows

    def push(self, x: np.ndarray) -> np.ndarray:
        if self._held is None:
            if not len(x):
                return x
            self._held = np.repeat(x[:1], self.n, axis=0)
        padded = np.concatenate((self._held, x))
        self._held = padded[max(0, len(padded) - 2 * self.n):]
        return self._apply(padded)

    def finish(self) -> np.ndarray | None:
        """The last rows (right edge replicated); None when nothing was pushed. Resets."""
        if self._held is None:
            return None
        held, self._held = self._held, None
        return self._apply(np.concatenate((held, np.repeat(held[-1:], self.n, axis=0))))

    def _apply(self, padded: np.ndarray) -> np.ndarray:
        out_len = max(0, len(padded) - 2 * self.n)
        out = np.zeros((out_len, padded.shape[1]))
        for k, w in enumerate(self.weights):
            out += w * padded[k:k + out_len]
        return out


class DeltaStack:
    """Streaming ``[x, dx, d(dx), ...]`` up to ``order``, each delta by :func:`delta_weights`
    (n frames each side, edges replicated): a row comes out once its last delta is known,
    ``order * n`` rows after it went in."""

    def __init__(self, order: int, n: int = 2) -> None:
        self._filters = [CenteredFir(delta_weights(n)) for _ in range(order)]
        self._pending: list[np.ndarray] | None = None

    def push(self, x: np.ndarray) -> np.ndarray:
        levels = [x]
        for f in self._filters:
            levels.append(f.push(levels[-1]))
        return self._align(levels)

    def finish(self) -> np.ndarray | None:
        """The rows held back for look-ahead; None when nothing was pushed. Resets."""
        if self._pending is None:
            return None
        levels = [self._pending[0][:0]]
        for f in self._filters:
            tail = f.push(levels[-1])
            rest = f.finish()
            levels.append(tail if rest is None else np.concatenate((tail, rest)))
        out = self._align(levels)
        self._pending = None
        return out

    def _align(self, levels: list[np.ndarray]) -> np.ndarray:
        if self._pending is None:
            self._pending = [lv[:0] for lv in levels]
        pend = [np.concatenate((p, lv)) for p, lv in zip(self._pending, levels)]
        ready = min(len(p) for p in pend)
        self._pending = [p[ready:] for p in pend]
        return np.concatenate([p[:ready] for p in pend], axis=1)
