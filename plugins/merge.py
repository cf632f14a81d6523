"""Fan-in of ``scores`` streams: ``merge.mean`` (an ensemble) and ``merge.need``.

merge.mean: average the class posteriors of several models that score the same frames
(e.g. four detectors on the same patches), frame by frame, optionally weighted. A frame
goes out once every model in ``models`` (their meta ``model``) has scored that stream
time; meta ``model`` of the output is ``name``. A ``gap`` on any member's frame is kept.

merge.need: put a need classifier's guess on a detector's scores, per episode.

Fan-in of two ``scores`` streams: the detector's (e.g. cry vs other) and the need
model's (frames whose meta ``model`` is ``need_model``; the need branch sees only the
episodes' audio, e.g. through ``gate.scores``). The detector's frames pass through with
meta ``label`` (the best need) and ``label_scores`` (the need posteriors averaged over
the episode's need frames). An episode starts when the detector's ``label`` score
reaches ``threshold`` after more than ``reset`` seconds below it, and restarts the
average, so ``smooth.hysteresis`` puts the guess for the episode that just ended on its
``cry_end`` event. A need frame counts once a detector frame at least as late has
arrived (so that it is known which episode it belongs to): the two branches may arrive
in either order (threads, processes, tcp). At the end of the stream the need frames still
waiting are counted too and, if they change the guess, the last detector frame is sent
once more with meta ``repeat: true`` and the new guess (``smooth.hysteresis`` takes only
the guess from it), so an episode that the end of the file closes gets its full guess
whatever the arrival order. Need frames are not passed on.

``combine: last`` takes the episode's latest need frame instead of the average (for
``classify.utterance``, whose each guess covers the episode so far). The guess names a
``label`` only when its top probability reaches the need frames' meta
``min_confidence`` (``classify.utterance`` sets it; 0 when absent); otherwise ``label``
is ``null`` and ``label_scores`` still say what is known.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


class MergeNeedParams(Params):
    need_model: str = Field("cry-need", description="meta 'model' of the need scores.")
    label: str = Field("cry", description="Detector class whose score gates the average.")
    threshold: float = Field(0.5, ge=0, le=1, description="Detector score that counts as "
                                                          "crying.")
    reset: float = Field(3.0, ge=0, le=600, description="Seconds off after which the next "
                                                        "cry starts a new average.")
    combine: Literal["mean", "last"] = Field("mean", description="Episode guess: mean of "
                                             "its need frames, or the last one.")


@dataclass
class _Need:
    total: np.ndarray | None = None
    count: int = 0
    labels: list[str] = field(default_factory=list)
    pending: list[tuple[float, np.ndarray]] = field(default_factory=list)
    episode: float = -np.inf              # t of the frame that started the episode
    last_on: float = -np.inf
    last: Frame | None = None             # the last detector frame sent
    min_confidence: float = 0.0           # from the need frames' meta


class MergeNeed(Node):
    """Attach a need model's averaged guess (label, label_scores) to detector scores."""

    Params = MergeNeedParams
    inputs = ("scores",)
    outputs = ("scores",)
    params: MergeNeedParams

    def start(self) -> None:
        self._streams: StreamStates[_Need] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        st = self._streams.setdefault(frame.stream, _Need())
        upto = float(frame.meta.get("upto", frame.t))
        if frame.meta.get("model") == self.params.need_model:
            st.labels = list(frame.meta.get("labels", st.labels))
            st.min_confidence = float(frame.meta.get("min_confidence", 0.0))
            st.pending.append((upto, np.asarray(frame.data, np.float64)))
            return []
        labels = list(frame.meta.get("labels") or [])
        col = labels.index(self.params.label) if self.params.label in labels else 0
        if float(frame.data[col]) >= self.params.threshold:
            if frame.t - st.last_on > self.params.reset:
                st.total, st.count, st.episode = None, 0, frame.t
            st.last_on = upto
        self._count(st, upto)
        st.last = self._with_guess(frame, st)
        return [st.last]

    def flush(self) -> list[Frame]:
        out = []
        for st in self._streams.values():
            if st.last is not None and self._count(st, np.inf):
                out.append(self._with_guess(st.last, st, repeat=True))
        return out

    def _count(self, st: _Need, upto: float) -> int:
        """Add the waiting need frames up to ``upto`` that fall in the current episode to
        its average (earlier ones belong to an episode already closed); how many."""
        ready = [p for u, p in st.pending if u <= upto and u > st.episode]
        st.pending = [(u, p) for u, p in st.pending if u > upto]
        for p in ready:
            last = self.params.combine == "last"
            st.total = p.copy() if st.total is None or last else st.total + p
            st.count = 1 if last else st.count + 1
        return len(ready)

    @staticmethod
    def _with_guess(frame: Frame, st: _Need, repeat: bool = False) -> Frame:
        if not (st.count and st.labels):
            return frame
        mean = st.total / st.count
        top = int(mean.argmax())
        label = st.labels[top] if mean[top] >= st.min_confidence and \
            st.min_confidence < 1 else None
        meta = {**frame.meta, "label": label,
                "label_scores": {k: round(float(v), 3) for k, v in zip(st.labels, mean)}}
        if repeat:
            meta["repeat"] = True
        return Frame(frame.kind, frame.data, t=frame.t, seq=frame.seq, stream=frame.stream,
                     meta=meta)


class MergeMeanParams(Params):
    models: list[str] = Field(min_length=2, description="meta 'model' of each member's "
                                                        "scores (all are waited for).")
    name: str = Field("ensemble", min_length=1, description="meta 'model' of the averaged "
                                                            "scores.")
    weights: list[float] | None = Field(None, description="One weight >= 0 per model (a "
                                        "weighted mean); None: equal weights.")
    pending: int = Field(1000, ge=1, le=100000, description="Frames per stream held while "
                                                          "members catch up (older are "
                                                          "an error).")


class MergeMean(Node):
    """Average the posteriors of several models that scored the same frames (ensemble)."""

    Params = MergeMeanParams
    inputs = ("scores",)
    outputs = ("scores",)
    params: MergeMeanParams

    def start(self) -> None:
        self._models = list(self.params.models)
        if len(set(self._models)) != len(self._models):
            raise ValueError(f"{self.name}: models listed twice in {self._models}")
        w = self.params.weights or [1.0] * len(self._models)
        if len(w) != len(self._models) or min(w) < 0 or sum(w) <= 0:
            raise ValueError(f"{self.name}: weights {w} must be one per model, >= 0, with a "
                             "positive sum")
        self._weights = np.asarray(w, np.float64) / sum(w)
        # per stream: frame time (ms) -> {model: frame}, in arrival order
        self._held: StreamStates[dict[int, dict[str, Frame]]] = self.stream_states()
        self._seq: StreamStates[int] = self.stream_states()

    def process(self, frame: Frame) -> list[Frame]:
        model = frame.meta.get("model")
        if model not in self._models:
            raise ValueError(f"{self.name}: scores of model {model!r}, expected one of "
                             f"{self._models}")
        held = self._held.setdefault(frame.stream, {})
        parts = held.setdefault(round(frame.t * 1000), {})
        if model in parts:
            raise ValueError(f"{self.name}: two frames of {model} at t={frame.t}")
        parts[model] = frame
        if len(held) > self.params.pending:
            raise ValueError(f"{self.name}: more than {self.params.pending} frames waiting "
                             f"on a member; do the models {self._models} score the same "
                             "frames?")
        out = []
        while held:                             # emit complete frames in time order
            key = next(iter(held))
            if len(held[key]) < len(self._models):
                break
            out.append(self._mean(frame.stream, held.pop(key)))
        return out

    def _mean(self, stream: str, parts: dict[str, Frame]) -> Frame:
        frames = [parts[m] for m in self._models]
        first = frames[0]
        if any(f.meta.get("labels") != first.meta.get("labels") for f in frames):
            raise ValueError(f"{self.name}: members' labels differ")
        data = self._weights @ np.stack([np.asarray(f.data, np.float64) for f in frames])
        meta = {**first.meta, "model": self.params.name}
        if any(f.meta.get("gap") for f in frames):
            meta["gap"] = True
        seq = self._seq.get(stream, 0)
        self._seq[stream] = seq + 1
        return Frame(first.kind, data.astype(np.float32), t=first.t, seq=seq, stream=stream,
                     meta=meta)
