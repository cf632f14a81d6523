"""features.logmel40: 40-band log-mel scaled to [0, 1] by a fixed dB range (F2, for M3)."""
from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from streamser.dsp.mel import Filterbank, mel_matrix
from streamser.dsp.spectrum import periodic_hann, power_fs
from streamser.node import Params

from .base import FramedFeatures, StreamState

RATE, WIN, HOP, N_FFT = 16000, 400, 160, 512
N_MELS, FMIN, FMAX, POWER_FLOOR = 40, 20.0, 8000.0, 1e-10


class LogMel40Params(Params):
    floor_db: float = Field(-100.0, ge=-200, le=50, description="Band level (dBFS) mapped "
                            "to 0; lower levels clip to 0.")
    ceil_db: float = Field(0.0, ge=-150, le=100, description="Band level (dBFS) mapped to "
                           "1; higher levels clip to 1.")

    @model_validator(mode="after")
    def _ordered(self) -> LogMel40Params:
        if self.ceil_db <= self.floor_db:
            raise ValueError("ceil_db must be above floor_db")
        return self


class LogMel40(FramedFeatures):
    """40-band log-mel (16 kHz, 25 ms / 10 ms), dBFS mapped from floor_db..ceil_db to 0..1.

    Per frame: power spectrum of the periodic-Hann-windowed 400-sample frame (512-point
    rFFT), scaled so a full-scale sine reads 0 dBFS in its bin; 40 HTK mel bands
    20-8000 Hz (the VGGish/HTK filterbank of :mod:`streamser.dsp.mel`); level
    ``10 log10(band + 1e-10)``; then ``clip((level - floor_db) / (ceil_db - floor_db),
    0, 1)``. The mapping is fixed (not per-utterance min/max), so streaming and offline
    give the same numbers and a frame's value never depends on audio not yet heard.
    """

    Params = LogMel40Params
    params: LogMel40Params
    required_rate = RATE

    def start(self) -> None:
        super().start()
        self._window = periodic_hann(WIN)
        self._mel = Filterbank(mel_matrix(N_MELS, N_FFT, RATE, FMIN, FMAX))

    def window(self, sample_rate: int) -> tuple[int, int]:
        return WIN, HOP

    def compute(self, frames: np.ndarray, state: StreamState) -> np.ndarray:
        power = self._mel(power_fs(frames, self._window, N_FFT))
        level = 10 * np.log10(power + POWER_FLOOR)
        lo, hi = self.params.floor_db, self.params.ceil_db
        return np.clip((level - lo) / (hi - lo), 0.0, 1.0)
