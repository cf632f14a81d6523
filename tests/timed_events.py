"""A scripted detector that notes when (wall clock) it emits each event, and emits cry
scores as it goes: for tests that time what a consumer shows against the emission."""
from __future__ import annotations

import time

import numpy as np

from ionodes_helpers import EventsAt
from streamser.frames import Frame

#: (event name, t) -> time.time() when it was emitted
EMITTED: dict[tuple[str, float], float] = {}


class TimedEvents(EventsAt):
    """EventsAt, plus a ``scores`` frame per audio frame (0.9 inside a cry, else 0.1)."""

    outputs = ("event", "scores")

    def process(self, frame: Frame) -> list[Frame]:
        events = super().process(frame)
        now = time.time()
        for e in events:
            EMITTED[(e.meta["event"], float(e.meta["t"]))] = now
            self._on = e.meta["event"] == "cry_start"
        upto = frame.t + len(frame.data) / frame.meta["sample_rate"]
        score = 0.9 if getattr(self, "_on", False) else 0.1
        return [*events, frame.derive(np.array([score], np.float32), kind="scores",
                                      labels=["cry"], upto=upto)]
