"""features.spec256: M5's log power spectrogram, 129 bins, optionally standardized (F5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field, field_validator

from streamser.dsp.spectrum import periodic_hann, power_fs
from streamser.node import Params

from .base import FramedFeatures, StreamState

RATE, WIN, HOP, N_FFT, POWER_FLOOR = 16000, 320, 160, 256, 1e-10
BINS = N_FFT // 2 + 1


class Spec256Params(Params):
    stats: str | None = Field(None, description="Optional .npz with float arrays 'mean' and "
                              "'std' of shape (129,) (per-bin statistics of neutral speech in "
                              "the training set): output (log power - mean) / std.")

    @field_validator("stats")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_file():
            raise ValueError(f"no such file: {path}")
        return path


def load_stats(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) from a .npz without pickles; checks shapes and that std > 0."""
    with np.load(path, allow_pickle=False) as npz:
        if "mean" not in npz or "std" not in npz:
            raise ValueError(f"{path}: needs arrays 'mean' and 'std'")
        mean, std = (np.asarray(npz[k], dtype=np.float64) for k in ("mean", "std"))
    if mean.shape != (BINS,) or std.shape != (BINS,) or not np.all(std > 0):
        raise ValueError(f"{path}: 'mean' and 'std' must have shape ({BINS},), std > 0")
    return mean, std


class Spec256(FramedFeatures):
    """M5 spectrogram: 16 kHz, 20 ms periodic Hann, 10 ms hop, 256-point FFT, log power.

    Per frame: the 320-sample windowed frame is time-aliased to 256 samples (its two
    segments summed) before a 256-point rFFT: that is the frame's spectrum sampled at the
    129 frequencies ``k * 62.5 Hz`` (the same numbers as the even bins of a 512-point FFT).
    Power is scaled so a full-scale sine reads 1, and the output is
    ``ln(power + 1e-10)``, standardized per bin with ``stats`` when given.
    """

    Params = Spec256Params
    params: Spec256Params
    required_rate = RATE

    def start(self) -> None:
        super().start()
        self._window = periodic_hann(WIN)
        self._stats = load_stats(self.params.stats) if self.params.stats else None

    def window(self, sample_rate: int) -> tuple[int, int]:
        return WIN, HOP

    def compute(self, frames: np.ndarray, state: StreamState) -> np.ndarray:
        log_power = np.log(power_fs(frames, self._window, N_FFT) + POWER_FLOOR)
        if self._stats is None:
            return log_power
        mean, std = self._stats
        return (log_power - mean) / std
