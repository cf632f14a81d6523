"""Test nodes for the I/O plugins, used through ``module:Class`` plugin paths."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params


def event_frame(name: str, t: float, emitted_at: float, stream: str = "default",
                **extra: object) -> Frame:
    meta = {"event": name, "stream": stream, "t": t, "emitted_at": emitted_at, **extra}
    return Frame("event", np.zeros(0, np.float32), t=t, stream=stream, meta=meta)


class EventsAtParams(Params):
    events: list[tuple[str, float]] = Field(description="(name, t) pairs, in time order.")
    delay: float = Field(0.5, ge=0, description="Detection latency: an event is emitted once "
                                                "audio up to t + delay has arrived.")


class EventsAt(Node):
    """Emit scripted events as a detector would: late, with t and emitted_at."""

    Params = EventsAtParams
    inputs = ("audio",)
    outputs = ("event",)
    params: EventsAtParams

    def start(self) -> None:
        self._pending = list(self.params.events)

    def process(self, frame: Frame) -> list[Frame]:
        upto = frame.t + len(frame.data) / frame.meta["sample_rate"]
        out = []
        while self._pending and self._pending[0][1] + self.params.delay <= upto:
            name, t = self._pending.pop(0)
            out.append(event_frame(name, t, upto, frame.stream))
        return out


class Annotate(Node):
    """Mark audio with a VAD flag, and add class scores and an event per frame."""

    inputs = ("audio",)
    outputs = ("audio", "scores", "event")

    def process(self, frame: Frame) -> list[Frame]:
        upto = frame.t + len(frame.data) / frame.meta["sample_rate"]
        scores = frame.derive(np.array([0.75, 0.25], np.float32), kind="scores",
                              labels=["cry", "laugh"], upto=upto)
        return [frame.derive(frame.data, vad=float(frame.seq % 2 == 0)), scores,
                event_frame("cry_start", frame.t, upto, frame.stream, score=0.75)]
