"""gate.scores: pass audio only while a detector's score is on (an episode's audio).

Fan-in of ``audio`` and the detector's ``scores``. Audio is held back (``buffer`` seconds)
until the scores that cover it arrive; each chunk of audio is judged by the first scores
frame whose span (``t`` to meta ``upto``) reaches the chunk's end: let through (from that
frame's ``t`` on) when its ``label`` score is at or above ``threshold``, and dropped
otherwise. Scores that come before their audio wait for it, so the audio let through does
not depend on which input arrives first (threads, processes, tcp). Released audio after
dropped audio starts with meta ``gap: true``, so the stateful nodes behind the gate
(features, ``infer``) start afresh for each episode; ``max_seconds`` passes only an
episode's first seconds. With ``reset``, a dip in the score shorter than ``reset``
seconds does not start a new episode: the audio after it follows on without a gap and
counts against the same ``max_seconds``. Used to run the need classifier over detected cries only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


class GateScoresParams(Params):
    label: str = Field("cry", description="Detector class that opens the gate.")
    threshold: float = Field(0.5, ge=0, le=1, description="Score at or above which the "
                                                          "covered audio passes.")
    buffer: float = Field(3.0, gt=0, le=60, description="Seconds of audio held back while "
                                                        "waiting for scores (older is dropped).")
    max_seconds: float | None = Field(None, gt=0, description="Pass at most this much of each "
                                      "episode (its first seconds); None: all of it.")
    reset: float | None = Field(None, ge=0, le=600, description="Seconds off after which the "
                                "next audio starts a new episode; a shorter dip continues "
                                "the episode (no gap, same max_seconds budget). None: every "
                                "dip starts one.")


@dataclass
class _Held:
    rate: int = 0
    chunks: list[Frame] = field(default_factory=list)
    released_to: float = -np.inf     # stream time up to which audio has gone out
    passed: float = 0.0              # seconds let through in the current episode
    gap: bool = True
    on_to: float = -np.inf           # end of the last chunk judged on (passed or not)
    seq: int = 0
    scores: list[tuple[float, float, bool]] = field(default_factory=list)  # t, upto, on


class GateScores(Node):
    """Pass audio only while a detector score is on (fan-in: audio + scores)."""

    Params = GateScoresParams
    inputs = ("audio", "scores")
    outputs = ("audio",)
    params: GateScoresParams

    def start(self) -> None:
        self._streams: StreamStates[_Held] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        st = self._streams.setdefault(frame.stream, _Held())
        if frame.kind == "audio":
            st.rate = int(frame.meta["sample_rate"])
            st.chunks.append(frame)
            limit = frame.t + len(frame.data) / st.rate - self.params.buffer
            while st.chunks and st.chunks[0].t + len(st.chunks[0].data) / st.rate < limit:
                st.chunks.pop(0)
                st.gap = True
            st.scores = [s for s in st.scores if s[1] >= limit]   # could judge no chunk
        else:
            labels = list(frame.meta.get("labels") or [])
            col = labels.index(self.params.label) if self.params.label in labels else 0
            st.scores.append((frame.t, float(frame.meta.get("upto", frame.t)),
                              float(frame.data[col]) >= self.params.threshold))
        return self._release(st, frame.stream)

    def _release(self, st: _Held, stream: str) -> list[Frame]:
        """Judge the held chunks, oldest first, while a scores frame reaches their end."""
        out, judged_to = [], -np.inf
        # times are compared to half a sample: a score's upto and a chunk's end are often
        # the same block end, reached by different sums, and hours into a stream float
        # rounding would otherwise decide which score judges which chunk
        eps = 0.5 / st.rate if st.rate else 0.0
        while st.chunks:
            chunk = st.chunks[0]
            end = chunk.t + len(chunk.data) / st.rate
            judge = next((s for s in st.scores if s[1] >= end - eps), None)
            if judge is None:                   # not fully scored yet
                break
            st.chunks.pop(0)
            judged_to = end
            t, _, on = judge
            if not (on and end > t + eps):
                st.gap = True
                continue
            reset = self.params.reset
            if st.gap and reset is not None and chunk.t - st.on_to <= reset:
                st.gap = False                  # a short dip: the same episode goes on
            st.on_to = end
            if st.gap:
                st.passed = 0.0
            elif self.params.max_seconds is not None and st.passed >= self.params.max_seconds:
                continue                        # the rest of a long episode: not needed
            start = max(chunk.t, st.released_to, t)
            a = round((start - chunk.t) * st.rate)
            if a < len(chunk.data):
                st.passed += (len(chunk.data) - a) / st.rate
                meta = {**chunk.meta, "upto": end}
                if st.gap:
                    meta["gap"], st.gap = True, False
                out.append(Frame("audio", chunk.data[a:], t=chunk.t + a / st.rate,
                                 seq=st.seq, stream=stream, meta=meta))
                st.seq += 1
                st.released_to = end
        if judged_to > -np.inf:                 # scores ending earlier can judge no chunk
            st.scores = [s for s in st.scores if s[1] >= judged_to]
        return out
