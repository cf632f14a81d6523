"""sink.events: event frames as JSON lines, for the robot to tail."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

from pydantic import Field

from streamser.frames import Frame
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
        if self.params.path == "-":
            self._fh: IO[str] = sys.stdout
        else:
            Path(self.params.path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.params.path, "w")

    def process(self, frame: Frame) -> tuple[()]:
        self._fh.write(json.dumps(frame.meta) + "\n")
        self._fh.flush()
        return ()

    def stop(self) -> None:
        if getattr(self, "_fh", None) is not None and self.params.path != "-":
            self._fh.close()
