"""smooth.hysteresis: turn a stream of class scores into start/end events.

Per stream, for each ``scores`` frame:

1. take the score of one class (``label``; column 0 when the frame has no labels),
2. smooth it: ``ema`` (alpha = 2 / (window + 1)) or ``median`` of the last ``window``,
3. hysteresis with debouncing: an episode *starts* once the smoothed score has stayed at
   or above ``on_threshold`` (never dropping below ``off_threshold``) for ``min_on``
   seconds, and *ends* once it has stayed below ``off_threshold`` (never rising back to
   ``on_threshold``) for ``min_off`` seconds.

A frame's time is the centre of the audio it scored (``t`` to meta ``upto``); an event's
``t`` is the time of the first frame of the run that triggered it (the onset or offset
estimate), its ``emitted_at`` the ``upto`` of the frame that confirmed it, so
``emitted_at >= t``. Events are ``event`` frames whose meta is the event object::

    {"event": "cry_start", "stream": s, "t": ..., "emitted_at": ..., "score": ...}
    {"event": "cry_end", "stream": s, "t": ..., "emitted_at": ..., "start": ...}

plus the meta ``label`` and ``label_scores`` of the confirming frame when it has them
(a need classifier upstream adds those). With ``update`` set, an open episode also emits
``<event>_update`` every ``update`` seconds (``t`` the frame's time, ``start``, the running
``score``, and ``label`` / ``label_scores`` when the frames carry them): a running guess
while the cry goes on. Times are rounded to the millisecond, scores to
0.001. A frame with meta ``gap`` (audio was dropped before it) ends an open episode at the
last frame before the gap and resets the stream. A frame with meta ``repeat`` (a
``merge.need`` guess that came after the last frame) only updates ``label`` /
``label_scores``. At the end of the stream an open episode ends too (at the start of a
pending offset, or at the last ``upto``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


class HysteresisParams(Params):
    label: str | int = Field("cry", description="Class to track: a label, or a column index.")
    smoothing: Literal["ema", "median"] = Field("ema", description="Smoother of the score.")
    window: int = Field(3, ge=1, le=1000, description="Smoother length in frames (EMA span: "
                                                      "alpha = 2 / (window + 1)); 1: none.")
    on_threshold: float = Field(0.6, ge=0, le=1, description="Smoothed score at which an "
                                                             "episode may start.")
    off_threshold: float = Field(0.4, ge=0, le=1, description="Smoothed score below which "
                                                              "it may end.")
    min_on: float = Field(0.5, ge=0, le=60, description="Seconds the score must stay on "
                                                        "before a start event.")
    min_off: float = Field(1.0, ge=0, le=60, description="Seconds the score must stay off "
                                                         "before an end event.")
    event: str = Field("cry", min_length=1, description="Event name prefix: "
                                                        "<event>_start, <event>_end.")
    update: float | None = Field(None, gt=0, le=3600, description="While an episode is on, "
                                 "an <event>_update every this many seconds (the running "
                                 "score and label guess); None: none.")

    @model_validator(mode="after")
    def _order(self) -> HysteresisParams:
        if self.off_threshold > self.on_threshold:
            raise ValueError(f"off_threshold ({self.off_threshold}) must not exceed "
                             f"on_threshold ({self.on_threshold})")
        return self


@dataclass
class Episode:
    """Per-stream state; replaced on a gap."""

    history: deque[float]
    ema: float | None = None
    active: bool = False
    start: float = 0.0               # t of the open episode
    since: float | None = None       # time of the first frame of a pending change
    upto: float = 0.0                # upto of the last frame
    extra: dict[str, Any] = field(default_factory=dict)  # label/label_scores seen last
    updated: float = 0.0             # upto of the last start/update event
    seq: int = 0


class Hysteresis(Node):
    """Smooth a class score and emit <event>_start/<event>_end events with hysteresis."""

    Params = HysteresisParams
    inputs = ("scores",)
    outputs = ("event",)
    params: HysteresisParams

    def start(self) -> None:
        self._streams: StreamStates[Episode] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        p = self.params
        upto = float(frame.meta.get("upto", frame.t))
        out: list[Frame] = []
        st = self._streams.get(frame.stream)
        if frame.meta.get("repeat") and st is not None:   # merge.need's late guess only
            st.extra = {k: frame.meta[k] for k in ("label", "label_scores") if k in frame.meta}
            return out
        if st is None or frame.meta.get("gap"):
            out += self._close(frame.stream, st, upto) if st else []
            st = self._streams[frame.stream] = Episode(deque(maxlen=p.window),
                                                       seq=st.seq if st else 0)
        now = (frame.t + upto) / 2
        score = self._smooth(st, float(frame.data[self._column(frame)]))
        st.upto = upto
        st.extra = {k: frame.meta[k] for k in ("label", "label_scores") if k in frame.meta}
        if not st.active:
            if score < p.off_threshold:
                st.since = None
            elif score >= p.on_threshold:
                st.since = now if st.since is None else st.since
                if now - st.since >= p.min_on:
                    st.active, st.start, st.since = True, st.since, None
                    st.updated = upto
                    out.append(self._event(frame.stream, st, "start", st.start, upto,
                                           score=round(score, 3)))
        else:
            if p.update is not None and upto - st.updated >= p.update - 1e-9:
                st.updated = upto
                out.append(self._event(frame.stream, st, "update", now, upto,
                                       start=round(st.start, 3), score=round(score, 3),
                                       **st.extra))
            if score >= p.on_threshold:
                st.since = None
            elif score < p.off_threshold:
                st.since = now if st.since is None else st.since
                if now - st.since >= p.min_off:
                    out += self._close(frame.stream, st, upto)
        return out

    def flush(self) -> list[Frame]:
        return [e for stream, st in self._streams.items() for e in self._close(stream, st,
                                                                               st.upto)]

    def _close(self, stream: str, st: Episode, emitted_at: float) -> list[Frame]:
        """End the open episode (if any) at its pending offset, or at the last frame."""
        if not st.active:
            return []
        end = st.since if st.since is not None else st.upto
        st.active, st.since = False, None
        return [self._event(stream, st, "end", end, emitted_at, start=round(st.start, 3),
                            **st.extra)]

    def _smooth(self, st: Episode, x: float) -> float:
        if self.params.smoothing == "median":
            st.history.append(x)
            return float(np.median(st.history))
        alpha = 2 / (self.params.window + 1)
        st.ema = x if st.ema is None else st.ema + alpha * (x - st.ema)
        return st.ema

    def _column(self, frame: Frame) -> int:
        label, labels = self.params.label, frame.meta.get("labels")
        if isinstance(label, int):
            return label
        if not labels:
            return 0
        if label not in labels:
            raise ValueError(f"{self.name}: label '{label}' not in the scores' labels {labels}")
        return list(labels).index(label)

    def _event(self, stream: str, st: Episode, what: str, t: float, emitted_at: float,
               **fields: Any) -> Frame:
        event = {"event": f"{self.params.event}_{what}", "stream": stream, "t": round(t, 3),
                 "emitted_at": round(emitted_at, 3), **fields}
        out = Frame("event", np.zeros(0, np.float32), t=t, seq=st.seq, stream=stream,
                    meta=event)
        st.seq += 1
        return out
