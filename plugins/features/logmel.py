"""features.logmel: the VGGish log-mel front-end (F1)."""
from __future__ import annotations

import numpy as np

from streamser.dsp.mel import Filterbank, mel_matrix
from streamser.dsp.spectrum import periodic_hann, rfft_frames

from .base import FramedFeatures, StreamState

RATE, WIN, HOP, N_FFT = 16000, 400, 160, 512
N_MELS, FMIN, FMAX, LOG_OFFSET = 64, 125.0, 7500.0, 0.01


class LogMel(FramedFeatures):
    """VGGish log-mel: 16 kHz, 25 ms periodic Hann, 10 ms hop, 64 HTK mel bands, log(mel+0.01).

    Per frame: ``|rfft(frame * hann, 512)|`` (magnitude, not power), the VGGish mel
    matrix (64 bands, 125-7500 Hz, see :mod:`streamser.dsp.mel`), then
    ``log(mel + 0.01)``. Frames are VGGish's: ``[k*160, k*160 + 400)``, no centring or
    padding. No params: the definition is fixed so that models trained on it stay valid.
    """

    required_rate = RATE

    def start(self) -> None:
        super().start()
        self._window = periodic_hann(WIN)
        self._mel = Filterbank(mel_matrix(N_MELS, N_FFT, RATE, FMIN, FMAX))

    def window(self, sample_rate: int) -> tuple[int, int]:
        return WIN, HOP

    def compute(self, frames: np.ndarray, state: StreamState) -> np.ndarray:
        spectrum = rfft_frames(frames, self._window, N_FFT)
        magnitude = np.sqrt(spectrum.real ** 2 + spectrum.imag ** 2)  # cheaper than hypot
        return np.log(self._mel(magnitude) + LOG_OFFSET)
