"""source.synth: test signals generated on the fly (no data files needed)."""
from __future__ import annotations

import math
from typing import Iterator, Literal

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Params, Source


class SynthParams(Params):
    signal: Literal["sine", "noise", "silence"] = Field(
        "sine", description="What to generate: sine, white noise or silence.")
    freq: float = Field(440.0, gt=0, le=96000, description="Sine frequency in Hz.")
    level_db: float = Field(-20.0, ge=-120, le=0, description="Peak (sine) or RMS (noise) "
                                                              "level in dBFS.")
    sample_rate: int = Field(16000, ge=1000, le=384000, description="Samples per second.")
    block: int = Field(1024, ge=1, le=1 << 22, description="Samples per frame.")
    duration: float | None = Field(None, gt=0, description="Seconds to generate; endless "
                                                           "when unset.")
    realtime: bool = Field(False, description="Pace frames in real time (a live source).")
    seed: int = Field(0, ge=0, description="Noise seed (the same seed gives the same noise).")
    stream: str = Field("default", min_length=1, description="Stream id put on every frame.")


class SynthSource(Source):
    """Generate a sine, white noise or silence; endless unless a duration is given."""

    Params = SynthParams
    outputs = ("audio",)
    params: SynthParams

    def length(self) -> float | None:
        return self.params.duration

    def frames(self) -> Iterator[Frame]:
        p = self.params
        rate, amp = p.sample_rate, 10 ** (p.level_db / 20)
        total = math.inf if p.duration is None else round(p.duration * rate)
        rng = np.random.default_rng(p.seed)
        meta = {"sample_rate": rate}
        pos, seq = 0, 0
        while pos < total:
            n = int(min(p.block, total - pos))
            if p.signal == "sine":
                phase = (np.arange(pos, pos + n, dtype=np.int64) * p.freq % rate) / rate
                x = (amp * np.sin(2 * np.pi * phase)).astype(np.float32)
            elif p.signal == "noise":
                x = (amp * rng.standard_normal(n)).astype(np.float32)
            else:
                x = np.zeros(n, np.float32)
            yield Frame("audio", x, t=pos / rate, seq=seq, stream=p.stream, meta=meta)
            pos += n
            seq += 1
