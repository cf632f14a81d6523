"""Small nodes used by tests through ``module:Class`` plugin paths."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params, Source


class SlowParams(Params):
    ms: float = Field(20.0, ge=0, description="Milliseconds to sleep per frame.")


class Slow(Node):
    """Pass audio through, sleeping a while per frame (a slow consumer)."""

    Params = SlowParams
    inputs = ("audio",)
    outputs = ("audio",)

    def process(self, frame: Frame) -> list[Frame]:
        time.sleep(self.params.ms / 1000)
        return [frame]


class Ticks(Source):
    """Emit three event frames."""

    outputs = ("event",)

    def frames(self) -> Iterator[Frame]:
        for i in range(3):
            yield Frame("event", np.zeros(0, np.float32), t=float(i), meta={"event": "tick"})


class Boom(Node):
    """Raise on the second frame."""

    inputs = ("audio",)
    outputs = ("audio",)

    def start(self) -> None:
        self.n = 0

    def process(self, frame: Frame) -> list[Frame]:
        self.n += 1
        if self.n == 2:
            raise ValueError("boom on frame 2")
        return [frame]


class JitterParams(Params):
    ms: float = Field(2.0, ge=0, description="Longest random sleep per frame, milliseconds.")
    every: int = Field(1, ge=1, description="Emit on every N-th frame only (0..2 frames).")


class Jitter(Node):
    """Pass audio on after a random sleep; on every ``every``-th frame only, and then once
    or twice (a node whose output count and timing vary)."""

    Params = JitterParams
    inputs = ("audio",)
    outputs = ("audio",)

    def start(self) -> None:
        self.n = 0
        self.rng = np.random.default_rng()

    def process(self, frame: Frame) -> list[Frame]:
        time.sleep(self.rng.uniform(0, self.params.ms) / 1000)
        self.n += 1
        if self.n % self.params.every:
            return []
        return [frame] * (1 + self.n % 2)


class Order(Node):
    """Fan-in that records the order it is handed frames in: each output is a vad frame
    [t, the first sample] of the input, so any reordering changes the output bytes."""

    inputs = ("audio",)
    outputs = ("vad",)

    def process(self, frame: Frame) -> list[Frame]:
        row = np.asarray([frame.t, frame.data[0] if frame.data.size else 0.0], np.float32)
        return [Frame("vad", row, t=frame.t, stream=frame.stream, meta={"hop": 1.0})]

    def flush(self) -> list[Frame]:
        return [Frame("vad", np.asarray([-1.0, -1.0], np.float32), meta={"hop": 1.0})]


class NeedsMissing(Node):
    """Pass frames through; needs a package that is not installed (validation test)."""

    inputs = ("audio",)
    outputs = ("audio",)

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        from streamser.node import missing_module
        return missing_module("streamser_no_such_package", "nothing", "testnodes:NeedsMissing")


class StallParams(Params):
    seconds: float = Field(2.0, gt=0, description="Seconds of audio produced, in real time, "
                                                  "before the source stalls.")


class Stall(Source):
    """Real-time silence for ``seconds``, then nothing (a hung device) until stopped."""

    Params = StallParams
    outputs = ("audio",)

    def start(self) -> None:
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        t0, n = time.monotonic(), 0
        while n * 0.1 < self.params.seconds and not self._closed.is_set():
            self._closed.wait(max(0.0, t0 + n * 0.1 - time.monotonic()))
            yield Frame("audio", np.zeros(1600, np.float32), t=n * 0.1, seq=n,
                        meta={"sample_rate": 16000})
            n += 1
        self._closed.wait()

    def close(self) -> None:
        self._closed.set()
