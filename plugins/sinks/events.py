"""sink.events: event frames as JSON lines, for the robot to tail."""
from __future__ import annotations

from pydantic import Field

from streamser.frames import Frame
from streamser.jsonlines import LineWriter, strict_dumps
from streamser.node import Node, Params


class EventsParams(Params):
    path: str = Field(description="Output file ('-' for standard output); `streamser run "
                                  "--events FILE` sets it.")


class EventsSink(Node):
    """Write each event (the event frame's meta) as one JSON line, flushed at once."""

    Params = EventsParams
    inputs = ("event",)
    params: EventsParams

    def start(self) -> None:
        self._out = LineWriter(self.params.path)

    def process(self, frame: Frame) -> tuple[()]:
        """Strict JSON (no NaN), each line written whole or not at all."""
        self._out.write(strict_dumps(frame.meta))
        return ()

    def stop(self) -> None:
        if getattr(self, "_out", None) is not None:
            self._out.close()
