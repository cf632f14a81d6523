"""Shared machinery of the frame-level feature nodes: per-stream framing and timing."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from streamser.dsp.framing import Framer
from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


@dataclass
class StreamState:
    """Everything a feature node keeps per stream; reset on a gap."""

    framer: Framer
    origin: float = 0.0          # stream time of sample 0 of this segment
    sample_rate: int = 0
    seq: int = 0
    emitted: int = 0             # rows emitted in this segment
    gap: bool = False            # the segment follows a gap; told downstream once
    extra: dict[str, Any] = field(default_factory=dict)  # subclass state (delta history...)


class FramedFeatures(Node):
    """Base class: cuts audio into ``win``/``hop`` frames per stream and calls
    :meth:`compute` on every batch of complete frames.

    Output frames have kind ``features``, data ``(n, dims)`` float32, ``t`` = stream time
    of the first row's first sample, and meta ``sample_rate``, ``hop`` and ``win`` (s),
    ``upto`` (stream time just after the last audio sample consumed) and ``names``
    when the columns have names. A frame with ``meta["gap"]`` starts a new segment: state
    resets and times restart from that frame's ``t``.
    """

    inputs = ("audio",)
    outputs = ("features",)
    #: Input rate the definition requires (None: any rate, win/hop scale with it).
    required_rate: ClassVar[int | None] = None

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        if cls.required_rate and rate and rate != cls.required_rate:
            raise ValueError(f"needs {cls.required_rate} Hz audio, gets {rate} Hz (put a "
                             "resample node before it)")
        return None                           # emits features, not audio

    def window(self, sample_rate: int) -> tuple[int, int]:
        """(win, hop) in samples at this rate."""
        raise NotImplementedError

    def compute(self, frames: np.ndarray, state: StreamState) -> np.ndarray:
        """(n, win) float32 frames -> (n, dims) features (n may be 0)."""
        raise NotImplementedError

    def finish(self, state: StreamState) -> np.ndarray | None:
        """Rows still held back at end of stream (for features with look-ahead)."""
        return None

    def column_names(self) -> list[str] | None:
        return None

    def start(self) -> None:
        self._streams: StreamStates[StreamState] = self.stream_states()

    def _segment(self, frame: Frame) -> tuple[StreamState, list[Frame]]:
        """This stream's state; a gap or rate change starts a new segment, and the old
        segment's held-back rows are emitted first."""
        rate = int(frame.meta.get("sample_rate") or 0)
        if self.required_rate and rate != self.required_rate:
            raise ValueError(f"{self.name}: needs {self.required_rate} Hz audio, got {rate} Hz "
                             "(put a resample node before it)")
        st = self._streams.get(frame.stream)
        if st is not None and not frame.meta.get("gap") and st.sample_rate == rate:
            return st, []
        tail = self._tail(frame.stream, st) if st is not None else []
        win, hop = self.window(rate)
        new = StreamState(Framer(win, hop), origin=frame.t, sample_rate=rate,
                          seq=st.seq if st is not None else 0)
        new.gap = bool(frame.meta.get("gap"))
        self._streams[frame.stream] = new
        return new, tail

    def _tail(self, stream: str, st: StreamState) -> list[Frame]:
        rows = self.finish(st)
        if rows is None or not len(rows):
            return []
        st.emitted += len(rows)
        return [self._frame(st, rows, st.emitted - len(rows), stream)]

    def _frame(self, st: StreamState, rows: np.ndarray, first: int, stream: str) -> Frame:
        win, hop = st.framer.win, st.framer.hop
        meta: dict[str, Any] = {"sample_rate": st.sample_rate, "hop": hop / st.sample_rate,
                                "win": win / st.sample_rate,
                                "upto": st.origin + st.framer.consumed / st.sample_rate}
        names = self.column_names()
        if names:
            meta["names"] = names
        if st.gap:
            meta["gap"], st.gap = True, False
        out = Frame("features", np.ascontiguousarray(rows, dtype=np.float32),
                    t=st.origin + first * hop / st.sample_rate, seq=st.seq, stream=stream,
                    meta=meta)
        st.seq += 1
        return out

    def process(self, frame: Frame) -> list[Frame]:
        st, out = self._segment(frame)
        rows = self.compute(st.framer.push(frame.data), st)
        if len(rows):
            st.emitted += len(rows)
            out.append(self._frame(st, rows, st.emitted - len(rows), frame.stream))
        return out

    def flush(self) -> list[Frame]:
        return [f for stream, st in self._streams.items() for f in self._tail(stream, st)]
