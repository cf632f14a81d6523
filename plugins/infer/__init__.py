"""infer: run an exported model (ONNX, TFLite, or a checkpoint) on features or patches.

The model file's metadata says everything (labels, normalization, step or window, state
shapes): a stateful model takes one feature row (or patch) per step and keeps its
recurrent state per stream, reset on a stream gap; a window model takes one patch of
exactly its window length per call. Emits ``scores`` frames (class probabilities, meta
``labels``, ``upto``, ``hop``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params

from .backends import Backend, open_backend


class InferParams(Params):
    model: str = Field(description="Model file (.onnx, .tflite, .pt) or bundled model name "
                                   "(its int8 TFLite build is preferred).")
    build: str | None = Field(None, description="For a bundled model: which build, e.g. "
                                                "'.onnx' or '.int8.tflite' (default: the "
                                                "first of .int8.tflite, .int8.onnx, .onnx).")
    backend: Literal["auto", "onnx", "tflite", "torch"] = Field(
        "auto", description="Runtime; auto picks by file suffix.")
    every: int = Field(1, ge=1, le=10000, description="Stateful models: emit scores every "
                                                      "N steps (every step is still run).")
    threads: int = Field(1, ge=1, le=64, description="Backend threads.")


@dataclass
class _Stream:
    states: list[np.ndarray]
    steps: int = 0
    seq: int = 0
    gap: bool = False


class Infer(Node):
    """Model inference (ONNX / TFLite / checkpoint) on features or patches -> scores."""

    Params = InferParams
    inputs = ("features", "patch")
    outputs = ("scores",)
    params: InferParams

    def start(self) -> None:
        from streamser.zoo import artifact
        path = artifact(self.params.model, self.params.build)
        self.backend: Backend = open_backend(path, self.params.backend,
                                             self.params.threads)
        self.contract = self.backend.contract
        self._streams: dict[str, _Stream] = {}

    def _stream(self, frame: Frame) -> _Stream:
        st = self._streams.get(frame.stream)
        if st is None or frame.meta.get("gap"):
            st = _Stream(self.contract.initial_states(1), seq=st.seq if st else 0,
                         gap=bool(frame.meta.get("gap")))
            self._streams[frame.stream] = st
        return st

    def _check(self, data: np.ndarray, expected: tuple[int, ...]) -> None:
        if tuple(data.shape) != expected:
            feats = "+".join(f["plugin"] for f in self.contract.raw["frontend"]["features"])
            raise ValueError(f"{self.name}: model {self.contract.name} expects inputs of shape "
                             f"{list(expected)} (front-end {feats}), got {list(data.shape)}")

    def process(self, frame: Frame) -> list[Frame]:
        st = self._stream(frame)
        c = self.contract
        hop = float(frame.meta.get("hop", 0.01))
        if c.mode == "window" or len(c.x_shape) > 1:          # one call per patch
            self._check(frame.data, c.x_shape)
            steps = [(frame.data, frame.t, frame.meta.get("upto", frame.t))]
            out_hop = hop                                        # window.patch: patch hop
        else:                                                   # one call per feature row
            if frame.data.ndim != 2:
                raise ValueError(f"{self.name}: expects (rows, dims) features")
            self._check(frame.data[:1], (1, *c.x_shape))
            win = float(frame.meta.get("win", hop))
            steps = [(row, frame.t + i * hop, frame.t + i * hop + win)
                     for i, row in enumerate(frame.data)]
            out_hop = hop * self.params.every
        out = []
        for x, t, upto in steps:
            probs, st.states = self.backend.run(c.normalize(x)[None], st.states)
            st.steps += 1
            if c.stateful and st.steps % self.params.every:
                continue
            meta = {"labels": list(c.labels), "upto": float(upto), "hop": out_hop,
                    "model": c.name}
            if st.gap:
                meta["gap"], st.gap = True, False
            out.append(Frame("scores", probs[0].astype(np.float32), t=float(t), seq=st.seq,
                             stream=frame.stream, meta=meta))
            st.seq += 1
        return out
