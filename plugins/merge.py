"""merge.need: put a need classifier's guess on a detector's scores, per episode.

Fan-in of two ``scores`` streams: the detector's (e.g. cry vs other) and the need
model's (frames whose meta ``model`` is ``need_model``). The detector's frames pass
through with meta ``label`` (the best need) and ``label_scores`` (the need posteriors
averaged over the need frames that arrived while the detector's ``label`` score was at
or above ``threshold``). The average restarts when the detector turns on again after ``reset``
seconds off, so ``smooth.hysteresis`` puts the guess for the episode that just ended on
its ``cry_end`` event. Need frames are not passed on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params


class MergeNeedParams(Params):
    need_model: str = Field("cry-need", description="meta 'model' of the need scores.")
    label: str = Field("cry", description="Detector class whose score gates the average.")
    threshold: float = Field(0.5, ge=0, le=1, description="Detector score that counts as "
                                                          "crying.")
    reset: float = Field(3.0, ge=0, le=600, description="Seconds off after which the next "
                                                        "cry starts a new average.")


@dataclass
class _Need:
    total: np.ndarray | None = None
    count: int = 0
    labels: list[str] = field(default_factory=list)
    pending: list[tuple[float, np.ndarray]] = field(default_factory=list)
    last_on: float = -np.inf


class MergeNeed(Node):
    """Attach a need model's averaged guess (label, label_scores) to detector scores."""

    Params = MergeNeedParams
    inputs = ("scores",)
    outputs = ("scores",)
    params: MergeNeedParams

    def start(self) -> None:
        self._streams: dict[str, _Need] = {}

    def process(self, frame: Frame) -> list[Frame]:
        st = self._streams.setdefault(frame.stream, _Need())
        upto = float(frame.meta.get("upto", frame.t))
        if frame.meta.get("model") == self.params.need_model:
            st.labels = list(frame.meta.get("labels", st.labels))
            st.pending.append((upto, np.asarray(frame.data, np.float64)))
            return []
        labels = list(frame.meta.get("labels") or [])
        col = labels.index(self.params.label) if self.params.label in labels else 0
        crying = float(frame.data[col]) >= self.params.threshold
        ready = [p for u, p in st.pending if u <= upto]
        st.pending = [(u, p) for u, p in st.pending if u > upto]
        if crying:
            if frame.t - st.last_on > self.params.reset:
                st.total, st.count = None, 0
            st.last_on = upto
            for p in ready:
                st.total = p.copy() if st.total is None else st.total + p
                st.count += 1
        if st.count and st.labels:
            mean = st.total / st.count
            meta = {**frame.meta, "label": st.labels[int(mean.argmax())],
                    "label_scores": {k: round(float(v), 3) for k, v in zip(st.labels, mean)}}
            return [Frame(frame.kind, frame.data, t=frame.t, seq=frame.seq,
                          stream=frame.stream, meta=meta)]
        return [frame]
