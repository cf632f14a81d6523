"""Shared machinery of the VAD nodes: per-stream buffering to the VAD frame, a rumble
high-pass, hangover, and the two output modes.

A detector subclass says how long its frames are and decides each frame
(:meth:`VadNode.detect`); everything else lives here:

- Audio is buffered per stream and cut into whole VAD frames, so the decisions do not
  depend on the size of the blocks that arrive. Audio leaves the node in whole VAD frames
  too (at most one VAD frame of latency); the samples left over at the end of the stream
  leave at flush with the last decision.
- The detector sees the audio through a linear-phase FIR high-pass (``highpass`` Hz; it
  removes rumble from motors, wind and handling, which otherwise reads as activity). Its
  decisions lag the passed audio by the filter's group delay (8 ms at 200 Hz, 16 kHz).
  The audio that is passed on is never filtered.
- ``hangover``: after the last active VAD frame, frames stay active for this long.
- ``mode: gate`` passes only active audio: one audio frame per run of active VAD frames,
  with ``t`` its true stream time; the first frame after dropped audio carries meta
  ``gap: true`` so that downstream nodes reset that stream's state.
  ``mode: annotate`` passes all audio, adding meta ``vad`` (fraction of active VAD
  frames in the frame) and ``active`` (true if any of them is active).
  Both add meta ``upto``: the stream time just after the last VAD frame decided.
- An input frame with meta ``gap: true`` (or a new sample rate) starts a new segment for
  that stream: the detector state resets and the next output frame carries the gap on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


class VadParams(Params):
    mode: Literal["gate", "annotate"] = Field(
        "gate", description="gate: pass only active audio (meta gap on the frame after "
                            "dropped audio); annotate: pass all audio with meta vad/active.")
    hangover: float = Field(0.2, ge=0, le=10, description="Seconds that stay active after "
                                                          "the last active VAD frame.")
    highpass: float = Field(200.0, ge=0, le=2000, description="Cut-off in Hz of the FIR "
                            "high-pass the detector listens through (0: off); the passed "
                            "audio is not filtered.")


class HighPass:
    """Streaming linear-phase FIR high-pass (Hamming-windowed sinc, transition ~ cutoff).

    ``push`` returns exactly as many samples as it gets, delayed by ``(taps - 1) / 2``.
    """

    def __init__(self, cutoff: float, rate: int) -> None:
        taps = int(3.3 * rate / cutoff) | 1
        n = np.arange(taps) - (taps - 1) / 2
        lowpass = 2 * cutoff / rate * np.sinc(2 * cutoff / rate * n) * np.hamming(taps)
        lowpass /= lowpass.sum()
        self.h = (-lowpass).astype(np.float32)
        self.h[(taps - 1) // 2] += 1.0
        self._hist = np.zeros(taps - 1, np.float32)

    def push(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate((self._hist, x))
        self._hist = buf[len(buf) - len(self._hist):]
        return np.convolve(buf, self.h, "valid").astype(np.float32)


@dataclass
class VadStream:
    """What a VAD node keeps per stream; replaced on a gap."""

    rate: int
    size: int                    # samples per VAD frame
    origin: float                # stream time of sample 0 of this segment
    detector: Any                # the subclass's per-stream state
    highpass: HighPass | None
    hang_frames: int
    pending: np.ndarray          # samples that do not fill a VAD frame yet
    decided: int = 0             # samples decided (whole VAD frames) since origin
    hang: int = 0                # VAD frames of hangover left
    active: bool = False         # decision of the last VAD frame
    gap: bool = False            # the next output frame follows dropped or missing audio
    seq: int = 0


class VadNode(Node):
    """Base class of the VAD plugins (see the module docstring)."""

    inputs = ("audio",)
    outputs = ("audio",)
    params: VadParams
    #: The detector applies ``highpass`` itself (in the frequency domain) instead of
    #: hearing the audio through the shared time-domain FIR.
    own_highpass: ClassVar[bool] = False

    def frame_size(self, rate: int) -> int:
        """Samples per VAD frame at ``rate``; raise ValueError for a rate it cannot take."""
        raise NotImplementedError

    def new_detector(self, rate: int) -> Any:
        """Fresh per-stream detector state."""
        raise NotImplementedError

    def detect(self, frames: np.ndarray, detector: Any) -> np.ndarray:
        """(n, size) float32 high-passed frames -> (n,) bool raw decisions."""
        raise NotImplementedError

    def start(self) -> None:
        self._streams: StreamStates[VadStream] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        st = self._state(frame)
        buf = np.concatenate((st.pending, frame.data)) if len(st.pending) else \
            np.asarray(frame.data, np.float32)
        n = len(buf) // st.size
        st.pending = buf[n * st.size:]
        if not n:
            return []
        audio = buf[:n * st.size]
        heard = st.highpass.push(audio) if st.highpass else audio
        active = self._hangover(st, self.detect(heard.reshape(n, st.size), st.detector))
        first = st.decided
        st.decided += n * st.size
        if self.params.mode == "annotate":
            return [self._emit(st, frame.stream, frame.meta, audio, first,
                               vad=float(active.mean()), active=bool(active.any()))]
        return self._gate(st, frame, audio, active, first)

    def flush(self) -> list[Frame]:
        out = []
        for stream, st in self._streams.items():
            if not len(st.pending) or (self.params.mode == "gate" and not st.active):
                continue
            first = st.decided
            st.decided += len(st.pending)
            extra = {"vad": float(st.active), "active": st.active} \
                if self.params.mode == "annotate" else {}
            out.append(self._emit(st, stream, {}, st.pending, first, **extra))
        return out

    def _state(self, frame: Frame) -> VadStream:
        rate = int(frame.meta.get("sample_rate") or 0)
        st = self._streams.get(frame.stream)
        if st is None or frame.meta.get("gap") or st.rate != rate:
            try:
                size = self.frame_size(rate)
            except ValueError as exc:
                raise ValueError(f"{self.name}: {exc}") from None
            cutoff = self.params.highpass
            st = VadStream(rate=rate, size=size, origin=frame.t,
                           detector=self.new_detector(rate),
                           highpass=HighPass(cutoff, rate)
                           if cutoff and not self.own_highpass else None,
                           hang_frames=round(self.params.hangover * rate / size),
                           pending=np.zeros(0, np.float32),
                           gap=st is not None or bool(frame.meta.get("gap")),
                           seq=st.seq if st is not None else 0)
            self._streams[frame.stream] = st
        return st

    @staticmethod
    def _hangover(st: VadStream, raw: np.ndarray) -> np.ndarray:
        active = np.empty(len(raw), bool)
        for i, r in enumerate(raw):
            active[i] = bool(r) or st.hang > 0
            st.hang = st.hang_frames if r else max(st.hang - 1, 0)
        st.active = bool(active[-1])
        return active

    def _gate(self, st: VadStream, frame: Frame, audio: np.ndarray, active: np.ndarray,
              first: int) -> list[Frame]:
        out = []
        edges = np.flatnonzero(np.diff(np.concatenate(([0], active.astype(np.int8), [0]))))
        for a, b in zip(edges[::2], edges[1::2]):
            st.gap = st.gap or a > 0
            lo, hi = int(a) * st.size, int(b) * st.size
            out.append(self._emit(st, frame.stream, frame.meta, audio[lo:hi], first + lo))
        st.gap = st.gap or not active[-1]
        return out

    def _emit(self, st: VadStream, stream: str, meta_in: dict[str, Any], audio: np.ndarray,
              first: int, **extra: Any) -> Frame:
        meta = {k: v for k, v in meta_in.items() if k != "gap"}
        meta.update(sample_rate=st.rate, upto=st.origin + st.decided / st.rate, **extra)
        if st.gap:
            meta["gap"] = True
            st.gap = False
        out = Frame("audio", np.ascontiguousarray(audio), t=st.origin + first / st.rate,
                    seq=st.seq, stream=stream, meta=meta)
        st.seq += 1
        return out
