"""vad.silero: the Silero VAD model (ONNX, run with onnxruntime; no PyTorch).

Needs onnxruntime (a core dependency, also in the ``vad`` extra). The model,
``silero_vad.onnx`` from snakers4/silero-vad (MIT; notice in ``streamser/zoo/NOTICE``),
ships inside streamser.

Per stream the recurrent state ``(2, 1, 128)`` and the last 64 samples (32 at 8 kHz) of
context are kept; each step feeds ``context + 512 new samples`` (256 at 8 kHz), as the
model's own wrapper does, and gets the speech probability of those 32 ms. A frame turns
active at ``threshold`` and stays active until the probability falls below
``threshold - 0.15`` (the model authors' hysteresis).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from streamser.node import Params as NodeParams
from streamser.node import missing_module
from streamser.zoo import ZOO

from .base import VadNode, VadParams

CHUNK = {16000: 512, 8000: 256}
CONTEXT = {16000: 64, 8000: 32}


class SileroVadParams(VadParams):
    threshold: float = Field(0.5, gt=0.15, lt=1, description="Speech probability at which "
                             "a frame turns active (it turns inactive below threshold - 0.15).")
    highpass: float = Field(0.0, ge=0, le=2000, description="Cut-off in Hz of the FIR "
                            "high-pass the model listens through (0: off, the model is "
                            "robust to rumble).")


@dataclass
class SileroState:
    """Per-stream model state."""

    rate: int
    context: np.ndarray          # the last samples of the previous chunk, (1, 64 or 32)
    state: np.ndarray = field(default_factory=lambda: np.zeros((2, 1, 128), np.float32))
    speaking: bool = False


MODEL = ZOO / "silero_vad.onnx"


def model_path() -> Path:
    """The Silero VAD ONNX file bundled with streamser."""
    if not MODEL.is_file():
        raise RuntimeError(f"vad.silero: no model file at {MODEL} (reinstall streamser)")
    return MODEL


class SileroVad(VadNode):
    """Silero's neural VAD through onnxruntime (8/16 kHz; model bundled, MIT)."""

    Params = SileroVadParams
    params: SileroVadParams

    @classmethod
    def audio_rate(cls, params: NodeParams, rate: int | None) -> int | None:
        if rate and rate not in CHUNK:
            raise ValueError(f"takes 8 or 16 kHz audio, gets {rate} Hz (put a resample node "
                             "before it)")
        return rate

    @classmethod
    def requirements(cls, params: NodeParams) -> list[str]:
        missing = missing_module("onnxruntime", "vad", "vad.silero")
        if not MODEL.is_file():
            missing.append(f"vad.silero: no model file at {MODEL} (reinstall streamser)")
        return missing

    def start(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("vad.silero needs onnxruntime: pip install "
                               "'streamser[vad]'") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path()), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        super().start()

    def frame_size(self, rate: int) -> int:
        if rate not in CHUNK:
            raise ValueError(f"vad.silero takes 8 or 16 kHz audio, got {rate} Hz "
                             "(put a resample node before it)")
        return CHUNK[rate]

    def new_detector(self, rate: int) -> SileroState:
        return SileroState(rate, np.zeros((1, CONTEXT[rate]), np.float32))

    def detect(self, frames: np.ndarray, detector: SileroState) -> np.ndarray:
        st, on = detector, self.params.threshold
        sr = np.array(st.rate, np.int64)
        raw = np.empty(len(frames), bool)
        for i, chunk in enumerate(frames):
            x = np.concatenate((st.context, chunk[None, :]), axis=1)
            prob, st.state = self._session.run(None, {"input": x, "state": st.state, "sr": sr})
            st.context = x[:, -st.context.shape[1]:]
            p = float(prob[0, 0])
            st.speaking = p >= on or (st.speaking and p >= on - 0.15)
            raw[i] = st.speaking
        return raw
