"""vad.webrtc: the WebRTC voice activity detector (GMM on sub-band energies).

Needs the ``vad`` extra (``pip install 'streamser[vad]'``, which brings webrtcvad-wheels).
It takes 10, 20 or 30 ms frames of 8, 16, 32 or 48 kHz audio; put a ``resample`` node
before it for other rates. One detector per stream (it adapts to the stream's noise).
Its decisions depend on the absolute level: a loud stationary noise (rumble at -18 dBFS)
reads as speech, which the base class's high-pass mostly removes.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from streamser.node import Params as NodeParams
from streamser.node import missing_module

from .base import VadNode, VadParams

RATES = (8000, 16000, 32000, 48000)


class WebrtcVadParams(VadParams):
    aggressiveness: int = Field(3, ge=0, le=3, description="0 (keeps most audio) to 3 "
                                "(drops most non-speech).")
    frame_ms: Literal[10, 20, 30] = Field(30, description="VAD frame length in ms.")


class WebrtcVad(VadNode):
    """WebRTC's GMM voice activity detector (8/16/32/48 kHz; needs the `vad` extra)."""

    Params = WebrtcVadParams
    params: WebrtcVadParams

    @classmethod
    def audio_rate(cls, params: NodeParams, rate: int | None) -> int | None:
        if rate and rate not in RATES:
            raise ValueError(f"takes 8/16/32/48 kHz audio, gets {rate} Hz (put a resample "
                             "node before it)")
        return rate

    @classmethod
    def requirements(cls, params: NodeParams) -> list[str]:
        return missing_module("webrtcvad", "vad", "vad.webrtc")

    def start(self) -> None:
        try:
            import webrtcvad
        except ImportError:
            raise RuntimeError("vad.webrtc needs webrtcvad-wheels: pip install "
                               "'streamser[vad]'") from None
        self._make = webrtcvad.Vad
        super().start()

    def frame_size(self, rate: int) -> int:
        if rate not in RATES:
            raise ValueError(f"vad.webrtc takes 8/16/32/48 kHz audio, got {rate} Hz "
                             "(put a resample node before it)")
        return rate * self.params.frame_ms // 1000

    def new_detector(self, rate: int) -> tuple[Any, int]:
        return self._make(self.params.aggressiveness), rate

    def detect(self, frames: np.ndarray, detector: tuple[Any, int]) -> np.ndarray:
        vad, rate = detector
        pcm = (np.clip(frames, -1, 32767 / 32768) * 32768).astype("<i2")
        return np.array([vad.is_speech(row.tobytes(), rate) for row in pcm], bool)
