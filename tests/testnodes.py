"""Small nodes used by tests through ``module:Class`` plugin paths."""
from __future__ import annotations

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


class NeedsMissing(Node):
    """Pass frames through; needs a package that is not installed (validation test)."""

    inputs = ("audio",)
    outputs = ("audio",)

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        from streamser.node import missing_module
        return missing_module("streamser_no_such_package", "nothing", "testnodes:NeedsMissing")
