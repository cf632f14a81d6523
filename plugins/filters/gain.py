"""filter.gain: multiply audio by a constant gain."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params


class GainParams(Params):
    db: float = Field(0.0, ge=-120, le=60, description="Gain in dB (x * 10**(db/20), "
                                                       "computed in float32).")


class Gain(Node):
    """Scale audio by a gain in dB."""

    Params = GainParams
    inputs = ("audio",)
    outputs = ("audio",)
    params: GainParams

    def start(self) -> None:
        self._g = np.float32(10 ** (self.params.db / 20))

    def process(self, frame: Frame) -> list[Frame]:
        return [frame.derive(frame.data * self._g)]
