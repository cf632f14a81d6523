"""vad.energy: frame energy against an adaptive noise floor (pure numpy, MCU-portable).

Per VAD frame of N samples (after the base class's rumble high-pass), in this order::

    e = 10 * log10(sum(x[i]^2) / N + 1e-10)        # N multiply-adds, one log10
    if e < floor:  floor += fall * (e - floor)      # falls fast towards quieter frames
    else:          floor = min(floor + rise, e)     # rises slowly, never above e
    raw = e > floor + threshold_db  and  e > min_db

``floor`` starts at the first frame's energy. ``rise`` = ``floor_rise`` dB/s times the
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
    """Per-stream state: the noise floor in dB (None before the first frame)."""

    db: float | None = None


class EnergyVad(VadNode):
    """Energy above an adaptive noise floor, with hangover: the simplest, MCU-portable VAD."""

    Params = EnergyVadParams
    params: EnergyVadParams

    def frame_size(self, rate: int) -> int:
        if rate <= 0:
            raise ValueError("needs meta sample_rate on its audio")
        return max(1, round(rate * self.params.frame_ms / 1000))

    def new_detector(self, rate: int) -> Floor:
        return Floor()

    def detect(self, frames: np.ndarray, detector: Floor) -> np.ndarray:
        p = self.params
        seconds = p.frame_ms / 1000
        rise, fall = p.floor_rise * seconds, 1 - math.exp(-seconds / p.floor_fall)
        energy = 10 * np.log10(np.einsum("ij,ij->i", frames, frames) / frames.shape[1] + 1e-10)
        raw = np.empty(len(energy), bool)
        floor = energy[0] if detector.db is None else detector.db
        for i, e in enumerate(energy.tolist()):
            floor = floor + fall * (e - floor) if e < floor else min(floor + rise, e)
            raw[i] = e > floor + p.threshold_db and e > p.min_db
        detector.db = float(floor)
        return raw
