"""verify.home: a home's verifier (``streamser adapt``) between a detector head and the
rest of the graph.

Input: the head's ``scores`` and what the model reads: the backbone's ``features`` rows
for a verifier (``input: [backbone, head]``), the ``patch`` frames the backbone reads for
a timbre gate (``input: [patch, head]``). Each scores frame is paired with the row or
patch of the same stream and time (the head scored it), in whichever order the two
arrive; it goes out, in order, with its cry score verified
(:meth:`streamser.adapt.verifier.Verifier.apply`,
:meth:`streamser.adapt.timbre.TimbreGate.apply`) and its meta unchanged. Rows are dropped
once their scores have gone out.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


class VerifyParams(Params):
    model: str = Field(description="Verifier or timbre gate file written by `streamser "
                                   "adapt` (relative to the graph file's folder).",
                       json_schema_extra={"file": "input"})
    pending: int = Field(1000, ge=1, le=100000, description="Frames per stream held while "
                         "waiting for the other input (more is an error).")


@dataclass
class _Held:
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    scores: deque[Frame] = field(default_factory=deque)
    #: a timbre gate's homeness of the stream's latest rows (its running mean)
    homeness: deque[float] = field(default_factory=deque)


def _key(t: float) -> int:
    return round(t * 1000)


class VerifyHome(Node):
    """Per-home gate: lower a head's cry score where the row or patch sounds like the home."""

    Params = VerifyParams
    params: VerifyParams
    inputs = ("features", "patch", "scores")
    outputs = ("scores",)

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        return None

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        assert isinstance(params, VerifyParams)
        return [] if Path(params.model).is_file() else [f"no such verifier file: "
                                                        f"{params.model}"]

    @classmethod
    def output_kinds(cls, params: Params, input_kinds: frozenset[str]) -> frozenset[str]:
        return frozenset({"scores"})

    def start(self) -> None:
        from streamser.adapt.store import file_format
        from streamser.adapt.timbre import FORMAT, TimbreGate
        from streamser.adapt.verifier import Verifier
        if file_format(self.params.model) == FORMAT:
            self.verifier: Verifier | TimbreGate = TimbreGate.load(self.params.model)
            self._reads = "patch"
            self._context = self.verifier.context
        else:
            self.verifier = Verifier.load(self.params.model)
            self._reads = "features"
            self._context = 1
        self._held: StreamStates[_Held] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        held = self._held.setdefault(frame.stream,
                                     _Held(homeness=deque(maxlen=self._context)))
        if frame.kind in ("features", "patch"):
            if frame.kind != self._reads:
                raise ValueError(f"{self.name}: {self.params.model} reads {self._reads} "
                                 f"frames, not {frame.kind}; give it the node making them")
            if frame.kind == "patch":
                from streamser.dsp.timbre import timbre
                held.rows[_key(frame.t)] = timbre(frame.data)[0]
            else:
                hop = float(frame.meta.get("hop", 0.0))
                for i, row in enumerate(np.asarray(frame.data, np.float32)):
                    held.rows[_key(frame.t + i * hop)] = row
        else:
            held.scores.append(frame)
        if len(held.rows) > self.params.pending or len(held.scores) > self.params.pending:
            raise ValueError(f"{self.name}: more than {self.params.pending} frames waiting; "
                             "does it read the head and the backbone that feeds it?")
        out = []
        while held.scores and _key(held.scores[0].t) in held.rows:
            scores = held.scores.popleft()
            row = held.rows.pop(_key(scores.t))
            for k in [k for k in held.rows if k < _key(scores.t)]:
                del held.rows[k]
            data = self._apply(held, row, np.asarray(scores.data))
            out.append(Frame("scores", data, t=scores.t, seq=scores.seq,
                             stream=scores.stream, meta=scores.meta))
        return out

    def _apply(self, held: _Held, row: np.ndarray, probs: np.ndarray) -> np.ndarray:
        from streamser.adapt.timbre import TimbreGate
        if isinstance(self.verifier, TimbreGate):
            earlier = np.array(held.homeness)
            held.homeness.append(float(self.verifier.homeness(row[None])[0]))
            return self.verifier.apply(row[None], probs[None], earlier)[0]
        return self.verifier.apply(row[None], probs[None])[0]
