"""sink.console: a one-line human summary per frame on standard error."""
from __future__ import annotations

import json
import sys

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params


class ConsoleParams(Params):
    every: int = Field(1, ge=1, description="Print one frame in every N (events always).")


class ConsoleSink(Node):
    """Print a one-line summary of frames (kind, time, shape, level) to the terminal."""

    Params = ConsoleParams
    params: ConsoleParams

    def start(self) -> None:
        self._n = 0

    def process(self, frame: Frame) -> tuple[()]:
        self._n += 1
        if frame.kind == "event" or (self._n - 1) % self.params.every == 0:
            print(self.format(frame), file=sys.stderr, flush=True)
        return ()

    @staticmethod
    def format(frame: Frame) -> str:
        head = f"[{frame.stream} {frame.t:9.3f}s] {frame.kind:<8}"
        if frame.kind == "event":
            return f"{head} {json.dumps(frame.meta)}"
        x = np.asarray(frame.data, dtype=np.float64)
        if frame.kind == "audio" and x.size:
            rms = float(np.sqrt(np.mean(x * x)))
            level = f"{20 * np.log10(rms):6.1f} dBFS" if rms > 0 else "  -inf dBFS"
            return f"{head} {x.size:6d} samples {level}"
        return f"{head} shape={tuple(frame.data.shape)}"
