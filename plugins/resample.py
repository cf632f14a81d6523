"""resample: streaming sample-rate conversion with soxr, per stream."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import soxr
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates

#: Param value -> soxr quality recipe.
QUALITIES = {"quick": "QQ", "low": "LQ", "medium": "MQ", "high": "HQ", "very_high": "VHQ"}


class ResampleParams(Params):
    rate: int = Field(16000, ge=1000, le=384000, description="Output sample rate (Hz).")
    quality: Literal["quick", "low", "medium", "high", "very_high"] = Field(
        "high", description="soxr quality: quick (QQ), low (LQ), medium (MQ), high (HQ), "
                            "very_high (VHQ).")


@dataclass
class _Segment:
    """One stream's resampler since its last gap (or rate change)."""

    resampler: soxr.ResampleStream
    in_rate: int
    origin: float            # stream time of the segment's first input sample
    produced: int = 0        # output samples emitted so far
    seq: int = 0
    upto: float = 0.0        # end of the last input consumed
    gap: bool = False        # still to be told downstream


class Resample(Node):
    """Resample audio to a fixed rate with soxr; streaming output equals offline soxr.

    Each stream keeps its own ``soxr.ResampleStream``; at end of stream (and before a
    gap or a change of input rate) the resampler's tail is flushed, so the concatenated
    output of a segment is exactly ``soxr.resample`` of that segment, whatever the block
    sizes. Output frame ``t`` = segment start + output samples so far / ``rate``; meta
    ``sample_rate`` is ``rate`` and ``upto`` the end of the input consumed. Audio already
    at ``rate`` passes through unchanged.
    """

    Params = ResampleParams
    params: ResampleParams
    inputs = ("audio",)
    outputs = ("audio",)

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        assert isinstance(params, ResampleParams)
        return params.rate

    def start(self) -> None:
        self._segments: StreamStates[_Segment] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        rate = int(frame.meta.get("sample_rate") or 0)
        if rate <= 0:
            raise ValueError(f"{self.name}: audio frame without a sample_rate")
        upto = frame.meta.get("upto", frame.t + len(frame.data) / rate)
        gap = bool(frame.meta.get("gap"))
        out: list[Frame] = []
        seg = self._segments.get(frame.stream)
        if seg is not None and (gap or seg.in_rate != rate):
            out = self._emit(frame.stream, self._segments.pop(frame.stream), last=True)
            seg = None
        if rate == self.params.rate:
            return out + [frame.derive(frame.data, upto=upto)]
        if seg is None:
            seg = _Segment(soxr.ResampleStream(rate, self.params.rate, 1, dtype="float32",
                                               quality=QUALITIES[self.params.quality]),
                           rate, origin=frame.t, gap=gap)
            self._segments[frame.stream] = seg
        seg.upto = upto
        return out + self._emit(frame.stream, seg, frame.data)

    def flush(self) -> list[Frame]:
        out = []
        for stream, seg in self._segments.items():
            out += self._emit(stream, seg, last=True)
        self._segments.clear()
        return out

    def _emit(self, stream: str, seg: _Segment, x: np.ndarray | None = None,
              last: bool = False) -> list[Frame]:
        x = np.zeros(0, np.float32) if x is None else np.asarray(x, dtype=np.float32)
        y = seg.resampler.resample_chunk(x, last=last)
        if not len(y):
            return []
        meta = {"sample_rate": self.params.rate, "upto": seg.upto}
        if seg.gap:
            meta["gap"], seg.gap = True, False
        out = Frame("audio", y, t=seg.origin + seg.produced / self.params.rate, seq=seg.seq,
                    stream=stream, meta=meta)
        seg.produced += len(y)
        seg.seq += 1
        return [out]
