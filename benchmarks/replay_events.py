"""A node that replays recorded events at their ``emitted_at``, as the detector sent them
(benchmarks: what a node downstream of the detector costs, without the detector)."""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params


class ReplayParams(Params):
    events: list[dict[str, Any]] = Field(description="Event objects, in emitted_at order.")


class Replay(Node):
    """Emit each event once the audio up to its ``emitted_at`` has arrived."""

    Params = ReplayParams
    inputs = ("audio",)
    outputs = ("event",)
    params: ReplayParams

    def start(self) -> None:
        self._next = 0

    def process(self, frame: Frame) -> list[Frame]:
        upto = frame.t + len(frame.data) / frame.meta["sample_rate"]
        events, out = self.params.events, []
        while self._next < len(events) and events[self._next]["emitted_at"] <= upto:
            e = {"stream": frame.stream, **events[self._next]}
            out.append(Frame("event", np.zeros(0, np.float32), t=float(e["t"]),
                             stream=frame.stream, meta=e))
            self._next += 1
        return out
