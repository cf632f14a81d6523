"""sink.wav: record detected episodes (say, each cry) with pre-roll, one file per episode."""
from __future__ import annotations

import json
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile as sf
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


class WavParams(Params):
    dir: str = Field(description="Directory for the episode files (created when missing).")
    start: str = Field("cry_start", min_length=1, description="Event that starts an episode.")
    end: str = Field("cry_end", min_length=1, description="Event that ends it.")
    preroll: float = Field(2.0, ge=0, le=60, description="Seconds recorded before the start "
                           "event's t.")
    postroll: float = Field(1.0, ge=0, le=60, description="Seconds recorded after the end "
                            "event's t.")
    max_duration: float = Field(120.0, gt=0, le=3600, description="Longest episode in "
                                "seconds; it is cut there.")
    max_delay: float = Field(5.0, ge=0, le=60, description="Longest lag of events behind the "
                             "audio they describe (detection latency plus queues); audio is "
                             "kept this long beyond the pre-roll.")
    format: Literal["wav", "flac"] = Field("wav", description="File format (16-bit PCM).")


@dataclass
class _Episode:
    start: float  # stream time of the first sample recorded
    end: float  # stream time just after the last one (max_duration until the end event)
    events: list[dict[str, Any]]
    parts: list[np.ndarray] = field(default_factory=list)
    covered: int | None = None  # sample index recorded up to
    ended: bool = False  # the end event arrived

    def add(self, frame: Frame, rate: int) -> None:
        """Record the samples of ``frame`` inside [start, end), zero-filling lost audio."""
        f0 = round(frame.t * rate)
        a = max(f0, round(self.start * rate), self.covered or 0)
        b = min(f0 + len(frame.data), round(self.end * rate))
        if b <= a:
            return
        if self.covered is not None and a > self.covered:
            self.parts.append(np.zeros(a - self.covered, np.float32))
        self.parts.append(np.asarray(frame.data[a - f0:b - f0], dtype=np.float32))
        self.covered = b

    def close(self, end: float, event: dict[str, Any], rate: int) -> None:
        """The end event: cut the episode at ``end``, dropping audio already past it."""
        self.end, self.ended = min(self.end, end), True
        self.events.append(event)
        stop = round(self.end * rate)
        if self.covered is not None and self.covered > stop:
            audio = np.concatenate(self.parts)
            self.parts = [audio[:max(0, len(audio) - (self.covered - stop))]]
            self.covered = stop


@dataclass
class _Stream:
    rate: int = 0
    pos: float = 0.0  # stream time just after the last audio sample received
    ring: deque[Frame] = field(default_factory=deque)
    episodes: list[_Episode] = field(default_factory=list)


class WavSink(Node):
    """Record episodes between a start and an end event (with pre-roll) to wav/flac files.

    Input both the audio and the events (``input: [audio, events]``). Fan-in delivers
    them in arrival order, so episode bounds come from stream times, not arrival: the
    file spans [start event ``t`` - preroll, end event ``t`` + postroll), and is written
    once audio up to its end has arrived (or at end of stream). Each file,
    ``STREAM_T.wav`` with ``T`` the start event's ``t``, gets a ``.json`` sidecar with
    its stream times and the start and end events.
    """

    Params = WavParams
    inputs = ("audio", "event")
    params: WavParams

    def start(self) -> None:
        self._streams: StreamStates[_Stream] = self.stream_states()
        self.written: list[Path] = []

    def process(self, frame: Frame) -> tuple[()]:
        st = self._streams.setdefault(frame.stream, _Stream())
        if frame.kind == "audio":
            self._audio(st, frame)
        elif frame.kind == "event":
            self._event(st, frame)
        self._finish(frame.stream, st, done=[e for e in st.episodes if st.pos >= e.end])
        return ()

    def _audio(self, st: _Stream, frame: Frame) -> None:
        st.rate = int(frame.meta["sample_rate"])
        st.pos = frame.t + len(frame.data) / st.rate
        st.ring.append(frame)
        keep = self.params.preroll + self.params.max_delay
        while st.ring[0].t + len(st.ring[0].data) / st.rate < st.pos - keep:
            st.ring.popleft()
        for ep in st.episodes:
            ep.add(frame, st.rate)

    def _event(self, st: _Stream, frame: Frame) -> None:
        event, p = frame.meta, self.params
        t = float(event.get("t", frame.t))
        is_open = [e for e in st.episodes if not e.ended]
        if event.get("event") == p.start and not is_open:
            start = max(0.0, t - p.preroll)
            ep = _Episode(start=start, end=start + p.max_duration, events=[event])
            for past in st.ring:
                ep.add(past, st.rate)
            st.episodes.append(ep)
        elif event.get("event") == p.end and is_open:
            is_open[0].close(t + p.postroll, event, st.rate)

    def _finish(self, stream: str, st: _Stream, done: list[_Episode]) -> None:
        for ep in done:
            st.episodes.remove(ep)
            if any(len(part) for part in ep.parts):
                self._write(stream, st.rate, ep)

    def _write(self, stream: str, rate: int, ep: _Episode) -> None:
        directory = Path(self.params.dir)
        directory.mkdir(parents=True, exist_ok=True)
        onset = float(ep.events[0].get("t", ep.start))
        base = directory / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', stream)}_{onset:.3f}s"
        path = base.with_name(f"{base.name}.{self.params.format}")
        tmp = path.with_name(path.name + ".part")
        audio = np.concatenate(ep.parts)
        sf.write(tmp, audio, rate, format=self.params.format.upper(), subtype="PCM_16")
        os.replace(tmp, path)
        assert ep.covered is not None
        base.with_name(f"{base.name}.json").write_text(json.dumps({
            "file": path.name, "stream": stream, "sample_rate": rate,
            "start": (ep.covered - len(audio)) / rate, "end": ep.covered / rate,
            "events": ep.events}, indent=1) + "\n")
        self.written.append(path)

    def flush(self) -> tuple[()]:
        for stream, st in self._streams.items():
            self._finish(stream, st, done=list(st.episodes))
        return ()

    def stop(self) -> None:
        if getattr(self, "_streams", None):
            self.flush()  # after an abort: keep what was recorded
