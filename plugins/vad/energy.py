"""vad.energy: frame energy against an adaptive noise floor (pure numpy, MCU-portable).

Per VAD frame of N samples, in this order::

    e = 10 * log10(sum(x_hp[i]^2) / N + 1e-10)     # energy above ``highpass`` Hz
    if e < floor:  floor += fall * (e - floor)      # falls fast towards quieter frames
    else:          floor = min(floor + rise, e)     # rises slowly, never above e
    raw = e > floor + threshold_db  and  e > min_db

``x_hp`` is the frame high-passed at ``highpass`` Hz: here by Parseval, summing the
Hann-windowed frame's FFT power over the bins at or above the cut-off (a brick-wall
high-pass whose window keeps rumble from leaking above the cut; cheaper than the shared
FIR, which the other VADs need because they take waveforms). ``floor`` starts at the first frame's energy. ``rise`` = ``floor_rise`` dB/s times the
frame duration; ``fall`` = ``1 - exp(-frame / floor_fall)``. On a microcontroller the
high-pass is one biquad (5 multiply-adds per sample) and the log10 can be an integer
log2 (a count of leading zeros plus a 16-entry table; 1/8 dB steps are plenty), so the
whole detector is a few multiply-adds per sample and a dozen operations per frame. The
hangover (base class) is one counter.

The floor follows the quiet parts between sounds, so the detector answers "louder than
the room has lately been" rather than "speech": a stationary noise of any level reads
as inactive, any onset that stands ``threshold_db`` above the room reads as active.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from .base import VadNode, VadParams


class EnergyVadParams(VadParams):
    frame_ms: int = Field(20, ge=5, le=100, description="VAD frame length in ms.")
    threshold_db: float = Field(9.0, ge=0, le=60, description="Active when the frame energy "
                                "is this many dB above the noise floor.")
    min_db: float = Field(-60.0, ge=-120, le=0, description="Frames quieter than this "
                          "(dBFS, after the high-pass) are never active.")
    floor_rise: float = Field(3.0, gt=0, le=100, description="How fast the noise floor may "
                              "rise, dB per second.")
    floor_fall: float = Field(0.05, gt=0, le=10, description="Time constant in seconds with "
                              "which the floor falls to quieter frames.")


@dataclass
class Floor:
    """Per-stream state: the noise floor in dB (None before the first frame), and the
    Parseval weights of the FFT bins that count (0 below the high-pass cut-off)."""

    window: np.ndarray
    weights: np.ndarray
    db: float | None = None


class EnergyVad(VadNode):
    """Energy above an adaptive noise floor, with hangover: the simplest, MCU-portable VAD."""

    Params = EnergyVadParams
    params: EnergyVadParams

    def frame_size(self, rate: int) -> int:
        if rate <= 0:
            raise ValueError("needs meta sample_rate on its audio")
        return max(1, round(rate * self.params.frame_ms / 1000))

    own_highpass = True

    def new_detector(self, rate: int) -> Floor:
        size = self.frame_size(rate)
        freqs = np.fft.rfftfreq(size, 1 / rate)
        weights = np.where(freqs >= self.params.highpass, 2.0, 0.0)
        weights[0] = min(weights[0], 1.0)          # DC and Nyquist appear once in rfft
        if size % 2 == 0:
            weights[-1] = min(weights[-1], 1.0)
        window = np.hanning(size + 2)[1:-1]        # low leakage: rumble stays below the cut
        return Floor(window, weights / (size * np.sum(window**2)))  # sum(w |X|^2) = mean sq

    def detect(self, frames: np.ndarray, detector: Floor) -> np.ndarray:
        p = self.params
        seconds = p.frame_ms / 1000
        rise, fall = p.floor_rise * seconds, 1 - math.exp(-seconds / p.floor_fall)
        spectrum = np.fft.rfft(frames * detector.window, axis=1)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        energy = (10 * np.log10(np.einsum("nk,k->n", power, detector.weights) + 1e-10)).tolist()
        floor = energy[0] if detector.db is None else detector.db
        raw = []
        for e in energy:
            floor = floor + fall * (e - floor) if e < floor else min(floor + rise, e)
            raw.append(e > floor + p.threshold_db and e > p.min_db)
        detector.db = float(floor)
        return np.array(raw, bool)
