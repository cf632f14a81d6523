"""window.patch: cut feature rows into overlapping fixed-size patches (VGGish 96 x 64)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


class PatchParams(Params):
    frames: int = Field(96, ge=1, le=100000, description="Feature rows per patch (96 rows "
                                                         "of 10 ms = 0.96 s).")
    hop: int = Field(48, ge=1, le=100000, description="Rows between patch starts (48 = "
                                                      "0.48 s at 10 ms).")


@dataclass
class _Rows:
    """One stream's rows since its last gap: ``buf[0]`` is row ``base`` of the segment."""

    origin: float            # stream time of row 0 of the segment
    row_hop: float           # seconds between rows (the features' meta hop)
    dims: int
    buf: np.ndarray
    base: int = 0
    next_start: int = 0      # segment row index where the next patch starts
    seq: int = 0
    gap: bool = False        # still to be told downstream


class Patch(Node):
    """Cut feature rows into overlapping patches (VGGish: 96 rows every 48), per stream.

    A patch of ``frames`` rows starts every ``hop`` rows and is emitted as soon as its
    last row arrives: ``(frames, dims)`` float32, ``t`` = stream time of its first row,
    meta ``upto`` (of the features frame that completed it), ``hop`` (seconds between
    patch starts) and ``sample_rate``. N rows give ``1 + (N - frames) // hop`` patches
    (none when N < frames): trailing rows that never fill a patch are dropped, as VGGish
    does. A features frame with meta ``gap``, or a change of row hop or width, starts a
    new segment.
    """

    Params = PatchParams
    params: PatchParams
    inputs = ("features",)
    outputs = ("patch",)

    def start(self) -> None:
        self._streams: StreamStates[_Rows] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        rows = np.asarray(frame.data, dtype=np.float32)
        if rows.ndim != 2:
            raise ValueError(f"{self.name}: features must be (rows, dims), got {rows.shape}")
        row_hop = float(frame.meta["hop"])
        gap = bool(frame.meta.get("gap"))
        st = self._streams.get(frame.stream)
        if st is None or gap or st.row_hop != row_hop or st.dims != rows.shape[1]:
            st = _Rows(frame.t, row_hop, rows.shape[1], rows[:0], gap=gap)
            self._streams[frame.stream] = st
        st.buf = np.concatenate((st.buf, rows))
        size, hop = self.params.frames, self.params.hop
        out = []
        while st.next_start + size <= st.base + len(st.buf):
            first = st.next_start - st.base
            out.append(self._patch(st, frame, st.buf[first:first + size]))
            st.next_start += hop
        keep = st.next_start - st.base
        st.buf, st.base = st.buf[keep:], st.base + min(keep, len(st.buf))
        return out

    def _patch(self, st: _Rows, frame: Frame, rows: np.ndarray) -> Frame:
        meta = {"sample_rate": frame.meta.get("sample_rate"), "upto": frame.meta.get("upto"),
                "hop": self.params.hop * st.row_hop}
        if st.gap:
            meta["gap"], st.gap = True, False
        out = Frame("patch", rows, t=st.origin + st.next_start * st.row_hop,
                    seq=st.seq, stream=frame.stream, meta=meta)
        st.seq += 1
        return out
