"""describe.cry: put measurements of the cry on ``cry_update`` and ``cry_end`` events.

Input the audio and the events (``input: [mic, smooth]``): every event passes through,
and ``<event>_update`` / ``<event>_end`` leave with ``loudness_db``, ``above_noise_db``,
``f0_hz``, ``voiced``, ``units``, ``intensity`` and ``trend`` added (their definitions:
:mod:`streamser.dsp.crydesc`). The node keeps the last seconds of audio, so it measures
the room before the cry and the cry from its ``t`` although the detector confirms it
later; frames are analysed only while a cry is on. Fan-in hands the node an epoch's audio
before its events (``input`` order), so an event finds the audio up to its
``emitted_at``: every executor gives the same numbers.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, model_validator

from streamser.dsp.crydesc import CryFrames, Settings, frame_length, history, room_level
from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates

#: Unanalysed audio of an open cry that triggers analysis (seconds): calls stay few.
ANALYSE_EVERY_S = 1.0


class DescribeParams(Params):
    event: str = Field("cry", min_length=1, description="Event name prefix: describes "
                       "<event>_update and <event>_end (<event>_start opens the cry).")
    noise_window: float = Field(10.0, gt=0, le=600, description="Seconds before the cry "
                                "whose level is the room's (20th percentile of frames).")
    window: float = Field(10.0, gt=0, le=600, description="Seconds of the cry, up to the "
                          "event, that intensity and trend look at.")
    trend_db: float = Field(3.0, gt=0, le=60, description="Level change across the window "
                            "(dB, fitted line) that counts as rising or falling.")
    quiet_db: float = Field(-60.0, ge=-120, le=0, description="Level (dBFS) of intensity 0.")
    loud_db: float = Field(-10.0, ge=-120, le=0, description="Level (dBFS) of intensity 1.")
    f0_min: float = Field(150.0, ge=50, le=2000, description="Lowest F0 searched (Hz).")
    f0_max: float = Field(1000.0, ge=100, le=4000, description="Highest F0 searched (Hz).")
    voicing: float = Field(0.6, gt=0, lt=1, description="Periodicity a voiced frame reaches.")
    max_delay: float = Field(10.0, ge=0, le=120, description="Longest lag of an event's t "
                             "behind the newest audio (detection latency plus queues); "
                             "audio is kept this long beyond the noise window.")

    @model_validator(mode="after")
    def _order(self) -> DescribeParams:
        if self.loud_db <= self.quiet_db:
            raise ValueError(f"loud_db ({self.loud_db}) must exceed quiet_db "
                             f"({self.quiet_db})")
        if self.f0_max <= self.f0_min:
            raise ValueError(f"f0_max ({self.f0_max}) must exceed f0_min ({self.f0_min})")
        return self


@dataclass
class _Cry:
    start: int  # sample index of the cry's t
    room_db: float | None  # the room's level before it
    frames: CryFrames
    cursor: int  # sample index of the next frame to analyse


@dataclass
class _Stream:
    rate: int
    chunks: deque[tuple[int, np.ndarray]] = field(default_factory=deque)  # (first sample, x)
    end: int = 0  # sample index just after the newest audio
    cry: _Cry | None = None

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) that are still held (what came before the oldest held is lost)."""
        parts = [x[max(0, a - s):max(0, b - s)] for s, x in self.chunks
                 if s < b and s + len(x) > a]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def held_from(self) -> int:
        return self.chunks[0][0] if self.chunks else self.end


class DescribeCry(Node):
    """Measure each cry (loudness, F0, voicing, bursts, intensity, trend) onto its events."""

    Params = DescribeParams
    inputs = ("audio", "event")
    outputs = ("event",)
    params: DescribeParams

    def start(self) -> None:
        p = self.params
        self._settings = Settings(f0_min=p.f0_min, f0_max=p.f0_max, voicing=p.voicing,
                                  window=p.window, trend_db=p.trend_db, quiet_db=p.quiet_db,
                                  loud_db=p.loud_db)
        self._streams: StreamStates[_Stream] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        if frame.kind == "audio":
            self._audio(frame)
            return []
        return [self._event(frame)]

    def _audio(self, frame: Frame) -> None:
        rate = int(frame.meta["sample_rate"])
        st = self._streams.get(frame.stream)
        if st is None or st.rate != rate or frame.meta.get("gap"):
            cry = st.cry if st is not None and st.rate == rate else None
            st = self._streams[frame.stream] = _Stream(rate, cry=cry)
        first = round(frame.t * rate)
        st.chunks.append((first, frame.data))
        st.end = first + len(frame.data)
        if st.cry is not None:
            st.cry.cursor = max(st.cry.cursor, st.held_from())  # after a gap
            if st.end - st.cry.cursor >= ANALYSE_EVERY_S * rate:
                self._analyse(st, st.end)
        keep = round((self.params.noise_window + self.params.max_delay) * rate)
        oldest = min(st.end - keep, st.cry.cursor - history(rate) if st.cry is not None
                     else st.end)
        while st.chunks and st.chunks[0][0] + len(st.chunks[0][1]) <= oldest:
            st.chunks.popleft()

    def _event(self, frame: Frame) -> Frame:
        event, prefix = frame.meta, self.params.event
        name = event.get("event")
        st = self._streams.get(frame.stream)
        if st is None or name not in (f"{prefix}_start", f"{prefix}_update", f"{prefix}_end"):
            return frame
        start = event.get("t") if name == f"{prefix}_start" else event.get("start")
        if not isinstance(start, (int, float)):  # no start given: the cry that is open
            if st.cry is None:
                return frame
            start = st.cry.start / st.rate
        if st.cry is None or name == f"{prefix}_start" or st.cry.start != round(start * st.rate):
            st.cry = self._open(st, float(start))
        if name == f"{prefix}_start":
            return frame
        until = float(event["t"] if name == f"{prefix}_end" else event.get("emitted_at",
                                                                             event["t"]))
        self._analyse(st, min(st.end, round(until * st.rate)))
        described = {**event, **st.cry.frames.describe(until)}
        if name == f"{prefix}_end":
            st.cry = None
        return Frame("event", frame.data, t=frame.t, seq=frame.seq, stream=frame.stream,
                     meta=described)

    def _open(self, st: _Stream, t: float) -> _Cry:
        start = round(t * st.rate)
        before = st.read(start - round(self.params.noise_window * st.rate), start)
        cursor = max(start, st.held_from())
        room = room_level(before, st.rate)
        return _Cry(start, room, CryFrames(st.rate, self._settings, room), cursor)

    def _analyse(self, st: _Stream, upto: int) -> None:
        """Analyse the whole frames of the open cry between its cursor and ``upto``."""
        cry = st.cry
        assert cry is not None
        if upto - cry.cursor < frame_length(st.rate):      # not a whole frame yet
            return
        x = st.read(cry.cursor, upto)
        n = len(x) - len(x) % frame_length(st.rate)
        if n > 0:
            before = st.read(cry.cursor - history(st.rate), cry.cursor)
            cry.frames.add(x[:n], cry.cursor / st.rate, before)
            cry.cursor += n
